"""A stand-in for the proxy's probe endpoint (ProxyProcess.probe_seen, which the integrator adds to the real
proxy): a small HTTP proxy in a thread that answers the control host trackreplay.control itself, plain HTTP and
HTTPS through CONNECT, with a certificate for that host signed by its own CA (`ca_pem`). A phone that does not
trust that CA fails the TLS handshake, as it would with the real proxy's CA; every other host is refused."""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import tempfile
import threading
from pathlib import Path

CONTROL_HOST = "trackreplay.control"
_PROBE = re.compile(r"^GET (?:http://trackreplay\.control)?/probe/([A-Za-z0-9_-]+) HTTP/1\.[01]$")


def _certificates() -> tuple[bytes, bytes, bytes]:
    """(CA certificate, leaf certificate, leaf key) in PEM, the leaf for trackreplay.control."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe stand-in CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CONTROL_HOST)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(CONTROL_HOST)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), leaf.public_bytes(pem), key


class ProbeProxy:
    def __init__(self):
        self.ca_pem, leaf, key = _certificates()
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "leaf.pem").write_bytes(leaf + key)
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(Path(folder, "leaf.pem"))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", self._listener.getsockname()[1]
        self.seen: list[str] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def probe_seen(self, nonce: str) -> bool:
        return nonce in self.seen

    def __enter__(self) -> ProbeProxy:
        thread = threading.Thread(target=self._accept, name="fake-probe-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(10)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name="fake-probe-proxy-client", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        try:
            line = _request_line(sock)
            if line == f"CONNECT {CONTROL_HOST}:443 HTTP/1.1" or line == f"CONNECT {CONTROL_HOST}:443 HTTP/1.0":
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sock = self._tls.wrap_socket(sock, server_side=True)  # fails when the phone distrusts the CA
                line = _request_line(sock)
            match = _PROBE.match(line)
            if match:
                self.seen.append(match.group(1))
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            else:
                sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()


def _request_line(sock) -> str:
    """The request line; the headers after it are read and dropped (up to the blank line)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")
