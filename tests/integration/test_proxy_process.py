"""The real proxy process (`trackreplay proxy`, mitmdump with the addon), a local API server and a real
HTTP client through it: record, stop the API server, replay serves identical bodies; volatile parameters are
ignored; misses are reported with the closest candidate; tracking requests are answered locally and their
events kept, tagged with the current step."""

import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

CLI = [sys.executable, "-m", "trackreplay.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """A small JSON API; counts what reached it."""

    def __init__(self):
        self.hits = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.hits.append(self.path)
                if self.path.startswith("/api/feed"):
                    body = json.dumps({"items": [{"id": "P1", "name": "Green tea"}], "path": self.path}).encode()
                    self._answer(200, body, "application/json")
                elif self.path == "/img":
                    self._answer(200, bytes(range(256)), "image/png")
                else:
                    self._answer(404, b"{}", "application/json")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                api.hits.append(self.path)
                body = gzip.compress(json.dumps({"ok": True, "echo": json.loads(data)}).encode())
                self._answer(200, body, "application/json", {"Content-Encoding": "gzip"})

            def _answer(self, status, body, content_type, extra=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    def __init__(self, tmp_path, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([*CLI, "proxy", "--port", str(self.port), "--confdir", str(tmp_path / "mitm"),
                                         *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise AssertionError(self.process.stdout.read().decode())
                time.sleep(0.1)
        raise AssertionError("proxy did not start")

    def session(self):
        session = requests.Session()
        session.trust_env = False
        session.proxies = {"http": self.url, "https": self.url}
        return session

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=30)[0].decode()
        return output


@pytest.fixture
def recorded(tmp_path):
    api = Api()
    har, events = tmp_path / "record.har", tmp_path / "events.jsonl"
    proxy = Proxy(tmp_path, "--mode", "record", "--out", har, "--events", events)
    client = proxy.session()
    answers = {
        "feed": client.get(f"{api.url}/api/feed?tab=2&ts=111").content,
        "img": client.get(f"{api.url}/img").content,
        "cart": client.post(f"{api.url}/api/cart", json={"sku": "P1", "nonce": 5}).content,
    }
    client.get("http://trackreplay.control/step/3")
    tracked = client.post("http://api.segment.io/v1/t", json={"type": "track", "event": "add_to_cart",
                                                              "properties": {"sku": "P1"}, "userId": "u1"})
    assert tracked.status_code == 200 and tracked.json() == {"success": True}
    proxy.stop()
    api.stop()
    return har, events, answers, api


def test_record_then_replay_serves_identical_bodies_without_the_api(recorded, tmp_path):
    har, events, answers, api = recorded
    entries = json.loads(har.read_text())["log"]["entries"]
    assert [e["request"]["url"].split("/", 3)[-1] for e in entries] == ["api/feed?tab=2&ts=111", "img", "api/cart"]
    assert not any("segment" in e["request"]["url"] for e in entries), "tracking requests are not API exchanges"
    [event] = [json.loads(line) for line in events.read_text().splitlines()]
    assert event["event"] == "add_to_cart" and event["step"] == 3 and event["properties"] == {"sku": "P1"}
    assert "/v1/t" not in api.hits  # never forwarded

    stats = tmp_path / "stats.json"
    proxy = Proxy(tmp_path, "--mode", "replay", "--har", har, "--stats", stats, "--unmatched", "502",
                  "--ignore", json.dumps({"query": ["ts"], "json": ["nonce"]}))
    client = proxy.session()
    feed = client.get(f"{api.url}/api/feed?ts=999&tab=2")  # volatile ts ignored, order does not matter
    assert feed.status_code == 200 and feed.content == answers["feed"]
    assert client.get(f"{api.url}/img").content == answers["img"]
    cart = client.post(f"{api.url}/api/cart", json={"nonce": 77, "sku": "P1"})
    assert cart.content == answers["cart"] and cart.headers["Content-Encoding"] == "gzip"
    miss = client.get(f"{api.url}/api/feed?tab=3")
    assert miss.status_code == 502
    assert "query parameter tab differs: recorded '2', got '3'" in miss.json()["reasons"]
    live = client.get("http://trackreplay.control/stats").json()
    assert live["served"] == 3 and len(live["misses"]) == 1
    proxy.stop()
    saved = json.loads(stats.read_text())
    assert saved["served"] == 3 and saved["misses"][0]["closest"]["url"].endswith("/api/feed?tab=2&ts=111")


def test_a_crashed_recording_keeps_every_completed_exchange(tmp_path):
    api = Api()
    har = tmp_path / "crash.har"
    proxy = Proxy(tmp_path, "--mode", "record", "--out", har)
    client = proxy.session()
    client.get(f"{api.url}/api/feed?tab=1")
    client.get(f"{api.url}/img")
    proxy.process.kill()  # no clean shutdown: the HAR itself is never written
    proxy.process.wait(timeout=10)
    # The mitmdump process the runner started dies with it.
    from tests.process_audit import long_running_pids, command_of

    deadline = time.monotonic() + 10
    while any(str(har) in command_of(pid) for pid in long_running_pids()):
        assert time.monotonic() < deadline, "mitmdump outlived its killed runner"
        time.sleep(0.1)
    api.stop()
    partial = (tmp_path / "crash.har.partial.jsonl").read_text().splitlines()
    assert [json.loads(line)["request"]["url"].rsplit("/", 1)[-1] for line in partial] == ["feed?tab=1", "img"]


def self_signed(folder):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "api.pem", folder / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_record_and_replay_with_upstream_verification(tmp_path):
    import ssl

    api = Api()
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    api.server.socket = context.wrap_socket(api.server.socket, server_side=True)
    url = api.url.replace("http://", "https://")
    har = tmp_path / "tls.har"

    # Upstream certificates are verified by default: an untrusted API certificate is refused...
    strict = Proxy(tmp_path, "--mode", "record", "--out", tmp_path / "refused.har")
    mitm_ca = tmp_path / "mitm" / "mitmproxy-ca-cert.pem"
    refused = strict.session().get(f"{url}/api/feed?tab=1", verify=str(mitm_ca))
    assert refused.status_code == 502 and "Certificate verify failed" in refused.text
    strict.stop()
    # ...and trusted when its CA is given.
    proxy = Proxy(tmp_path, "--mode", "record", "--out", har, "--upstream-ca", cert)
    recorded = proxy.session().get(f"{url}/api/feed?tab=1", verify=str(mitm_ca))
    assert recorded.status_code == 200
    proxy.stop()
    api.stop()

    # Replay over TLS with the API gone: the tunnel opens without an upstream connection.
    replay = Proxy(tmp_path, "--mode", "replay", "--har", har)
    again = replay.session().get(f"{url}/api/feed?tab=1", verify=str(mitm_ca))
    assert again.status_code == 200 and again.content == recorded.content
    replay.stop()
