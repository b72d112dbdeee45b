"""The Android driver: uiautomator2 3.x over adbutils, on any phone or emulator the local adb server lists.

adb is reached the usual way: the adb server at ANDROID_ADB_SERVER_HOST:ANDROID_ADB_SERVER_PORT (127.0.0.1:5037
when unset), or the adbutils.AdbClient given. The uiautomator2 server runs on the device (pushed and launched
by uiautomator2 itself) and is spoken to over adb, so nothing but adb has to reach the phone.

- Elements are looked up in the window hierarchy uiautomator dumps, one dump per lookup: `id` is the
  resource-id (the short "buy" or the full "com.shop:id/buy"), `text` the element's whole text, `accessibility_id`
  its content-desc, `xpath` standard XPath over the dump, `point` a position in pixels or percent. css is a web
  locator. While the system shows an app's crash or "isn't responding" dialog, only the dialog's own elements can
  be found: the step fails at once naming the dialog, and the player has the driver put it right.
- Gestures and typing go through the uiautomator2 server: tap, long press and swipe at element centres; typing
  taps the element, clears it and pastes the text, as uiautomator2's own xpath set_text does.
- The proxy is the phone's global http_proxy setting; a proxy on this machine's loopback is reached through
  `adb reverse`. ":0" clears it (it takes effect at once; deleting the setting does not on every version).
- Health: a crash is the app's process changing (the pid seen at launch is gone or another); an ANR is the
  "isn't responding" window; a dead UI server is /ping not answering. uiautomator2 would restart a dead server
  inside whatever call found it, for up to 40 s and unseen; this driver turns that off (_Uiautomator), so the
  player notices, recover() restarts it within a bound, and the timeline says so.
- Any adb failure while adb no longer lists the device in state "device" is DeviceGone."""

from __future__ import annotations

import atexit
import hashlib
import http.client
import ipaddress
import logging
import re
import secrets
import time
from dataclasses import dataclass

import adbutils
import uiautomator2
from lxml import etree
from uiautomator2.core import _jsonrpc_call
from uiautomator2.exceptions import BaseException as U2Error
from uiautomator2.exceptions import RPCError

from ..flows import Locator, Point
from .base import DeviceGone, Driver, DriverError

log = logging.getLogger("trackreplay.android")

UI_SERVER_PORT = 9008
RECOVER_SECONDS = 45.0  # restarting the UI server waits up to 30 s for it; an app restart gets the rest
SYSTEM_DIALOG = re.compile(r"isn['’]t responding|has stopped|keeps stopping")
PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
CERT_ON_PHONE = "/sdcard/Download/trackreplay-ca.crt"
CERT_STAGING = "/data/local/tmp/trackreplay-ca.pem"
SYSTEM_CACERTS = "/system/etc/security/cacerts"
CERT_INSTALLER = "com.android.certinstaller/.CertInstallerMain"
PROBE_URL = "{scheme}://trackreplay.control/probe/{nonce}"
STATE_HINTS = {"unauthorized": "accept the USB debugging prompt on the phone",
               "offline": "reconnect the cable or restart adb (adb kill-server)",
               "no permissions": "the adb server cannot open the USB device: check udev rules"}
LEVELS = {"V": "verbose", "D": "debug", "I": "info", "W": "warning", "E": "error", "F": "fatal", "A": "fatal"}
_LOG_LINE = re.compile(r"^\s*(\d+)\.(\d{3})\s+(\d+)\s+(\d+)\s+([VDIWEFA])\s+(.*?)\s*: ?(.*)$")
# Errors a call to the device can end in when the device, adb or the UI server goes away under it.
_TRANSPORT_ERRORS = (adbutils.AdbError, U2Error, OSError, EOFError, http.client.HTTPException)


class _Uiautomator(uiautomator2.Device):
    """uiautomator2's Device with one change: a JSON-RPC call that finds the UI server dead fails instead of
    stopping and relaunching the server inside the call (up to 10 s + 30 s, and nobody would know)."""

    def jsonrpc_call(self, method, params=None, timeout=10):
        return _jsonrpc_call(self._dev, self._device_server_port, method, params, timeout, self._debug)


@dataclass
class AndroidElement:
    """An element seen in one hierarchy dump; `locator` and `index` find it again in a later dump."""

    locator: Locator
    index: int
    bounds: tuple[int, int, int, int]
    text: str
    attributes: dict

    def center(self) -> tuple[int, int]:
        left, top, right, bottom = self.bounds
        return (left + right) // 2, (top + bottom) // 2


