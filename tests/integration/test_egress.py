"""The egress guard against real sockets: a local http.server stands for the platform's own network. Every
class of internal address is refused after resolution, the connection goes to the address that was checked
(DNS rebinding), redirects are not followed, answers are bounded, slow servers time out."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trackreplay import egress
from trackreplay.egress import EgressError, EgressPolicy, Reason, refusal


class Internal:
    """A service only the platform's own network should reach; it remembers every request."""

    def __init__(self):
        self.hits: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up first (timeouts)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.hits.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                    "body": body})
                path = self.path.split("?")[0]
                if path == "/internal":
                    self._send(200, json.dumps({"secret": "internal", "items": [{"id": 1}]}).encode(),
                               [("Content-Type", "application/json")])
                elif path == "/echo":
                    self._send(200, json.dumps({"headers": dict(self.headers.items()),
                                                "method": self.command}).encode(), [("Content-Type", "application/json")])
                elif path == "/redirect":
                    self._send(302, b"", [("Location", "/internal")])
                elif path == "/big":  # announced
                    self._send(200, b"x" * 200_000, [("Content-Type", "application/json")])
                elif path == "/big-unannounced":  # no length: read until the server closes
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        for _ in range(400):
                            self.wfile.write(b"[" * 4096)
                    except OSError:
                        pass  # the client stopped reading, as it should
                    self.close_connection = True
                elif path == "/gzip-bomb":
                    bomb = gzip.compress(b" " * 5_000_000)
                    self._send(200, bomb, [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
                elif path == "/slow":
                    time.sleep(3)
                    self._send(200, b"{}")
                elif path == "/trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    try:
                        for _ in range(100):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                elif path == "/slow-headers":  # one header byte at a time: each wait is short, the sum is not
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for byte in b"X-Slow: " + b"y" * 60 + b"\r\n\r\n{}":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:
                        pass
                    self.close_connection = True
                else:
                    self._send(404, b"{}")

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal():
    service = Internal()
    yield service
    service.stop()


STRICT = EgressPolicy(connect_timeout=1, read_timeout=1, deadline=5, max_bytes=64 * 1024)
PRIVATE_OK = EgressPolicy(allow_private=True, connect_timeout=1, read_timeout=1, deadline=5, max_bytes=64 * 1024)


# -- which addresses are refused ---------------------------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1", "169.254.1.1",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "::1", "::", "fe80::1", "fe80::1%1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    # cloud metadata
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200",
    # IPv6 forms that reach an IPv4 address: mapped, NAT64, 6to4, IPv4-compatible
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a9fe:a9fe::1", "::127.0.0.1",
]
PUBLIC = ["8.8.8.8", "93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_every_internal_address_class_is_refused(address):
    assert refusal(address, allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert refusal(address, allow_private=False) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "0.0.0.0",
                                     "::", "224.0.0.1", "ff02::1"])
def test_metadata_multicast_and_unspecified_stay_refused_when_private_targets_are_allowed(address):
    assert refusal(address, allow_private=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fc00::1", "::ffff:127.0.0.1"])
def test_private_addresses_are_allowed_when_the_project_says_so(address):
    assert refusal(address, allow_private=True) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "0177.0.0.1",
                                  "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])
def test_loopback_in_any_spelling_is_refused_after_resolution_and_nothing_is_sent(internal, host):
    with pytest.raises(EgressError) as refused:
        egress.request("GET", internal.url("/internal", host=host), policy=STRICT)
    assert refused.value.reason == Reason.ADDRESS and "loopback" in str(refused.value)
    assert internal.hits == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:70/", "//x/",
                                 "dict://127.0.0.1:11211/"])
def test_only_http_and_https_are_allowed(url):
    with pytest.raises(EgressError) as refused:
        egress.request("GET", url, policy=PRIVATE_OK)
    assert refused.value.reason == Reason.SCHEME


def test_a_bad_url_or_unknown_host_is_refused_with_its_reason():
    with pytest.raises(EgressError) as bad:
        egress.request("GET", "http://example.com:99999/", policy=STRICT)
    assert bad.value.reason == Reason.BAD_URL
    with pytest.raises(EgressError) as unknown:
        egress.request("GET", "http://no-such-host.invalid/", policy=STRICT)
    assert unknown.value.reason == Reason.UNRESOLVABLE


def test_private_targets_are_reached_when_allowed(internal):
    answer = egress.request("GET", internal.url("/internal"), policy=PRIVATE_OK)
    assert answer.status == 200 and json.loads(answer.body)["secret"] == "internal"
    assert answer.address == "127.0.0.1"


# -- resolution happens once, and the connection goes to the checked address -------------------------------------

