"""A stand-in for the run's proxy as far as the iOS proxy probe needs it: an HTTP proxy that answers only its
control host, `trackreplay.control`, and remembers the probes that reached it (`probe_seen(nonce)`, as
device_agent/proxy.py's ProxyProcess does). Plain HTTP arrives in absolute form; HTTPS arrives as CONNECT and
is intercepted with a certificate signed by the stand-in's own CA (`ca_pem`), so only a phone that trusts
that CA gets its HTTPS probe through, as with mitmproxy. Anything else is answered 502."""

from __future__ import annotations

import datetime
import re
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTROL = "trackreplay.control"


def _certificates(folder: Path) -> tuple[bytes, Path]:
    """A CA (PEM) and a key+certificate file for the control host signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, *, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(CONTROL)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe stand-in CA")])
    ca = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CONTROL)]), ca_name, key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    chain = folder / "leaf.pem"
    chain.write_bytes(leaf.public_bytes(pem) + key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
    return ca.public_bytes(pem), chain


class ProbeProxy:
    def __init__(self, host: str = "127.0.0.1"):
        self._folder = tempfile.TemporaryDirectory(prefix="probe-proxy-")
        self.ca_pem, chain = _certificates(Path(self._folder.name))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(chain)
        self.seen: list[str] = []  # "http /probe/abc", "https /probe/abc"
        self.server = _Server((host, 0), _Handler)
        self.server.proxy = self
        self.host, self.port = host, self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="probe-proxy", daemon=True)

    def probe_seen(self, nonce: str) -> bool:
        return any(line.endswith(f"/probe/{nonce}") for line in self.seen)

    def __enter__(self) -> ProbeProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()
        self._folder.cleanup()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    proxy: ProbeProxy


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    scheme = "http"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.scheme == "https":
            path = self.path
        else:
            match = re.fullmatch(rf"http://{re.escape(CONTROL)}(/.*)", self.path)
            if not match:
                self.reply(502, b"this stand-in proxies nothing but its control host")
                return
            path = match.group(1)
        if not re.fullmatch(r"/probe/[0-9a-zA-Z_-]+", path):
            self.reply(404, b"unknown control path")
            return
        self.server.proxy.seen.append(f"{self.scheme} {path}")
        self.reply(200, b"probe seen")

    def do_CONNECT(self):
        if self.path != f"{CONTROL}:443":
            self.reply(502, b"this stand-in proxies nothing but its control host")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.proxy.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):  # the phone does not trust the CA: it hangs up in the handshake
            return
        with tls:
            inner = type(self)(tls, self.client_address, self.server, https=True)
            del inner

    def __init__(self, request, client_address, server, *, https: bool = False):
        self.scheme = "https" if https else "http"
        super().__init__(request, client_address, server)

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