def adb_client(adb=None) -> adbutils.AdbClient:
    """The given client, or one for the adb server where adb itself looks (ANDROID_ADB_SERVER_HOST/PORT)."""
    return adb if adb is not None else adbutils.AdbClient()


def _attached(adb, serial: str) -> bool:
    try:
        return any(info.serial == serial and info.state == "device" for info in adb.list())
    except _TRANSPORT_ERRORS:
        return False  # the adb server itself is gone: the device is not reachable either


def _failure(adb, serial: str, what: str, exc: Exception) -> DriverError:
    """DeviceGone when the device has left adb, else a DriverError saying what failed."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if f"device '{serial}' not found" in str(exc) or not _attached(adb, serial):
        return DeviceGone(f"the Android device {serial} is no longer attached ({what}: {detail})")
    return DriverError(f"{what} failed on {serial}: {detail}")


def _shell(adb, device, command: list[str] | str, *, timeout: float = 60) -> tuple[int, str]:
    """(exit code, output) of a shell command; DeviceGone or DriverError when adb cannot run it."""
    try:
        result = device.shell2(command, timeout=timeout, rstrip=True)
    except _TRANSPORT_ERRORS as exc:
        shown = command if isinstance(command, str) else " ".join(command)
        raise _failure(adb, device.serial, f"adb shell {shown}", exc) from None
    return result.returncode, result.output


def _require_attached(adb, serial: str) -> None:
    if not _attached(adb, serial):
        raise DeviceGone(f"the Android device {serial} is not attached: `adb devices` does not list it as a device")


def _app(app: str) -> tuple[str, str | None]:
    """(package, activity or None) from a flow's app: 'com.shop' or 'com.shop/.MainActivity'."""
    package, _, activity = (app or "").partition("/")
    if not PACKAGE.fullmatch(package) or (activity == "" and "/" in app):
        raise DriverError(f"{app!r} is not an Android app: give its package name (com.example.shop), "
                          f"optionally with an activity (com.example.shop/.MainActivity)")
    return package, activity or None


def _bounds(text: str) -> tuple[int, int, int, int] | None:
    match = re.fullmatch(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]", text or "")
    return tuple(int(v) for v in match.groups()) if match else None


def _squash(text: str) -> str:
    return " ".join((text or "").split())


