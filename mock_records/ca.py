"""The proxy's certificate authority: where it lives (one folder shared by the platform and every proxy
it starts, so a device trusts it once), and its certificate for download. No Django here: the runner uses
it too."""

from __future__ import annotations

import os
from pathlib import Path

CA_FILE = "mitmproxy-ca-cert.pem"


def default_confdir() -> Path:
    """TRACKREPLAY_MITMPROXY_CONFDIR, else <TRACKREPLAY_VAR_DIR or ./var>/mitmproxy."""
    configured = os.environ.get("TRACKREPLAY_MITMPROXY_CONFDIR")
    if configured:
        return Path(configured)
    base = os.environ.get("TRACKREPLAY_VAR_DIR")
    return Path(base) / "mitmproxy" if base else Path(__file__).resolve().parent.parent / "var" / "mitmproxy"


def ca_certificate(confdir: Path | None = None) -> bytes:
    """The CA certificate (PEM), created the way mitmproxy creates it on first start if there is none yet."""
    folder = Path(confdir or default_confdir())
    path = folder / CA_FILE
    if not path.exists():
        from mitmproxy.certs import CertStore

        folder.mkdir(parents=True, exist_ok=True)
        CertStore.from_store(str(folder), "mitmproxy", 2048)
    return path.read_bytes()


def ca_fingerprint(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certificate = x509.load_pem_x509_certificate(pem)
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()
