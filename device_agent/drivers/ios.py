"""The iOS driver: WebDriverAgent (WDA) on the iPhone, driven through facebook-wda.

WDA is an XCUITest runner that serves HTTP on the phone (port 8100). It is reached either at a URL (iOS 17+,
where pymobiledevice3 or go-ios start WDA and forward its port: docs/devices.md) or, below iOS 17, through
usbmuxd: `http+usbmux://UDID:8100` makes this driver open a local port relayed to the phone's 8100 through
tidevice's usbmux client, as `tidevice relay` and iproxy do. facebook-wda's client does the HTTP, WDA's
session bookkeeping and the decoding of WDA's errors; the driver calls WDA's routes through it with timeouts
of its own, because the library's named helpers wait up to 180 s on a request.

Locators on iOS: `accessibility_id` is the XCUI `name` (the accessibility identifier, or the label when there
is none), `text` the label, `xpath` runs on WDA's XCUI source, `class_chain` and `predicate` are WDA's own
query languages, `point` a screen position in points. `id` and `css` do not exist on iOS and are refused.

What iOS does not allow, and what the driver does instead:
- no proxy setting from outside: set_proxy records the address the phone must use (set by hand in its Wi-Fi
  settings); a run checks it with proxy_probe() before its first step. clear_proxy has nothing to undo.
- no way to clear an app's data short of reinstalling it: `launch: {clear_state: true}` and clear_app() fail
  with a DriverError saying so, instead of quietly starting with yesterday's data.
- no back key: back() taps the navigation bar's back button when there is one, else swipes from the left edge
  (the system's swipe-back gesture).
- no system log through WDA: logs() is what the driver itself saw (WDA answering or relaunched, apps
  launched, recoveries). Reading syslog needs a paired lockdown session, which this driver does not open.

Protection: WDA is checked when the driver starts and relaunched when it does not answer, through the device's
`relaunch` (a callable, or a command such as `tidevice -u UDID wdaproxy -B BUNDLE --port 8100` that the driver
starts and stops with itself). health() tells a dead WDA, a crashed app (app state 1: not running), an app
in the background and a hung app (WDA cannot read its screen) apart; recover() relaunches WDA or the app.
A phone that is no longer attached raises DeviceGone."""

from __future__ import annotations

import base64
import logging
import secrets
import selectors
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import wda
from tidevice import Device, MuxReplyError, Usbmux
from tidevice._proto import MODELS
from wda.exceptions import WDAError, WDARequestError
from wda.usbmux.exceptions import HTTPError

from ..flows import Locator, Point
from ..lifeline import tethered
from .base import DeviceGone, Driver, DriverError

log = logging.getLogger(__name__)

WDA_PORT = 8100
PROBE_HOST = "trackreplay.control"
STRATEGIES = {"accessibility_id": "accessibility id", "xpath": "xpath", "class_chain": "class chain",
              "predicate": "predicate string"}
NOT_IOS = {"id": "iOS elements have no resource id: use accessibility_id (the accessibility identifier)",
           "css": "css selects web pages only: use class_chain, predicate or xpath"}
APP_STATES = {0: "unknown", 1: "not running", 2: "suspended in the background", 3: "running in the background",
              4: "running in the foreground"}


def _same_udid(a: str, b: str) -> bool:
    return a.replace("-", "").lower() == b.replace("-", "").lower()


def _usbmux_udids(address: str | None) -> list[str]:
    return [info.udid for info in Usbmux(address).device_list()]