class AndroidDriver(Driver):
    platform = "android"

    def __init__(self, serial: str, *, adb=None):
        if not serial:
            raise DriverError("an Android device is named by its adb serial (see `adb devices`)")
        self.serial = serial
        self.adb = adb_client(adb)
        self.device = self.adb.device(serial)
        self.u2: _Uiautomator | None = None
        self.model = ""
        self.size = (0, 0)
        self._pids: dict[str, int] = {}  # package -> the process seen at launch (a change is a crash)
        self._reversed: int | None = None  # the port this driver reversed for the proxy
        self._diagnosis: dict[str, str] = {}  # what health() said -> its kind, for recover()
        self._logs: list[dict] = []
        self._log_mark: int | None = None  # ms of the newest log line read (logs start after it)
        self._log_mark_lines: set[str] = set()
        self._started = False

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.u2 is not None:
            return
        _require_attached(self.adb, self.serial)
        self.describe()
        if not self._started:
            self._log_mark, self._log_mark_lines = self._newest_log_line()
            self._started = True
        try:
            self.u2 = _Uiautomator(self.device)
        except _TRANSPORT_ERRORS as exc:
            failure = _failure(self.adb, self.serial, "starting the uiautomator2 server", exc)
            raise failure from None

    def describe(self) -> str:
        """'Pixel 7 (serial)', reading the model and screen size once."""
        if not self.model:
            self.model = self._sh(["getprop", "ro.product.model"])[1].strip() or "Android device"
            match = re.search(r"(?:Override|Physical) size: (\d+)x(\d+)", self._sh(["wm", "size"])[1])
            if match:
                self.size = (int(match.group(1)), int(match.group(2)))
        return f"{self.model} ({self.serial})"

    def close(self) -> None:
        if self.u2 is not None:
            ui, self.u2 = self.u2, None
            atexit.unregister(ui.stop_uiautomator)  # uiautomator2 registers one per Device: a long agent leaks them
            try:
                ui.stop_uiautomator(wait=False)  # closes the app_process shell: the server ends with it
            except Exception:  # the device is gone already: nothing left to stop
                pass

    # -- adb and the UI server --------------------------------------------------------------------------------------
    def _sh(self, command: list[str] | str, *, timeout: float = 60) -> tuple[int, str]:
        return _shell(self.adb, self.device, command, timeout=timeout)

    def _ui(self, what: str, call, *args, **kwargs):
        if self.u2 is None:
            raise DriverError("the Android driver is not started")
        try:
            return call(*args, **kwargs)
        except RPCError as exc:
            raise DriverError(f"{what}: the uiautomator2 server refused: {exc}") from None
        except _TRANSPORT_ERRORS as exc:
            failure = _failure(self.adb, self.serial, what, exc)
            if isinstance(failure, DeviceGone):
                raise failure from None
            raise DriverError(f"{what}: the uiautomator2 server is not answering ({failure})") from None

    def _ping(self) -> bool:
        try:
            sock = self.device.create_connection(adbutils.Network.TCP, UI_SERVER_PORT)
        except _TRANSPORT_ERRORS:
            return False
        try:
            sock.settimeout(5)
            sock.sendall(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            return head.split(b" ", 2)[1:2] == [b"200"] and body.strip() == b"pong"
        except OSError:
            return False
        finally:
            sock.close()

    def _dump(self) -> str:
        return self._ui("reading the screen", self.u2.dump_hierarchy)

    def _tree(self):
        try:
            return etree.fromstring(self._dump().encode("utf-8"))
        except etree.XMLSyntaxError as exc:
            raise DriverError(f"the screen's hierarchy is not XML: {exc}") from None

    # -- proxy --------------------------------------------------------------------------------------------------------
    def set_proxy(self, host: str, port: int) -> None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise DriverError(f"proxy port {port!r} is not a TCP port")
        phone_host = host
        if _is_loopback(host):
            # The phone's own 127.0.0.1 is the phone: it reaches this machine's port through adb reverse.
            try:
                self.device.reverse(f"tcp:{port}", f"tcp:{port}")
            except _TRANSPORT_ERRORS as exc:
                raise _failure(self.adb, self.serial, f"adb reverse tcp:{port} tcp:{port}", exc) from None
            self._reversed = port
            phone_host = "127.0.0.1"
        _put_proxy(self.adb, self.device, f"{phone_host}:{port}")

    def clear_proxy(self) -> None:
        _clear_proxy(self.adb, self.device, also_port=self._reversed)
        self._reversed = None

    # -- app ------------------------------------------------------------------------------------------------------
    def launch(self, app: str, *, clear_state: bool = False, timeout: float = 30) -> None:
        package, activity = _app(app)
        code, _ = self._sh(["pm", "path", package])
        if code != 0:
            raise DriverError(f"{package} is not installed on {self.describe()}")
        if clear_state:
            self.clear_app(app)
        else:  # a cold start, as WDA launches on iOS: a recording and its replays begin on the same screen
            self.stop_app(app)
        command = (["am", "start", "-n", f"{package}/{activity}"] if activity else
                   ["monkey", "-p", package, "-c", "android.intent.category.LAUNCHER", "1"])
        code, out = self._sh(command)
        if code != 0 or "Error" in out or "aborted" in out:
            raise DriverError(f"could not start {package}: {_last_line(out)}")
        deadline = time.monotonic() + timeout
        while True:
            pid = self._pidof(package)
            if pid:
                self._pids[package] = pid
                return
            if time.monotonic() >= deadline:
                raise DriverError(f"{package} did not start within {timeout:g} s (no process)")
            time.sleep(0.2)

    def stop_app(self, app: str) -> None:
        package, _ = _app(app)
        self._sh(["am", "force-stop", package])
        self._pids.pop(package, None)

    def clear_app(self, app: str) -> None:
        package, _ = _app(app)
        code, out = self._sh(["pm", "clear", package])
        if code != 0 or "Success" not in out:
            raise DriverError(f"pm clear {package} failed: {_last_line(out)}")
        self._pids.pop(package, None)

    def _pidof(self, package: str) -> int | None:
        code, out = self._sh(["pidof", package])
        pids = [int(word) for word in out.split() if word.isdigit()]
        return pids[0] if code == 0 and pids else None

    # -- elements -------------------------------------------------------------------------------------------------
    def find_once(self, locator: Locator):
        if locator.kind == "point":
            return locator.value
        matches = self._matches(locator, self._tree())
        return matches[0] if matches else None

    def _matches(self, locator: Locator, root) -> list[AndroidElement]:
        """The visible elements the locator matches, in document order; inside the system's crash or ANR dialog
        only while one is on screen (DriverError when the dialog covers what is looked for)."""
        kind, value = locator.kind, locator.value
        if kind == "css":
            raise DriverError(f"{locator}: css is a web locator; on Android use id, text, accessibility_id, xpath "
                              f"or point")
        dialog = _system_dialog(root)
        scope = dialog[1] if dialog else root
        if kind == "xpath":
            try:
                found = root.xpath(value)
            except etree.XPathError as exc:
                raise DriverError(f"{locator}: not a valid XPath ({exc})") from None
            if not isinstance(found, list) or not all(isinstance(node, etree._Element) for node in found):
                raise DriverError(f"{locator}: the XPath must select elements, not a value")
            inside = set(scope.iter())
            nodes = [node for node in found if node in inside]
        elif kind in ("id", "text", "accessibility_id"):
            nodes = [node for node in scope.iter("node") if _node_matches(node, kind, value)]
        else:
            raise DriverError(f"unknown locator {kind}")
        elements = []
        for node in nodes:
            bounds = _bounds(node.get("bounds", ""))
            if bounds is None or not self._on_screen(bounds) or node.get("visible-to-user") == "false":
                continue
            elements.append(AndroidElement(locator, len(elements), bounds, node.get("text", ""), dict(node.attrib)))
        if dialog and not elements:
            raise DriverError(f"the system dialog '{dialog[0]}' covers the screen ({locator} is behind it)")
        return elements

    def _on_screen(self, bounds) -> bool:
        left, top, right, bottom = bounds
        if right <= left or bottom <= top:
            return False
        width, height = self.size
        return not width or (right > 0 and bottom > 0 and left < width and top < height)

    def text_of(self, element) -> str:
        if isinstance(element, Point):
            raise DriverError("a point has no text")
        matches = self._matches(element.locator, self._tree())
        if element.index >= len(matches):
            raise DriverError(f"{element.locator} is no longer on the screen")
        return matches[element.index].text

    # -- actions --------------------------------------------------------------------------------------------------
    def _xy(self, element) -> tuple[int, int]:
        if isinstance(element, Point):
            width, height = self.size
            x, y = element.resolve(width, height)
            return int(x), int(y)
        return element.center()

    def tap(self, element) -> None:
        x, y = self._xy(element)
        self._ui(f"tap at {x},{y}", self.u2.click, x, y)

    def tap_point(self, point: Point) -> None:
        self.tap(point)

    def long_press(self, element, duration: float) -> None:
        x, y = self._xy(element)
        self._ui(f"long press at {x},{y}", self.u2.long_click, x, y, duration)

    def input(self, element, text: str, *, clear: bool = True) -> None:
        if element is None:
            if not any(node.get("focused") == "true" for node in self._tree().iter("node")):
                raise DriverError("no input has the focus: name the element to type into")
        else:
            self.tap(element)
        # uiautomator2's Device.send_keys falls back to installing its own keyboard (an APK) when pasting
        # fails: a lab phone must not get an input method installed behind its owner's back. Its plain
        # clipboard path (what it uses without that keyboard) is called directly.
        if clear:
            self._ui("clearing the input", uiautomator2._Device.clear_text, self.u2)
        self._ui("typing", uiautomator2._Device.send_keys, self.u2, text)

    def swipe(self, start: Point, end: Point, duration: float) -> None:
        (x1, y1), (x2, y2) = self._xy(start), self._xy(end)
        self._ui("swipe", self.u2.swipe, x1, y1, x2, y2, duration=max(duration, 0.05))

    def scroll(self, direction: str) -> None:
        width, height = self.size
        moves = {"down": (0.5, 5 / 6, 0.5, 1 / 6), "up": (0.5, 1 / 6, 0.5, 5 / 6),
                 "right": (5 / 6, 0.5, 1 / 6, 0.5), "left": (1 / 6, 0.5, 5 / 6, 0.5)}
        if direction not in moves:
            raise DriverError(f"cannot scroll {direction!r}: up, down, left or right")
        x1, y1, x2, y2 = moves[direction]  # the finger moves against the direction the content should come from
        self._ui(f"scroll {direction}", self.u2.swipe, int(x1 * width), int(y1 * height), int(x2 * width),
                 int(y2 * height), duration=0.3)

    def back(self) -> None:
        self._ui("back", self.u2.press, "back")

    def wait_settled(self, *, quiet: float = 0.3, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        last = self._dump()
        since = time.monotonic()
        while True:
            if time.monotonic() - since >= quiet:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, quiet / 3))
            now = self._dump()
            if now != last:
                last, since = now, time.monotonic()

    def open_url(self, url: str) -> None:
        """Open a link in the phone's browser (what a person tapping it does)."""
        code, out = self._sh(["am", "start", "-a", "android.intent.action.VIEW", "-d", url])
        if code != 0 or "Error" in out:
            raise DriverError(f"the phone could not open {url}: {_last_line(out)}")

    # -- evidence -------------------------------------------------------------------------------------------------
    def screenshot(self, path: str) -> None:
        try:
            self._ui("screenshot", self.u2.screenshot, path)
            return
        except DeviceGone:
            raise
        except DriverError:
            pass  # the UI server is down (what the screenshot is most wanted for): adb's screencap still works
        try:
            png = self.device.shell(["screencap", "-p"], encoding=None)
        except _TRANSPORT_ERRORS as exc:
            raise _failure(self.adb, self.serial, "screencap", exc) from None
        if not png.startswith(b"\x89PNG"):
            raise DriverError(f"screencap gave no PNG: {png[:200]!r}")
        with open(path, "wb") as fh:
            fh.write(png)

    def hierarchy(self) -> str:
        return self._dump()

    def logs(self) -> list[dict]:
        """The device's logcat since start(), read incrementally; what was read so far once the device is gone."""
        if not self._started:
            return list(self._logs)
        command = ["logcat", "-d", "-v", "threadtime", "-v", "epoch"]
        if self._log_mark is not None:
            command += ["-T", f"{self._log_mark / 1000:.3f}"]
        try:
            _, out = self._sh(command)
        except DriverError as exc:
            log.warning("logcat of %s could not be read: %s", self.serial, exc)
            return list(self._logs)
        entries = _parse_logcat(out)
        mark, mark_lines = self._log_mark, self._log_mark_lines
        for at, raw, entry in entries:
            if mark is not None and (at < mark or (at == mark and raw in mark_lines)):
                continue
            self._logs.append(entry)
        if entries:
            newest = max(at for at, _, _ in entries)
            lines = {raw for at, raw, _ in entries if at == newest}
            self._log_mark, self._log_mark_lines = newest, lines | (mark_lines if newest == mark else set())
        return list(self._logs)

    def _newest_log_line(self) -> tuple[int | None, set[str]]:
        _, out = self._sh(["logcat", "-d", "-v", "threadtime", "-v", "epoch", "-t", "1"])
        entries = _parse_logcat(out)
        if not entries:
            return None, set()
        return entries[-1][0], {entries[-1][1]}

    # -- health -----------------------------------------------------------------------------------------------
    def health(self, app: str) -> str | None:
        package, _ = _app(app)
        _require_attached(self.adb, self.serial)
        expected = self._pids.get(package)
        now = self._pidof(package)
        if expected is not None and now != expected:
            again = f" (a new process {now} runs it now)" if now else ""
            return self._found(f"the app crashed: process {expected} is gone{again}", "crash")
        focus = self._focused_window()
        if f"Application Not Responding: {package}" in focus:
            return self._found(f"the app is not responding: {package} isn't responding (ANR)", "anr")
        if f"Application Error: {package}" in focus:
            return self._found("the app crashed: the system shows its crash dialog", "crash")
        if not self._ping():
            return self._found("the UI server is dead: uiautomator2 does not answer /ping", "ui")
        dialog = _system_dialog(self._tree())
        if dialog:
            kind = "anr" if "responding" in dialog[0] else "crash"
            return self._found(f"the system dialog '{dialog[0]}' is on the screen", kind)
        return None

    def _found(self, problem: str, kind: str) -> str:
        self._diagnosis[problem] = kind
        return problem

    def _focused_window(self) -> str:
        out = self._sh(["dumpsys", "window", "windows"])[1]
        return "\n".join(line for line in out.splitlines() if "mCurrentFocus" in line)

    def recover(self, app: str, problem: str) -> str:
        kind = self._diagnosis.pop(problem, None)
        if kind is None:
            raise DriverError(f"cannot recover from: {problem} (not something this driver found)")
        deadline = time.monotonic() + RECOVER_SECONDS
        done = []
        if kind == "ui" or not self._ping():
            self._restart_ui_server()
            done.append("restarted the UI server")
        if kind in ("crash", "anr"):
            package, _ = _app(app)
            if self._close_system_dialog():
                done.append("closed the system dialog")
            self._sh(["am", "force-stop", package])
            self._pids.pop(package, None)
            self.launch(app, timeout=max(1.0, deadline - time.monotonic()))
            done.append(f"restarted the app (process {self._pids[package]})")
        return ", ".join(done)

    def _restart_ui_server(self) -> None:
        if self.u2 is None:
            self.start()
            return
        ui = self.u2
        try:
            ui.stop_uiautomator(wait=False)
        except _TRANSPORT_ERRORS:
            pass
        self._ui("restarting the uiautomator2 server", ui.start_uiautomator)

    def _close_system_dialog(self) -> bool:
        """Tap the crash or ANR dialog's "Close app" button when the dialog is up."""
        root = self._tree()
        dialog = _system_dialog(root)
        if not dialog:
            return False
        for node in dialog[1].iter("node"):
            if node.get("resource-id") == "android:id/aerr_close":
                left, top, right, bottom = _bounds(node.get("bounds", "")) or (0, 0, 0, 0)
                self._ui("closing the system dialog", self.u2.click, (left + right) // 2, (top + bottom) // 2)
                return True
        self._ui("closing the system dialog", self.u2.press, "back")
        return True


def _node_matches(node, kind: str, value: str) -> bool:
    if kind == "id":
        resource = node.get("resource-id", "")
        return resource == value or (":id/" not in value and resource.endswith(":id/" + value))
    if kind == "text":
        return _squash(node.get("text", "")) == _squash(value)
    return node.get("content-desc", "") == value


def _system_dialog(root):
    """(title, window node) of the system's crash or ANR dialog when one is on screen."""
    for window in root:
        for node in window.iter("node"):
            if node.get("package") == "android" and SYSTEM_DIALOG.search(node.get("text", "")):
                return node.get("text"), window
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _parse_logcat(text: str) -> list[tuple[int, str, dict]]:
    """(ms, raw header, entry) per message of `logcat -v threadtime -v epoch`; the lines of one multi-line
    message (a stack trace) share their header and become one entry."""
    entries: list[tuple[int, str, dict]] = []
    previous = None
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            continue
        seconds, millis, pid, tid, level, tag, message = match.groups()
        at = int(seconds) * 1000 + int(millis)
        header = (at, pid, tid, level, tag)
        if header == previous:
            entries[-1][2]["text"] += "\n" + message
            continue
        previous = header
        entries.append((at, line, {"at": at, "level": LEVELS[level], "text": f"{tag}: {message}"}))
    return entries


# -- the proxy setting ------------------------------------------------------------------------------------------

def _put_proxy(adb, device, value: str) -> None:
    code, out = _shell(adb, device, ["settings", "put", "global", "http_proxy", value])
    now = _shell(adb, device, ["settings", "get", "global", "http_proxy"])[1].strip()
    if code != 0 or now != value:
        raise DriverError(f"settings put global http_proxy {value} did not take on {device.serial}: "
                          f"{_last_line(out) if code else f'it reads {now!r}'}")


def _clear_proxy(adb, device, *, also_port: int | None = None) -> list[str]:
    """Clear the proxy setting and the adb reverse behind it (the port a loopback setting names, and also_port)."""
    current = _shell(adb, device, ["settings", "get", "global", "http_proxy"])[1].strip()
    _put_proxy(adb, device, ":0")
    done = [f"http_proxy {current or 'null'} -> :0"]
    host, _, port = current.rpartition(":")
    ports = {also_port} if also_port else set()
    if host in ("127.0.0.1", "localhost") and port.isdigit() and int(port):
        ports.add(int(port))
    for number in sorted(ports):
        try:
            device.reverse_remove(f"tcp:{number}")
            done.append(f"adb reverse tcp:{number} removed")
        except adbutils.AdbError as exc:
            if "not found" not in str(exc):
                raise _failure(adb, device.serial, f"adb reverse --remove tcp:{number}", exc) from None
        except _TRANSPORT_ERRORS as exc:
            raise _failure(adb, device.serial, f"adb reverse --remove tcp:{number}", exc) from None
    return done


def clear_proxy_setting(serial: str, adb=None) -> str:
    """Clear a proxy setting this agent may have left on the device (it crashed during a run): the global
    http_proxy goes to ':0' and the adb reverse its loopback port used is removed. Says what it did."""
    adb = adb_client(adb)
    return f"{serial}: " + "; ".join(_clear_proxy(adb, adb.device(serial)))


# -- discovery ----------------------------------------------------------------------------------------------

DISCOVERY_TIMEOUT = 5.0


def discover(adb=None) -> list[dict]:
    """A device report (docs/devices.md) for every Android device adb lists as ready; the others are logged
    with what to do about them (an unauthorized phone waits for its USB debugging prompt)."""
    adb = adb_client(adb)
    try:
        listed = adb.list()
    except _TRANSPORT_ERRORS as exc:
        log.warning("the adb server is not answering (%s): no Android devices", exc)
        return []
    reports = []
    for info in listed:
        if info.state != "device":
            log.warning("Android device %s is %s: %s", info.serial, info.state,
                        STATE_HINTS.get(info.state, "it is not ready"))
            continue
        try:
            reports.append(device_report(adb, info.serial))
        except DriverError as exc:  # unplugged between the listing and the questions
            log.warning("Android device %s could not be read: %s", info.serial, exc)
    return reports


def device_report(adb, serial: str) -> dict:
    device = adb.device(serial)

    # Short timeouts: discovery runs at every heartbeat, which must not wait on a stuck phone past its lease.
    def prop(name: str) -> str:
        return _shell(adb, device, ["getprop", name], timeout=DISCOVERY_TIMEOUT)[1].strip()

    model = prop("ro.product.model") or "Android device"
    size = re.search(r"(?:Override|Physical) size: (\d+x\d+)",
                     _shell(adb, device, ["wm", "size"], timeout=DISCOVERY_TIMEOUT)[1])
    level = re.search(r"^\s*level: (\d+)", _shell(adb, device, ["dumpsys", "battery"],
                                                     timeout=DISCOVERY_TIMEOUT)[1], re.M)
    return {"platform": "android", "serial": serial, "name": model, "model": model,
            "os_version": f"Android {prop('ro.build.version.release')}".strip(),
            "labels": ["android"] + (["emulator"] if prop("ro.kernel.qemu") == "1" else []),
            "screen": size.group(1) if size else "", "battery": min(100, int(level.group(1))) if level else None,
            "proxy": "auto"}


# -- HTTPS check ----------------------------------------------------------------------------------------------

def https_probe(driver: AndroidDriver, proxy, *, timeout: float = 10.0) -> tuple[bool, str]:
    """Whether HTTPS through the proxy works on the phone: its browser opens the proxy's probe URL over
    HTTPS; when that never arrives, over plain HTTP tells an untrusted CA from a proxy the phone does not use.
    `proxy` answers probe_seen(nonce) (device_agent.proxy.ProxyProcess)."""
    where = driver.describe()
    secure = secrets.token_hex(8)
    driver.open_url(PROBE_URL.format(scheme="https", nonce=secure))
    if _seen(proxy, secure, timeout):
        return True, f"HTTPS interception works on {where}"
    plain = secrets.token_hex(8)
    driver.open_url(PROBE_URL.format(scheme="http", nonce=plain))
    if _seen(proxy, plain, timeout):
        return False, (f"HTTPS through the proxy fails on {where}: the phone does not trust the proxy's CA: install "
                       f"it (trackreplay agent install-ca --device {driver.serial}; --system on an emulator or "
                       f"rooted phone)")
    setting = driver._sh(["settings", "get", "global", "http_proxy"])[1].strip()
    return False, (f"no request from {where} arrived through the proxy: is the proxy setting applied? (the phone's "
                   f"http_proxy is {setting or 'null'!r}; its browser may also be waiting on a first-run screen)")


def _seen(proxy, nonce: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if proxy.probe_seen(nonce):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


# -- the proxy's CA ----------------------------------------------------------------------------------------------

def subject_hash_old(pem: bytes) -> str:
    """OpenSSL's old subject hash (`openssl x509 -subject_hash_old`), which names Android's system CA files:
    the first four bytes of the MD5 of the DER subject, little-endian, as eight hex digits."""
    digest = hashlib.md5(_certificate(pem).subject.public_bytes()).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _certificate(pem: bytes):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise DriverError(f"the CA is not a PEM certificate: {exc}") from None


def install_ca(serial: str, pem: bytes, *, system: bool = False, adb=None) -> str:
    """Put the proxy's CA on the phone. User store: push it to the Download folder, open the certificate
    installer and say how to finish (Android 11+ installs CA certificates only from Settings, by hand). System
    store: only on an emulator or rooted phone; copied into /system/etc/security/cacerts/<hash>.0."""
    _certificate(pem)
    adb = adb_client(adb)
    _require_attached(adb, serial)
    device = adb.device(serial)

    def prop(name: str) -> str:
        return _shell(adb, device, ["getprop", name])[1].strip()

    where = f"{prop('ro.product.model') or 'Android device'} ({serial})"
    sdk = int(prop("ro.build.version.sdk") or 0)
    if system:
        return _install_system_ca(adb, device, pem, where, sdk, prop)
    _push(adb, device, pem, CERT_ON_PHONE)
    code, out = _shell(adb, device, ["am", "start", "-n", CERT_INSTALLER, "-a", "android.intent.action.VIEW",
                                     "-t", "application/x-x509-ca-cert", "-d", f"file://{CERT_ON_PHONE}"])
    opened = code == 0 and "Error" not in out
    steps = [f"The proxy's CA is on {where} as {CERT_ON_PHONE}"
             + (" and the certificate installer is open." if opened else
                f"; the certificate installer did not open ({_last_line(out)})."),
             "Finish on the phone:"]
    if sdk >= 30:
        steps += ["  1. Settings > Security > Encryption & credentials > Install a certificate > CA certificate",
                  "     (Android 11 and later install CA certificates only there; the path differs a little by",
                  "     vendor: search Settings for \"CA certificate\").",
                  "  2. Tap \"Install anyway\", confirm with the screen lock, pick Download/trackreplay-ca.crt."]
    else:
        steps += ["  1. In the installer, name the certificate (trackreplay) and choose \"VPN and apps\".",
                  "  2. Confirm with the screen lock (the phone asks for one if it has none)."]
    steps += ["  3. Check: Encryption & credentials > Trusted credentials > User lists the certificate.",
              "The user store is trusted by the phone's browser and by app builds whose network_security_config "
              "trusts user certificates; release builds trust only the system store (--system, on an emulator "
              "or rooted phone)."]
    return "\n".join(steps)


def _push(adb, device, data: bytes, path: str) -> None:
    try:
        device.sync.push(data, path, mode=0o644)
    except _TRANSPORT_ERRORS as exc:
        raise _failure(adb, device.serial, f"adb push {path}", exc) from None


def _install_system_ca(adb, device, pem: bytes, where: str, sdk: int, prop) -> str:
    if sdk >= 34:
        raise DriverError(f"{where} runs Android 14 or later (API {sdk}), which reads system CAs from the "
                          f"Conscrypt APEX: a file in {SYSTEM_CACERTS} does not reach apps. Use an emulator image of "
                          f"Android 13 (API 33) or older for --system, or the user store with an app build that "
                          f"trusts user certificates")
    target = f"{SYSTEM_CACERTS}/{subject_hash_old(pem)}.0"
    with_su = "uid=0" in _shell(adb, device, ["su", "0", "id"])[1]
    if not with_su:
        debuggable, qemu = prop("ro.debuggable"), prop("ro.kernel.qemu")
        if debuggable != "1" and qemu != "1":
            raise DriverError(f"{where} is neither an emulator nor rooted (no su; ro.debuggable={debuggable or 0}): "
                              f"its system store cannot be written. Install the CA into the user store instead "
                              f"(without --system)")
        _adb_root(adb, device, where)
    _push(adb, device, pem, CERT_STAGING)
    copy = f"cp {CERT_STAGING} {target} && chmod 644 {target}"
    if with_su:
        code, out = _shell(adb, device, ["su", "0", "sh", "-c",
                                         f"mount -o rw,remount /system || mount -o rw,remount /; {copy}"])
    else:
        code, out = _shell(adb, device, copy)
    _shell(adb, device, ["rm", "-f", CERT_STAGING])
    if code != 0:
        raise DriverError(f"copying the CA into the system store of {where} failed: {_last_line(out)}")
    if _shell(adb, device, ["ls", target])[0] != 0:
        raise DriverError(f"the CA is not in the system store of {where} after the copy ({target} is missing)")
    return (f"The proxy's CA is in the system store of {where} as {target}. Apps started from now on trust it "
            f"(restart any that are running).")


def _adb_root(adb, device, where: str) -> None:
    """adbd as root, then /system remounted read-write (an emulator started with -writable-system)."""
    try:
        answer = device.root()
    except _TRANSPORT_ERRORS as exc:
        raise _failure(adb, device.serial, "adb root", exc) from None
    if "cannot" in answer:
        raise DriverError(f"adb root refused on {where}: {_last_line(answer)}")
    deadline = time.monotonic() + 20
    while not _attached(adb, device.serial):  # adbd restarts as root: the device leaves adb for a moment
        if time.monotonic() >= deadline:
            raise DeviceGone(f"{where} did not come back after adb root")
        time.sleep(0.5)
    try:
        with device.open_transport() as connection:
            connection.send_command("remount:")
            connection.check_okay()
            answer = connection.read_until_close()
    except _TRANSPORT_ERRORS as exc:
        raise _failure(adb, device.serial, "adb remount", exc) from None
    if "remount succeeded" not in answer.lower():
        raise DriverError(f"adb remount failed on {where}: {_last_line(answer)} (start the emulator with "
                          f"-writable-system)")