@pytest.fixture
def resolver(monkeypatch):
    """A DNS under the test's control: names map to a list of answers, one per lookup (the last repeats)."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            lookups.append(host)
            queue = answers[host]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port, 0, 0) if ":" in a else (a, port)) for a in addresses]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_a_name_with_one_internal_address_among_public_ones_is_refused(internal, resolver):
    answers, _ = resolver
    answers["mixed.test"] = [["93.184.215.14", "127.0.0.1"]]
    with pytest.raises(EgressError) as refused:
        egress.request("GET", internal.url("/internal", host="mixed.test"), policy=STRICT)
    assert refused.value.reason == Reason.ADDRESS and "mixed.test resolves to 127.0.0.1" in str(refused.value)
    assert internal.hits == []


def test_dns_rebinding_cannot_swap_the_target_after_the_check(internal, resolver):
    answers, lookups = resolver
    # First lookup: a public address (passes the check); every later lookup: loopback, where the attacker wants in.
    answers["rebind.test"] = [["93.184.215.14"], ["127.0.0.1"]]
    with pytest.raises(EgressError) as failed:
        egress.request("GET", internal.url("/internal", host="rebind.test"),
                       policy=EgressPolicy(connect_timeout=1, read_timeout=1, deadline=3))
    assert failed.value.reason in (Reason.TIMEOUT, Reason.CONNECTION)
    assert "93.184.215.14" in str(failed.value)  # it tried the checked address, and only that one
    assert lookups == ["rebind.test"] and internal.hits == []


def test_the_pinned_connection_keeps_the_host_name_in_the_host_header(internal, resolver):
    answers, lookups = resolver
    # Were the name looked up again at connect time, it would go to an address where nothing listens.
    answers["api.internal.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    answer = egress.request("GET", internal.url("/echo", host="api.internal.test"), policy=PRIVATE_OK)
    assert answer.address == "127.0.0.1" and lookups == ["api.internal.test"]
    assert json.loads(answer.body)["headers"]["Host"] == f"api.internal.test:{internal.port}"


# -- redirects, sizes, time ---------------------------------------------------------------------------------------

def test_redirects_are_not_followed(internal):
    answer = egress.request("GET", internal.url("/redirect"), policy=PRIVATE_OK)
    assert answer.status == 302 and answer.is_redirect and answer.header("Location") == "/internal"
    assert [hit["path"] for hit in internal.hits] == ["/redirect"]


@pytest.mark.parametrize("path", ["/big", "/big-unannounced", "/gzip-bomb"])
def test_answers_over_the_limit_are_cut_and_reported(internal, path):
    started = time.monotonic()
    with pytest.raises(EgressError) as too_large:
        egress.request("GET", internal.url(path), policy=PRIVATE_OK)
    assert too_large.value.reason == Reason.TOO_LARGE and "65536" in str(too_large.value)
    assert time.monotonic() - started < 3


def test_a_server_that_does_not_answer_times_out(internal):
    started = time.monotonic()
    with pytest.raises(EgressError) as slow:
        egress.request("GET", internal.url("/slow"), policy=PRIVATE_OK)
    assert slow.value.reason == Reason.TIMEOUT and time.monotonic() - started < 2.5


def test_a_server_that_trickles_its_headers_hits_the_deadline(internal):
    started = time.monotonic()
    with pytest.raises(EgressError) as slow:
        egress.request("GET", internal.url("/slow-headers"),
                       policy=EgressPolicy(allow_private=True, connect_timeout=1, read_timeout=1, deadline=1))
    assert slow.value.reason == Reason.TIMEOUT and "TRACKREPLAY_EGRESS_DEADLINE" in str(slow.value)
    assert time.monotonic() - started < 2


def test_a_server_that_trickles_its_answer_hits_the_deadline(internal):
    started = time.monotonic()
    with pytest.raises(EgressError) as slow:
        egress.request("GET", internal.url("/trickle"),
                       policy=EgressPolicy(allow_private=True, connect_timeout=1, read_timeout=1, deadline=1))
    assert slow.value.reason == Reason.TIMEOUT and time.monotonic() - started < 3


# -- https: pinned to the address, SNI and certificate checked against the name --------------------------------

def _tls_files(tmp_path, name: str):
    """A CA and a certificate for `name` signed by it (files), made with cryptography (mitmproxy's dependency)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, *, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca_cert = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key, ca_key, ca=False, san=name)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp_path / "ca.pem", tmp_path / "leaf.pem"


@pytest.fixture
def tls_service(tmp_path, monkeypatch):
    import ssl

    ca, leaf = _tls_files(tmp_path, "secure.internal.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context trusts the test CA
    service = Internal()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf)
    service.sni = []
    context.sni_callback = lambda sock, name, ctx: service.sni.append(name)
    service.server.socket = context.wrap_socket(service.server.socket, server_side=True)
    yield service
    service.stop()


def test_https_goes_to_the_checked_address_with_sni_and_certificate_for_the_name(tls_service, resolver):
    answers, lookups = resolver
    answers["secure.internal.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    answer = egress.request("GET", f"https://secure.internal.test:{tls_service.port}/echo", policy=PRIVATE_OK)
    assert answer.status == 200 and answer.address == "127.0.0.1" and lookups == ["secure.internal.test"]
    assert tls_service.sni == ["secure.internal.test"]
    assert json.loads(answer.body)["headers"]["Host"] == f"secure.internal.test:{tls_service.port}"


def test_https_to_a_name_the_certificate_does_not_cover_is_refused(tls_service, resolver):
    answers, _ = resolver
    answers["other.internal.test"] = [["127.0.0.1"]]
    with pytest.raises(EgressError) as failed:
        egress.request("GET", f"https://other.internal.test:{tls_service.port}/echo", policy=PRIVATE_OK)
    assert failed.value.reason == Reason.CONNECTION and "other.internal.test" in str(failed.value)
    assert tls_service.hits == []
    # unless the project turned upstream TLS checks off
    answer = egress.request("GET", f"https://other.internal.test:{tls_service.port}/echo",
                            policy=EgressPolicy(allow_private=True, verify_tls=False, connect_timeout=1, read_timeout=1))
    assert answer.status == 200 and tls_service.sni[-1] == "other.internal.test"
