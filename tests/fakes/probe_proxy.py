"""The real run proxy for the probe tests of the phone drivers: device_agent.proxy.ProxyProcess (mitmdump with
the trackreplay addon, capture mode) with a CA of its own in a temporary folder (`ca_pem`: what a phone must
trust for its HTTPS probe to get through). `seen` lists the probes the drivers' checks found, as
'<scheme> /probe/<nonce>'."""

from __future__ import annotations

import tempfile
from pathlib import Path

from device_agent.proxy import ProxyProcess
from mock_records.ca import ca_certificate


class ProbeProxy:
    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="trackreplay-probe-proxy-")
        folder = Path(self._folder.name)
        self.ca_pem = ca_certificate(folder / "ca")
        self.process = ProxyProcess("capture", folder, confdir=folder / "ca")
        self.seen: list[str] = []

    @property
    def host(self) -> str:
        return self.process.host

    @property
    def port(self) -> int:
        return self.process.port

    def probe_seen(self, nonce: str) -> str | None:
        scheme = self.process.probe_seen(nonce)
        if scheme and f"{scheme} /probe/{nonce}" not in self.seen:
            self.seen.append(f"{scheme} /probe/{nonce}")
        return scheme

    def __enter__(self) -> ProbeProxy:
        self.process.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.process.stop()
        finally:
            self._folder.cleanup()
