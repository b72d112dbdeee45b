"""The devices one agent offers, and what it must remember about them across its own crashes.

- Local Chromium browsers (`--browsers N`), Android phones that adb lists (`--android`; adb is reached the
  usual way, ANDROID_ADB_SERVER_PORT included) and iPhones: over USB through usbmux (`--ios`, iOS below 17)
  or at WebDriverAgent URLs the lab started with go-ios or pymobiledevice3 (`--wda UDID=URL`, iOS 17+).
  Discovery runs at every heartbeat, so a phone plugged in shows up and one unplugged goes offline at once.
- An iPhone's proxy is set by hand, so each iPhone gets a fixed proxy port, kept in the state folder
  (`ios-proxy-ports.json`) so the number a person typed into the phone stays valid across restarts.
- The proxy journal: a file per Android phone whose global proxy setting a run set and has not yet cleared.
  A run clears it in every outcome; when the agent itself was killed, the next start clears the setting on
  every phone left in the journal (now, or when the phone is attached again).

No Django here."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from pathlib import Path

log = logging.getLogger("trackreplay.agent.devices")
IOS_PROXY_PORT = 8888
_UDID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def parse_wda_pairs(pairs: list[str] | None) -> dict[str, str]:
    """--wda UDID=URL options; a pair that is not one is refused with its text."""
    result = {}
    for pair in pairs or []:
        udid, sep, url = pair.partition("=")
        if not sep or not _UDID.match(udid) or not url.startswith(("http://", "https://")):
            raise ValueError(f"--wda {pair!r}: write UDID=http://host:port (WebDriverAgent's URL for that iPhone)")
        result[udid] = url.rstrip("/")
    return result


def parse_relaunch_pairs(pairs: list[str] | None) -> dict[str, str]:
    """--wda-relaunch UDID=COMMAND options: the command line that starts an iPhone's WebDriverAgent again when it
    died (tidevice wdaproxy, go-ios runwda, pymobiledevice3 ... xcuitest)."""
    result = {}
    for pair in pairs or []:
        udid, sep, command = pair.partition("=")
        if not sep or not _UDID.match(udid) or not command.strip():
            raise ValueError(f"--wda-relaunch {pair!r}: write UDID=COMMAND (e.g. UDID='ios runwda --udid UDID')")
        result[udid] = command.strip()
    return result


def lan_address() -> str:
    """This machine's address on the network its default route leaves by (what a phone on the lab's Wi-Fi
    reaches it at). No packet is sent: connecting a UDP socket only picks the route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, but a route is chosen for it
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class ProxyJournal:
    """Android phones whose proxy setting a run set and has not cleared yet (one file per serial)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _file(self, serial: str) -> Path:
        return self.folder / re.sub(r"[^A-Za-z0-9_.:-]", "_", serial)

    def mark(self, serial: str) -> None:
        path = self._file(serial)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(serial)
        os.replace(temporary, path)  # whole or not at all: the heartbeat reads these while runs write them

    def done(self, serial: str) -> None:
        self._file(serial).unlink(missing_ok=True)

    def pending(self) -> list[str]:
        serials = []
        for path in self.folder.iterdir():
            if path.name.startswith("."):
                continue  # being written
            try:
                serials.append(path.read_text())
            except FileNotFoundError:  # a run cleared its phone between the listing and the read
                continue
        return sorted(serials)


class DeviceSet:
    def __init__(self, name: str, *, browsers: int = 1, android: bool = False, ios: bool = False,
                 wda_urls: dict[str, str] | None = None, state_dir: Path, headed: bool = False,
                 proxy_host: str | None = None, ios_proxy_port: int = IOS_PROXY_PORT,
                 wda_relaunch: dict[str, str] | None = None):
        self.name = name
        self.browsers = browsers
        self.android = android
        self.ios = ios
        self.wda_urls = dict(wda_urls or {})
        self.wda_relaunch = dict(wda_relaunch or {})
        self.headed = headed
        self.state_dir = state_dir
        self.proxy_host = proxy_host
        self.ios_proxy_port = ios_proxy_port
        self.journal = ProxyJournal(state_dir / "proxy-set")
        self._ports_file = state_dir / "ios-proxy-ports.json"
        self._browser_version: str | None = None
        self._lock = threading.Lock()
        self.last_errors: dict[str, str] = {}

    # -- what is attached -----------------------------------------------------------------------------------------
    def reports(self) -> list[dict]:
        """Every device attached now, as the heartbeat reports it. A discovery that fails (adb not running) is
        logged once and offers no phones of that kind, rather than stopping the heartbeat."""
        reports = self._browsers()
        if self.android:
            reports += self._discovered("android")
        if self.ios or self.wda_urls:
            reports += self._discovered("ios")
        self._clear_left_proxies(reports)
        return reports

    def _browsers(self) -> list[dict]:
        if not self.browsers:
            return []
        if self._browser_version is None:  # asked once: heartbeats come every few seconds
            from .drivers.web import chromium_path

            self._browser_version = chromium_version(chromium_path())
        return [{"platform": "web", "name": f"{self.name} · Chromium {index}", "serial": f"chromium-{index}",
                 "model": "Chromium (headless)" if not self.headed else "Chromium",
                 "os_version": self._browser_version, "labels": ["web", "local"], "screen": "1280x800",
                 "battery": None, "proxy": "auto"}
                for index in range(1, self.browsers + 1)]

    def _discovered(self, platform: str) -> list[dict]:
        try:
            if platform == "android":
                from .drivers import android

                found = android.discover()
            else:
                from .drivers import ios

                found = ios.discover(wda_urls=self.wda_urls, usb=self.ios)
        except Exception as exc:  # adb or usbmuxd not running, a phone answering garbage: say so, go on
            message = f"{type(exc).__name__}: {exc}"
            if self.last_errors.get(platform) != message:
                log.warning("%s discovery failed: %s", platform, message)
            self.last_errors[platform] = message
            return []
        self.last_errors.pop(platform, None)
        reports = []
        for report in found:
            report = {**report, "labels": list(report.get("labels") or [platform])}
            report["name"] = report.get("name") or report.get("model") or report["serial"]
            if platform == "ios":
                report["proxy"] = "manual"
                report["proxy_address"] = self.proxy_address(report["serial"])
            reports.append(report)
        return reports

    def _clear_left_proxies(self, reports: list[dict]) -> None:
        """Phones an earlier life of this agent left with the proxy set: clear them as soon as they are here."""
        attached = {report["serial"] for report in reports if report["platform"] == "android"}
        for serial in self.journal.pending():
            if serial not in attached or holder(busy_marker(self.state_dir, "android", serial)):
                continue  # not here, or a run or a check of this agent holds it (and clears it itself)
            try:
                from .drivers.android import clear_proxy_setting

                clear_proxy_setting(serial)
                self.journal.done(serial)
                log.warning("cleared the proxy setting an interrupted run left on %s", serial)
            except Exception as exc:
                log.warning("could not clear the proxy setting left on %s: %s", serial, exc)

    # -- per device -----------------------------------------------------------------------------------------------
    def proxy_port(self, udid: str) -> int:
        """The fixed proxy port of an iPhone (typed into its Wi-Fi settings once): base, base + 1, ... by first
        sight, remembered in the state folder."""
        import fcntl

        with self._lock, open(self.state_dir / "ios-proxy-ports.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the heartbeat and the worker processes all hand out ports
            try:
                ports = json.loads(self._ports_file.read_text())
            except (OSError, ValueError):
                ports = {}
            if udid not in ports:
                used = set(ports.values())
                port = self.ios_proxy_port
                while port in used:
                    port += 1
                ports[udid] = port
                temporary = self._ports_file.with_suffix(".tmp")
                temporary.write_text(json.dumps(ports, indent=1))
                os.replace(temporary, self._ports_file)
            return int(ports[udid])

    def proxy_address(self, udid: str) -> str:
        return f"{self.proxy_host or lan_address()}:{self.proxy_port(udid)}"

    def https_check(self, platform: str, serial: str, *, name: str = "") -> tuple[bool, str]:
        """Whether HTTPS through a proxy works on the device: a capture proxy of its own, the device's browser
        opening the proxy's probe address over HTTPS (and over HTTP when that fails, to tell an untrusted CA from
        a proxy the device does not use), the proxy setting cleared after."""
        import tempfile

        from .proxy import ProxyProcess

        manual = platform == "ios"
        with holding(self.state_dir, platform, serial, "an HTTPS check"), \
                tempfile.TemporaryDirectory(prefix="trackreplay-https-check-") as folder:
            proxy = ProxyProcess("capture", Path(folder), listen_host="0.0.0.0" if manual else None,
                                 port=self.proxy_port(serial) if manual else None)
            driver = self.driver(platform, serial)
            proxy.start()
            try:
                if platform == "android":
                    self.journal.mark(serial)
                driver.set_proxy(self.proxy_host or lan_address() if manual else proxy.host, proxy.port)
                driver.start()
                module = _platform_module(platform)
                ok, detail = module.https_probe(driver, proxy)
                if platform == "web":
                    detail = detail.replace("this browser", name or "this browser")
                return ok, detail
            finally:
                try:
                    driver.clear_proxy()
                    if platform == "android":
                        self.journal.done(serial)
                finally:
                    try:
                        driver.close()
                    finally:
                        proxy.stop()

    def driver(self, platform: str, serial: str):
        """A driver for one of this agent's devices (not started): the one `trackreplay play` makes, with this
        agent's WDA URL and relaunch command for an iPhone."""
        from .play import make_driver

        return make_driver(platform, headed=self.headed, device=serial, wda_url=self.wda_urls.get(serial),
                           wda_relaunch=self.wda_relaunch.get(serial))