class UsbmuxRelay:
    """A local TCP port that reaches a port on the phone through usbmuxd. Each connection is relayed on its own
    usbmux connection; `failure` says why the last one could not be made (the phone's port closed: WDA is not
    running), since the HTTP client only sees the connection close."""

    def __init__(self, udid: str, device_port: int, usbmux: str | None = None):
        self.udid, self.device_port, self.usbmux = udid, device_port, usbmux
        self.failure = ""
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self) -> int:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._spawn(self._accept)
        return self._listener.getsockname()[1]

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=f"usbmux-relay-{self.udid[:8]}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._relay, client)

    def _relay(self, client: socket.socket) -> None:
        with client:
            mux = Usbmux(self.usbmux)
            try:
                device = next((d for d in mux.device_list() if _same_udid(d.udid, self.udid)), None)
                if device is None:
                    self.failure = f"{self.udid} is not attached (usbmuxd does not list it)"
                    return
                connection = mux.connect_device_port(device.device_id, self.device_port)
            except MuxReplyError as exc:
                self.failure = (f"usbmuxd could not connect to port {self.device_port} on {self.udid}: "
                                f"{exc.reply_code.name}")
                return
            except OSError as exc:
                self.failure = f"usbmuxd at {self.usbmux or '/var/run/usbmuxd'} does not answer: {exc}"
                return
            self.failure = ""
            with self._lock:
                self._sockets.add(client)
            try:
                self._pump(client, connection.get_socket())
            finally:
                with self._lock:
                    self._sockets.discard(client)
                connection.close()

    def _pump(self, client: socket.socket, device: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, device)
            selector.register(device, selectors.EVENT_READ, client)
            while not self._closing.is_set():
                for key, _ in selector.select(timeout=0.1):
                    try:
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
                    except OSError:
                        return

    def close(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            threads = list(self._threads)
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in threads:
            thread.join(timeout=5)


@dataclass(frozen=True)
class IOSElement:
    """An element WDA found: its id in WDA's element cache, and how it was found (for error messages)."""

    id: str
    locator: Locator


class IOSDriver(Driver):
    platform = "ios"

    def __init__(self, udid: str, *, wda_url: str | None = None, relaunch: Callable[[], object] | str | None = None,
                 usbmux: str | None = None, wda_wait: float = 60.0, request_timeout: float = 30.0,
                 health_timeout: float = 5.0):
        if relaunch is not None and not callable(relaunch) and not (isinstance(relaunch, str) and relaunch.strip()):
            raise ValueError(f"relaunch for {udid} must be a callable or a command line, not {relaunch!r}")
        self.udid = udid
        self.wda_url = wda_url or f"http+usbmux://{udid}:{WDA_PORT}"
        scheme = urlsplit(self.wda_url).scheme
        if scheme not in ("http", "https", "http+usbmux"):
            raise ValueError(f"WDA URL for {udid} must be http://, https:// or http+usbmux://, not {self.wda_url!r}")
        self.relaunch = relaunch
        self.usbmux = usbmux
        self.wda_wait = wda_wait
        self.request_timeout = request_timeout
        self.health_timeout = health_timeout
        self.proxy: tuple[str, int] | None = None
        self.client: wda.Client | None = None
        self._relay: UsbmuxRelay | None = None
        self._url = ""
        self._process: subprocess.Popen | None = None
        self._process_output = None
        self._logs: list[dict] = []
        self._window: tuple[int, int] | None = None
        self._pid: int | None = None
        self._problem = ""
        self._name = ""

    # life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.client is not None:
            return
        if urlsplit(self.wda_url).scheme == "http+usbmux":
            netloc = urlsplit(self.wda_url).netloc
            udid, _, port = netloc.rpartition(":")
            self._relay = UsbmuxRelay(udid or self.udid, int(port or WDA_PORT), self.usbmux)
            self._url = f"http://127.0.0.1:{self._relay.start()}"
        else:
            self._url = self.wda_url.rstrip("/")
        self.client = wda.Client(self._url)
        try:
            status = self._status()
        except Exception as exc:
            self._log("W", f"WebDriverAgent does not answer at {self.wda_url}: {self._why(exc)}")
            self._revive(f"WebDriverAgent does not answer at {self.wda_url} ({self._why(exc)})")
            status = self._call("GET", "/status", session=False, timeout=self.health_timeout,
                                what="checking WebDriverAgent")
        self._log("I", f"WebDriverAgent answers at {self.wda_url}: iOS {status.get('os', {}).get('version', '?')}")

    def close(self) -> None:
        self.client = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        self._stop_process()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._process_output is not None:
            self._process_output.close()
            self._process_output = None

    # WDA's health -----------------------------------------------------------------------------------------------
    def _status(self) -> dict:
        return self.client.http.get("status", timeout=self.health_timeout).value

    def _present(self) -> bool | None:
        """Whether usbmuxd lists the phone; None when there is no usbmuxd to ask (a phone reached only over a
        network tunnel)."""
        try:
            return any(_same_udid(udid, self.udid) for udid in _usbmux_udids(self.usbmux))
        except Exception:
            return None

    def _why(self, exc: Exception) -> str:
        """Why a request got no answer: through usbmuxd the relay knows better than the closed connection."""
        if self._relay is not None and self._relay.failure:
            return self._relay.failure
        return _cause(exc)

    def _revive(self, why: str) -> None:
        """Relaunch WDA, or say why the run cannot go on: DeviceGone when the phone is not there."""
        if self._present() is False:
            raise DeviceGone(f"{self.udid} is no longer attached: {why}")
        if self.relaunch is None:
            raise DriverError(f"{why}: start WebDriverAgent on the phone (docs/devices.md) or give the device a "
                              f"relaunch command")
        try:
            self._relaunch_wda()
        except Exception as exc:
            present = self._present()
            if present is False:
                raise DeviceGone(f"{self.udid} is no longer attached: {why}") from None
            if present is None:  # nothing else to ask: the tunnel or the phone itself is gone
                raise DeviceGone(f"{why}, and it could not be relaunched ({_cause(exc)}): the iPhone was unplugged "
                                 f"or its tunnel is gone") from None
            raise DriverError(f"{why}, and it could not be relaunched: {_cause(exc)}") from None

    def _relaunch_wda(self) -> None:
        if callable(self.relaunch):
            self.relaunch()
        else:
            self._stop_process()
            self._process_output = tempfile.TemporaryFile()
            argv, preexec = tethered(shlex.split(self.relaunch))
            self._process = subprocess.Popen(argv, stdout=self._process_output, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, preexec_fn=preexec)
        deadline = time.monotonic() + self.wda_wait
        while True:
            try:
                self._status()
                break
            except Exception as exc:
                if self._process is not None and self._process.poll() is not None:
                    raise DriverError(f"`{self.relaunch}` exited with {self._process.returncode}: "
                                      f"{self._output_tail()}") from None
                if time.monotonic() >= deadline:
                    raise DriverError(f"WebDriverAgent did not answer within {self.wda_wait:g} s of its relaunch: "
                                      f"{_cause(exc)}") from None
                time.sleep(0.2)
        self._window = None
        if self.client is not None:
            self.client.session_id = None  # the old session died with the old WDA
        self._log("W", "relaunched WebDriverAgent")

    def _output_tail(self) -> str:
        self._process_output.seek(0)
        lines = self._process_output.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"

    def health(self, app: str) -> str | None:
        self._problem = ""
        try:
            self._status()
        except Exception as exc:
            if self._present() is False:
                raise DeviceGone(f"{self.udid} is no longer attached") from None
            self._problem = "wda"
            return f"WebDriverAgent is not answering at {self.wda_url} ({self._why(exc)})"
        state = self._call("POST", "/wda/apps/state", {"bundleId": app}, what=f"reading the state of {app}")
        if state in (0, 1):
            self._problem = "crashed"
            return (f"the app crashed: process {self._pid} is gone" if self._pid else
                    f"the app is not running ({app} is {APP_STATES.get(state, state)})")
        if state in (2, 3):
            self._problem = "background"
            front = self._call("GET", "/wda/activeAppInfo", session=False, what="reading the app in front")
            return f"the app is in the background: {front.get('bundleId') or 'another app'} is in front"
        try:
            self._call("GET", "/source", session=False, timeout=self.health_timeout, what="reading the screen")
        except DeviceGone:
            raise
        except DriverError as exc:
            self._problem = "hung"
            return f"the app is not responding: WDA could not read its screen ({exc})"
        return None

    def recover(self, app: str, problem: str) -> str:
        kind, self._problem = self._problem, ""
        if kind == "wda":
            self._revive(problem)
            return "relaunched WebDriverAgent"
        if kind == "crashed":
            self.launch(app)
            return f"launched the app again (process {self._pid})"
        if kind == "background":
            self._call("POST", "/wda/apps/activate", {"bundleId": app}, what=f"bringing {app} to the front")
            return "brought the app back to the front"
        if kind == "hung":
            self._call("POST", "/wda/apps/terminate", {"bundleId": app}, what=f"terminating {app}")
            self.launch(app)
            return f"terminated the app and launched it again (process {self._pid})"
        raise DriverError(f"cannot recover from: {problem}")

    # talking to WDA ---------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, data: dict | None = None, *, what: str, session: bool = True,
              timeout: float | None = None):
        """One WDA request through facebook-wda (its session handling and error decoding), errors in words."""
        if self.client is None:
            raise DriverError(f"{what}: the driver is not started")
        transport = self.client._session_http if session else self.client.http  # the only calls that take a timeout
        try:
            return transport.fetch(method, path, data, timeout=timeout or self.request_timeout).value
        except Exception as exc:
            raise self._failure(what, exc) from None

    def _failure(self, what: str, exc: Exception) -> DriverError:
        if isinstance(exc, WDARequestError):
            value = exc.value if isinstance(exc.value, dict) else {"message": str(exc.value)}
            return DriverError(f"{what}: WDA answered {value.get('error', 'an error')}: {value.get('message', '')}")
        if isinstance(exc, (HTTPError, WDAError, OSError)):
            if self._present() is False:
                return DeviceGone(f"{self.udid} is no longer attached ({what})")
            return DriverError(f"{what}: WebDriverAgent at {self.wda_url} did not answer ({self._why(exc)})")
        return DriverError(f"{what}: {type(exc).__name__}: {exc}")

    def _log(self, level: str, text: str) -> None:
        self._logs.append({"at": int(time.time() * 1000), "level": level, "text": text})

    @property
    def name(self) -> str:
        """The phone's name as set in its settings (for messages), or its UDID."""
        if not self._name:
            try:
                self._name = self._call("GET", "/wda/device/info", what="reading the device's name")["name"]
            except (DriverError, KeyError, TypeError):
                return self.udid
        return self._name

    def window(self) -> tuple[int, int]:
        if self._window is None:
            size = self._call("GET", "/window/size", what="reading the screen size")
            self._window = (round(size["width"]), round(size["height"]))
        return self._window

    # proxy --------------------------------------------------------------------------------------------------
    def set_proxy(self, host: str, port: int) -> None:
        """iOS takes no proxy setting from outside: record what the phone must be set to (the run probes it)."""
        self.proxy = (host, port)
        self._log("I", f"the iPhone must send its traffic through {host}:{port} (set by hand in its Wi-Fi settings)")

    def clear_proxy(self) -> None:
        """Nothing to undo: the driver never changed the phone's setting."""

    def open_url(self, url: str) -> None:
        """Open the address in Safari (WDA's /url)."""
        self._call("POST", "/url", {"url": url}, what=f"opening {url}")

    # app ------------------------------------------------------------------------------------------------------
    def launch(self, app: str, *, clear_state: bool = False, timeout: float = 30) -> None:
        if clear_state:
            raise DriverError(f"clear_state is not supported on iOS: an app's data can only be cleared by "
                              f"reinstalling {app}; reinstall it before the run and launch without clear_state")
        self.start()
        what = f"launching {app}"
        try:
            session = self.client.session(app)  # WDA launches the app fresh (a running one is terminated first)
        except Exception as exc:
            raise self._failure(what, exc) from None
        self.client.session_id = session.session_id
        deadline = time.monotonic() + timeout
        while (state := self._call("POST", "/wda/apps/state", {"bundleId": app}, what=what)) != 4:
            if time.monotonic() >= deadline:
                raise DriverError(f"{app} did not come to the front within {timeout:g} s (it is "
                                  f"{APP_STATES.get(state, state)})")
            time.sleep(0.2)
        front = self._call("GET", "/wda/activeAppInfo", session=False, what=what)
        self._pid = front.get("pid") if front.get("bundleId") == app else None
        self._log("I", f"launched {app} (process {self._pid})")

    def stop_app(self, app: str) -> None:
        self._call("POST", "/wda/apps/terminate", {"bundleId": app}, what=f"terminating {app}")

    def clear_app(self, app: str) -> None:
        raise DriverError(f"cannot clear {app} on iOS: an app's data can only be cleared by reinstalling it")

    # elements -----------------------------------------------------------------------------------------------
    def find_once(self, locator: Locator):
        if locator.kind == "point":
            return locator.value
        if locator.kind in NOT_IOS:
            raise DriverError(f"{locator}: `{locator.kind}` is not an iOS locator ({NOT_IOS[locator.kind]})")
        if locator.kind == "text":
            using, value = "link text", f"label={locator.value}"
        elif locator.kind in STRATEGIES:
            using, value = STRATEGIES[locator.kind], str(locator.value)
        else:
            raise DriverError(f"{locator}: unknown locator kind {locator.kind!r} (iOS takes accessibility_id, text, "
                              f"xpath, class_chain, predicate, point)")
        found = self._call("POST", "/elements", {"using": using, "value": value}, what=f"finding {locator}")
        for reference in found[:20]:
            element = IOSElement(reference["ELEMENT"], locator)
            try:
                if self._call("GET", f"/element/{element.id}/displayed", what=f"checking {locator}"):
                    return element
            except DeviceGone:
                raise
            except DriverError:  # gone between the search and the check: not visible
                continue
        return None

    def in_viewport(self, element) -> bool:
        if isinstance(element, Point):
            return True
        rect = self._call("GET", f"/element/{element.id}/rect", what=f"reading where {element.locator} is")
        width, height = self.window()
        return (rect["width"] > 0 and rect["height"] > 0 and rect["x"] < width and rect["y"] < height
                and rect["x"] + rect["width"] > 0 and rect["y"] + rect["height"] > 0)

    def text_of(self, element) -> str:
        if isinstance(element, Point):
            raise DriverError("a point has no text")
        return self._call("GET", f"/element/{element.id}/text", what=f"reading the text of {element.locator}") or ""

    # actions ------------------------------------------------------------------------------------------------
    def _xy(self, point: Point) -> tuple[int, int]:
        x, y = point.resolve(*self.window())
        return round(x), round(y)

    def tap(self, element) -> None:
        if isinstance(element, Point):
            self.tap_point(element)
            return
        self._call("POST", f"/element/{element.id}/click", what=f"tapping {element.locator}")

    def tap_point(self, point: Point) -> None:
        x, y = self._xy(point)
        self._call("POST", "/wda/tap", {"x": x, "y": y}, what=f"tapping {point}")

    def long_press(self, element, duration: float) -> None:
        if isinstance(element, Point):
            x, y = self._xy(element)
            self._call("POST", "/wda/touchAndHold", {"x": x, "y": y, "duration": duration},
                       what=f"pressing {element}")
        else:
            self._call("POST", f"/wda/element/{element.id}/touchAndHold", {"duration": duration},
                       what=f"pressing {element.locator}")

    def input(self, element, text: str, *, clear: bool = True) -> None:
        if isinstance(element, Point):
            raise DriverError("type into an element, not a point: tap the point first, then input without a target")
        if element is None:
            if not clear:
                self._call("POST", "/wda/keys", {"value": list(text)}, what="typing into the focused field")
                return
            try:
                reference = self._call("GET", "/element/active", what="finding the focused field")
            except DeviceGone:
                raise
            except DriverError as exc:
                raise DriverError(f"no text field has the keyboard focus: tap one first or give the input step a "
                                  f"target ({exc})") from None
            element = IOSElement(reference["ELEMENT"], Locator("accessibility_id", "the focused field"))
        if clear:
            self._call("POST", f"/element/{element.id}/clear", what=f"clearing {element.locator}")
        self._call("POST", f"/element/{element.id}/value", {"value": list(text)}, what=f"typing into {element.locator}")

    def _drag(self, start: tuple[int, int], end: tuple[int, int], duration: float, what: str) -> None:
        self._call("POST", "/wda/dragfromtoforduration", {"fromX": start[0], "fromY": start[1], "toX": end[0],
                                                          "toY": end[1], "duration": duration}, what=what)

    def swipe(self, start: Point, end: Point, duration: float) -> None:
        self._drag(self._xy(start), self._xy(end), duration, f"swiping from {start} to {end}")

    def scroll(self, direction: str) -> None:
        width, height = self.window()
        near, far = (width // 6, width * 5 // 6) if direction in ("left", "right") else (height // 6, height * 5 // 6)
        # The finger moves against the direction: to see what is below, it goes up the screen.
        begin, finish = (far, near) if direction in ("down", "right") else (near, far)
        if direction in ("left", "right"):
            self._drag((begin, height // 2), (finish, height // 2), 0.1, f"scrolling {direction}")
        else:
            self._drag((width // 2, begin), (width // 2, finish), 0.1, f"scrolling {direction}")

    def back(self) -> None:
        """The navigation bar's back button when there is one (at its left end), else the swipe from the left
        edge that every UINavigationController answers."""
        width, height = self.window()
        found = self._call("POST", "/elements", {"using": "class chain",
                                                 "value": "**/XCUIElementTypeNavigationBar/XCUIElementTypeButton[1]"},
                           what="finding the navigation bar's back button")
        for reference in found[:1]:
            rect = self._call("GET", f"/element/{reference['ELEMENT']}/rect", what="reading the back button")
            if rect["x"] < width / 3:
                self._call("POST", f"/element/{reference['ELEMENT']}/click", what="tapping the back button")
                return
        self._drag((1, height // 2), (width * 7 // 10, height // 2), 0.05, "swiping back from the left edge")

    def wait_settled(self, *, quiet: float = 0.3, timeout: float = 5.0) -> bool:
        """Until WDA's source of the screen stays the same for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            try:
                current = self._call("GET", "/source", session=False, timeout=max(1.0, timeout),
                                     what="reading the screen")
            except DeviceGone:
                raise
            except DriverError:
                current = None  # no answer (a hung app): not settled
            now = time.monotonic()
            if current is None or current != last:
                last, since = current, now
            elif now - since >= quiet:
                return True
            if now >= deadline:
                return False
            time.sleep(min(0.1, quiet / 3))

    # evidence ---------------------------------------------------------------------------------------------------
    def screenshot(self, path: str) -> None:
        png = base64.b64decode(self._call("GET", "/screenshot", session=False, what="taking a screenshot"))
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise DriverError("WDA's screenshot is not a PNG")
        with open(path, "wb") as fh:
            fh.write(png)

    def hierarchy(self) -> str:
        return self._call("GET", "/source", session=False, what="reading the screen")

    def logs(self) -> list[dict]:
        """What the driver observed (WDA relaunches, app launches): WDA gives no access to the phone's syslog."""
        return list(self._logs)


def _cause(exc: BaseException) -> str:
    """The root of facebook-wda's wrapped errors, in one line: 'ConnectionRefusedError: [Errno 111] ...'."""
    while isinstance(exc, HTTPError) and exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- discovery ---------------------------------------------------------------------------------------------------

def discover(*, wda_urls: dict[str, str] | None = None, usbmux: str | None = None, usb: bool = True,
             timeout: float = 5.0) -> list[dict]:
    """Device reports for the iPhones this host can drive: those usbmuxd lists (below iOS 17 WDA is reached
    through usbmuxd; iOS 17+ needs a WDA URL) and those given by WDA URL (`{udid: url}`). `usb=False` offers
    only the phones given by URL (usbmuxd still tells their model when it lists them). A phone that cannot be
    driven is left out with a warning in the log saying why. `usbmux` is usbmuxd's address (a unix socket path
    or host:port); without it the system's, when there is one."""
    urls = dict(wda_urls or {})
    reports = []
    for udid in _listed(usbmux):
        url = next((urls.pop(key) for key in list(urls) if _same_udid(key, udid)), None)
        if url is None and not usb:
            continue
        try:
            device = Device(udid, usbmux=usbmux)
            name, product, version = device.name, device.product_type, device.product_version
        except Exception as exc:
            if url is not None:
                urls[udid] = url  # WDA alone tells about it, below
                continue
            log.warning("iPhone %s is attached but its lockdown service does not answer (%s): not listed; is it "
                        "unlocked and does it trust this computer?", udid, _cause(exc))
            continue
        if url is None and _major(version) >= 17:
            log.warning("iPhone %s runs iOS %s: from iOS 17 WDA is reached through a URL; start it with "
                        "pymobiledevice3 or go-ios and give the agent --wda %s=URL (docs/devices.md)",
                        udid, version, udid)
            continue
        url = url or f"http+usbmux://{udid}:{WDA_PORT}"
        facts = _wda_facts(udid, url, usbmux, timeout)
        reports.append(_report(udid, name or facts.get("name", ""), MODELS.get(product, product), version,
                               facts.get("screen", ""), facts.get("battery"), url))
    for udid, url in urls.items():
        facts = _wda_facts(udid, url, usbmux, timeout)
        if not facts:
            log.warning("no WebDriverAgent answers at %s for iPhone %s: not listed", url, udid)
            continue
        reports.append(_report(udid, facts["name"], facts["model"], facts["os_version"], facts["screen"],
                               facts["battery"], url))
    return reports


def _listed(usbmux: str | None) -> list[str]:
    try:
        return _usbmux_udids(usbmux)
    except Exception as exc:
        if usbmux is not None:
            raise DriverError(f"usbmuxd does not answer at {usbmux}: {_cause(exc)}") from None
        return []  # no usbmuxd on this host: only WDA URLs


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def _report(udid, name, model, os_version, screen, battery, url) -> dict:
    return {"platform": "ios", "serial": udid, "name": name or udid, "model": model, "os_version": os_version,
            "labels": [], "screen": screen, "battery": battery, "proxy": "manual", "wda_url": url}


def _wda_facts(udid: str, url: str, usbmux: str | None, timeout: float) -> dict:
    """Name, model, OS, screen in pixels and battery as WDA tells them; {} when WDA does not answer."""
    driver = IOSDriver(udid, wda_url=url, usbmux=usbmux, request_timeout=timeout, health_timeout=timeout)
    try:
        driver.start()
        status = driver._status()
        info = driver._call("GET", "/wda/device/info", what="reading the device")
        width, height = driver.window()
        scale = driver._call("GET", "/wda/screen", what="reading the screen scale").get("scale") or 1
        level = driver._call("GET", "/wda/batteryInfo", what="reading the battery").get("level")
    except DeviceGone:
        return {}
    except DriverError as exc:
        log.info("WDA facts of %s at %s: %s", udid, url, exc)
        return {}
    finally:
        driver.close()
    battery = round(level * 100) if isinstance(level, (int, float)) and 0 <= level <= 1 else None
    return {"name": info.get("name", ""), "model": info.get("model", "iPhone"),
            "os_version": status.get("os", {}).get("version", ""), "screen": f"{width * scale}x{height * scale}",
            "battery": battery}


# -- the proxy probe --------------------------------------------------------------------------------------------

def proxy_probe(driver: IOSDriver, proxy, *, wait: float = 10.0) -> tuple[bool, str]:
    """Whether the iPhone really sends its traffic through the proxy it must be set to by hand: Safari opens
    http://trackreplay.control/probe/<nonce>, which only the proxy answers, and the proxy says whether it saw
    it. What a run on iOS does first."""
    if driver.proxy is None:
        return False, "no proxy address was given to the iOS driver (set_proxy) before the probe"
    host, port = driver.proxy
    if _probe(driver, proxy, "http", wait):
        return True, f"{driver.name} sends its traffic through the proxy at {host}:{port}"
    return False, (f"the iPhone is not using the proxy at {host}:{port}: set Settings > Wi-Fi > (network) > "
                   f"Configure Proxy > Manual, Server {host}, Port {port} on {driver.name} (docs/devices.md)")


def https_probe(driver: IOSDriver, proxy, *, wait: float = 10.0) -> tuple[bool, str]:
    """Whether HTTPS through the proxy works for Safari (the proxy's CA installed and trusted); when it does
    not, the plain-HTTP probe tells a phone not using the proxy from a phone not trusting its CA."""
    if driver.proxy is not None and _probe(driver, proxy, "https", wait):
        return True, f"HTTPS interception works on {driver.name}"
    ok, detail = proxy_probe(driver, proxy, wait=wait)
    if not ok:
        return False, detail
    return False, (f"HTTPS through the proxy does not work on {driver.name}: it uses the proxy but does not trust "
                   f"its CA. Open the console's CA page in Safari, install the profile (Settings > General > VPN & "
                   f"Device Management) and turn on full trust (Settings > General > About > Certificate Trust "
                   f"Settings)")


def _probe(driver: IOSDriver, proxy, scheme: str, wait: float) -> bool:
    nonce = secrets.token_hex(12)
    driver.open_url(f"{scheme}://{PROBE_HOST}/probe/{nonce}")
    deadline = time.monotonic() + wait
    while not proxy.probe_seen(nonce):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True
