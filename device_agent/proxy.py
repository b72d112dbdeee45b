"""The proxy of one run: mitmdump with the trackreplay addon in its own process (mitmproxy pins its
dependencies tightly), started on a free port, told the current step through its control URL, and stopped
with SIGINT so it writes its HAR and report. The process dies with its parent even when the parent is
killed (PR_SET_PDEATHSIG), so no proxy outlives the agent or `play` that started it."""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

from mock_records.proxy.runner import command

from .lifeline import tethered

CONTROL = "http://trackreplay.control"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ProxyError(RuntimeError):
    pass


class ProxyProcess:
    def __init__(self, mode: str, folder: Path, *, har: Path | None = None, out: Path | None = None,
                 events: Path | None = None, stats: Path | None = None, scope: list[str] | None = None,
                 ignore: dict | None = None, unmatched: str = "404", global_mocks: Path | None = None,
                 confdir: Path | None = None, host: str = "127.0.0.1", insecure: bool = False,
                 forward_tracking: bool = False, log: Path | None = None, listen_host: str | None = None,
                 port: int | None = None):
        """`host` is where this process reaches the proxy (control requests); it listens on `listen_host`
        (default: host), e.g. 0.0.0.0 for an iPhone on the lab's Wi-Fi whose proxy is set by hand to this
        machine and a fixed `port`."""
        self.mode = mode
        self.host = host
        self.listen_host = listen_host or host
        self.port = port or free_port(self.listen_host)
        self.log_path = log or folder / "proxy.log"
        self.args = argparse.Namespace(
            mode=mode, unmatched=unmatched, repeat="last", har=str(har) if har else None,
            out=str(out) if out else None, events=str(events) if events else None,
            stats=str(stats) if stats else None, ignore=json.dumps(ignore) if ignore else None,
            global_mocks=str(global_mocks) if global_mocks else None, platform=None, run_token=None,
            confdir=str(confdir) if confdir else None, host=host, port=self.port, insecure=insecure,
            forward_tracking=forward_tracking, upstream_ca=None, scope=scope, listen_host=self.listen_host)
        self.folder = folder
        self.process: subprocess.Popen | None = None
        self._control: http.client.HTTPConnection | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> ProxyProcess:
        self._log = open(self.log_path, "ab")
        argv, preexec = tethered(command(self.args, self.folder))
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        preexec_fn=preexec)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ProxyError(f"the proxy exited with {self.process.returncode} at start: "
                                 f"{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                self.stats()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ProxyError(f"the proxy did not answer on {self.url} within {timeout:g} s") from None
                time.sleep(0.1)

    def _ask(self, path: str) -> bytes:
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the proxy: reconnect once
            if self._control is None:
                self._control = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self._control.request("GET", CONTROL + path)
                answer = self._control.getresponse()
                body = answer.read()
                if answer.status != 200:
                    raise ProxyError(f"the proxy answered {answer.status} to {path}: {body[:200]!r}")
                return body
            except (OSError, http.client.HTTPException):
                self._control.close()
                self._control = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def set_step(self, step: int) -> None:
        """Events from now on are tagged with this step."""
        self._ask(f"/step/{step}")

    def stats(self) -> dict:
        return json.loads(self._ask("/stats"))

    def probe_seen(self, nonce: str) -> str | None:
        """The scheme ('http' or 'https') a device's request to trackreplay.control/probe/<nonce> came through
        the proxy with, or None when it has not arrived."""
        return json.loads(self._ask(f"/probe-seen/{nonce}")).get("scheme")

    def stop(self, timeout: float = 30) -> int | None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # mitmdump writes the HAR and the report on a clean stop
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