def _platform_module(platform: str):
    if platform == "web":
        from .drivers import web as module
    elif platform == "android":
        from .drivers import android as module
    else:
        from .drivers import ios as module
    return module


def chromium_version(path: str) -> str:
    import subprocess

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "Chromium"
    return " ".join(out.split()[:2]) or "Chromium"


class DeviceBusy(Exception):
    """The device is held by a run or a check of this agent (the message says which)."""


def busy_marker(state_dir: Path, platform: str, serial: str) -> Path:
    """The file that holds a device: created exclusively by a run (in a worker process) or a check or screenshot
    (in the heartbeat process), holding who and which process; nothing else touches the device meanwhile. A
    marker whose process is gone (killed) holds nothing. The agent removes them all when it starts."""
    folder = state_dir / "busy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{platform}-{serial}")


def holder(marker: Path) -> str | None:
    """Who holds the device ('run 12', 'an HTTPS check'), or None when nobody alive does."""
    try:
        owner, named, pid = marker.read_text().rpartition(" pid ")
    except FileNotFoundError:
        return None
    try:
        if not named:
            raise ValueError("no process named (an older agent's marker)")
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        marker.unlink(missing_ok=True)  # its process died without letting go (killed): free
        return None
    except PermissionError:
        pass
    return owner or "something"


def claim(marker: Path, owner: str) -> bool:
    """Hold the device for `owner`; False when somebody alive holds it."""
    for _ in range(2):
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if holder(marker) is not None:
                return False
            continue  # a stale marker was just removed: try again
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{owner} pid {os.getpid()}")
        return True
    return False


class holding:
    """`with holding(state_dir, platform, serial, "an HTTPS check"):` the device for the block, or DeviceBusy."""

    def __init__(self, state_dir: Path, platform: str, serial: str, owner: str):
        self.marker = busy_marker(state_dir, platform, serial or "-")
        self.owner = owner

    def __enter__(self):
        if not claim(self.marker, self.owner):
            raise DeviceBusy(f"the device is busy with {holder(self.marker) or 'something else'}; ask again later")
        return self

    def __exit__(self, *exc):
        self.marker.unlink(missing_ok=True)


def forget_busy(state_dir: Path) -> None:
    folder = state_dir / "busy"
    if folder.is_dir():
        for marker in folder.iterdir():
            marker.unlink(missing_ok=True)
