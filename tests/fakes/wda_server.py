"""A fake WebDriverAgent: the HTTP server WDA runs on an iPhone (port 8100), in a thread, backed by a FakePhone.

No iPhone is attached here, so the iOS driver is proven against this server through the real, unmodified
facebook-wda client. It answers the routes that client calls for what the driver uses, with WDA's own JSON
shapes: `{"value": ..., "sessionId": ...}`, W3C element references, and WDA's errors (`{"value": {"error":
"no such element", "message": ...}}` with WDA's status codes). Any other route answers WDA's 404 "unknown
command" rather than something plausible. Element queries run on the XCUI view of the phone's screen
(tests/fakes/xcui.py says which subset of each query language is understood and what is refused).

The phone is iOS: a crash takes the app's process away and shows the home screen (no "has stopped" dialog,
which the platform-neutral FakePhone raises for Android, is ever shown here), and there is no ANR dialog: a
hung app makes WDA's snapshots (element queries, /source) wait `snapshot_timeout` seconds and fail, as WDA
does when the app under test does not answer accessibility requests. Cues a test pulls:

- crash(): the app's process is gone (/wda/apps/state answers 1, not running)
- hang(): the foreground app stops answering until it is terminated or crashes
- kill(): WDA itself dies: the port refuses connections until relaunch()
- unplug(): the phone is gone: connections are refused, relaunch() fails, requests in flight get no answer

    python -m tests.fakes.wda_server --port 8100   # a WDA with an empty iPhone, for a relaunch command
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import xcui
from .app import AppContext, Element, FakeApp, FakePhone, Unplugged

SAFARI = "com.apple.mobilesafari"
SPRINGBOARD = "com.apple.springboard"
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
EDGE = 10  # points: a drag starting this close to the left edge is iOS's swipe-back gesture


class WDAError(Exception):
    """An error answer, as WDA words it: HTTP status, W3C error code, message."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class SafariApp(FakeApp):
    """Safari as far as WDA's /url needs it: it loads the address through the phone's network (its proxy, the
    CAs it trusts) and shows the address and what came back."""

    package = SAFARI
    label = "Safari"

    def __init__(self):
        self.url = ""
        self.status: int | None = None

    def visit(self, ctx: AppContext, url: str) -> None:
        self.url = url
        self.status = ctx.phone.open_url(url)

    def screen(self, ctx: AppContext) -> list[Element]:
        bar = ctx.height // 16
        page = f"HTTP {self.status}" if self.status is not None else "Safari cannot open the page"
        return [Element("text", id="URL", accessibility_id="URL", text=self.url, bounds=(0, 0, ctx.width, bar)),
                Element("text", id="page", text=page if self.url else "", bounds=(0, bar, ctx.width, 2 * bar))]


class FakeWDA:
    def __init__(self, phone: FakePhone, *, port: int = 0, host: str = "127.0.0.1", snapshot_timeout: float = 15.0,
                 scale: int = 3):
        self.phone = phone
        self.host, self.port = host, port
        self.snapshot_timeout = snapshot_timeout
        self.scale = scale
        self.lock = threading.RLock()
        self.session_id: str | None = None
        self.session_app: str | None = None
        self.element_ids: dict[str, tuple] = {}
        self.ids_by_key: dict[tuple, str] = {}
        self.hung_pid: int | None = None
        self.locked = False
        self.launches = 0  # times WDA was started: 1 after start(), +1 per relaunch()
        self.routes_seen: list[tuple[str, str]] = []
        self.searches: list[tuple[str, str]] = []  # (using, value) of every element search
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()  # set when WDA dies: requests waiting on a hung app end

    # -- life cycle ------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeWDA:
        if not self.phone.plugged:
            raise ConnectionError(f"{self.phone.serial} is not attached: WDA cannot be started on it")
        with self.lock:
            if self._server is not None:
                return self
            self._wake.clear()
            server = _Server((self.host, self.port), _Handler)
            server.wda = self
            self.port = server.server_port  # kept: a relaunched WDA listens where the old one did
            self._server = server
            self.launches += 1
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-wda-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            server, self._server = self._server, None
            self.session_id = self.session_app = None
            self.element_ids.clear()
            self.ids_by_key.clear()
        if server is None:
            return
        self._wake.set()
        server.shutdown()
        server.server_close()  # joins the request threads (they are not daemons)
        self._thread.join()

    kill = stop  # WDA dies: the port refuses connections, its sessions are gone

    def relaunch(self) -> None:
        """What `tidevice wdaproxy` or `ios runwda` do: start WDA again (a new process, no sessions)."""
        self.stop()
        self.start()

    def unplug(self) -> None:
        self.phone.unplug()
        self.stop()

    def __enter__(self) -> FakeWDA:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- cues ------------------------------------------------------------------------------------------------
    def crash(self, package: str | None = None) -> None:
        self.phone.crash(package)
        self._no_crash_dialog()

    def hang(self, package: str | None = None) -> None:
        with self.phone.lock:
            package = package or self.phone.foreground
            self.hung_pid = self.phone.pid(package) if package else None
            if self.hung_pid is None:
                raise ValueError(f"{package} is not running: nothing to hang")

    def _hung(self) -> bool:
        with self.phone.lock:
            return self.hung_pid is not None and self.phone.pid(self.phone.foreground or "") == self.hung_pid

    def _no_crash_dialog(self) -> None:
        """iOS shows no dialog when an app crashes: the app is simply gone and the home screen shows."""
        with self.phone.lock:
            if self.phone.dialog and self.phone.dialog["kind"] == "crash":
                self.phone.dialog = None

    # -- the screen ------------------------------------------------------------------------------------------
    def snapshot(self) -> xcui.XNode:
        if self._hung():
            self._wake.wait(self.snapshot_timeout)
            bundle = self.phone.foreground
            raise WDAError(500, "unknown error", f"Cannot take the snapshot of {bundle} after "
                                                 f"{self.snapshot_timeout:g} seconds: the application is not "
                                                 f"responding to accessibility requests")
        self._no_crash_dialog()
        return xcui.snapshot(self.phone)

    def reference(self, node: xcui.XNode) -> dict:
        with self.lock:
            element_id = self.ids_by_key.get(node.key)
            if element_id is None:
                element_id = str(uuid.uuid4()).upper()
                self.ids_by_key[node.key] = element_id
                self.element_ids[element_id] = node.key
        return {"ELEMENT": element_id, W3C_ELEMENT: element_id}

    def resolve(self, element_id: str) -> xcui.XNode:
        with self.lock:
            key = self.element_ids.get(element_id)
        if key is None:
            raise WDAError(404, "stale element reference", f"The element '{element_id}' does not exist in the "
                                                           f"cache")
        node = xcui.find_key(self.snapshot(), key)
        if node is None:
            raise WDAError(404, "stale element reference", f"The previously found element \"{element_id}\" is "
                                                           f"not present in the current view anymore")
        return node

    # -- gestures --------------------------------------------------------------------------------------------
    def tap(self, x: float, y: float) -> None:
        if not self._hung():  # a frozen app takes no touches
            self.phone.tap(x, y)
        self._no_crash_dialog()

    def drag(self, x1: float, y1: float, x2: float, y2: float, seconds: float) -> None:
        if self._hung():
            return
        if x1 <= EDGE and x2 - x1 > self.phone.width / 3 and abs(y2 - y1) < self.phone.width / 4:
            self._swipe_back()
        else:
            self.phone.swipe(x1, y1, x2, y2, seconds)
        self._no_crash_dialog()

    def _swipe_back(self) -> None:
        """iOS's interactive pop: the app's navigation goes back a screen; at its first screen nothing happens
        (FakePhone.back would go home, which is Android's back key, not this gesture)."""
        with self.phone.lock:
            package = self.phone.foreground
            if package is None or package not in self.phone.pids:
                return
            app = self.phone.apps[package]
        app.on_back(AppContext(self.phone, app))

    def type(self, node: xcui.XNode | None, text: str, *, clear: bool = False) -> bool:
        """Type into the node's field (tapped first for focus, as WDA does) or the focused one; a backspace
        deletes the character before it."""
        if self._hung():
            return True
        if node is None:
            node = next((n for n in self.snapshot().walk() if n.element is not None and n.element.focused), None)
            if node is None:
                return False
        current = "" if clear else (node.value or "")
        if "\b" in text:
            for char in text:
                current = current[:-1] if char == "\b" else current + char
            return self.phone.type_text(current, clear=True, element=node.element)
        return self.phone.type_text(text, clear=clear, element=node.element)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight: nothing outlives the fake
    wda: FakeWDA


def _number(body: dict, key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WDAError(400, "invalid argument", f"'{key}' must be a number, got {value!r}")
    return float(value)


def _text_argument(body: dict) -> str:
    value = body.get("value", body.get("text"))
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    if isinstance(value, str):
        return value
    raise WDAError(400, "invalid argument", f"'value' must be a string or an array of strings, got {value!r}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # the test output is no place for an access log
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        wda = self.server.wda
        path = urlsplit(self.path).path.rstrip("/") or "/"
        wda.routes_seen.append((method, path))
        session = None
        try:
            if not wda.phone.plugged:
                raise Unplugged(wda.phone.serial)
            body = self.body()
            match = re.fullmatch(r"/session/([^/]+)(/.*)?", path)
            if match:
                session, rest = match.group(1), match.group(2) or ""
                with wda.lock:
                    current = wda.session_id
                if session != current:
                    raise WDAError(404, "invalid session id", "Session does not exist")
                value = self.route(SESSION_ROUTES, method, rest, body)
            else:
                value = self.route(ROUTES, method, path, body)
                session = wda.session_id
            self.answer(200, {"value": value, "sessionId": session})
        except Unplugged:
            self.close_connection = True  # the device went away mid-request: no answer at all
        except WDAError as exc:
            self.answer(exc.status, {"value": {"error": exc.error, "message": exc.message, "traceback": ""},
                                     "sessionId": session})
        except Exception as exc:
            self.answer(500, {"value": {"error": "unknown error", "message": f"{type(exc).__name__}: {exc}",
                                        "traceback": ""}, "sessionId": session})

    def body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError as exc:
            raise WDAError(400, "invalid argument", f"the request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise WDAError(400, "invalid argument", "the request body must be a JSON object")
        return body

    def route(self, table, method: str, path: str, body: dict):
        for route_method, pattern, handler in table:
            if route_method == method:
                match = re.fullmatch(pattern, path)
                if match:
                    return handler(self.server.wda, body, *match.groups())
        raise WDAError(404, "unknown command", f"Unhandled endpoint: {self.path} -- {self.server.wda.url}/ with "
                                               f"parameters {{ wildcards = ( \"{path.lstrip('/')}\" ); }}")

    def answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- the routes --------------------------------------------------------------------------------------------------

def status(wda: FakeWDA, body: dict):
    return {"message": "WebDriverAgent is ready to accept commands", "state": "success", "ready": True,
            "os": {"name": "iOS", "version": wda.phone.os_version, "sdkVersion": wda.phone.os_version,
                   "testmanagerdVersion": 28},
            "ios": {"ip": wda.host}, "device": "iphone",
            "build": {"productBundleIdentifier": "com.facebook.WebDriverAgentRunner", "time": "Jan  1 2024 00:00:00"}}


def new_session(wda: FakeWDA, body: dict):
    capabilities = body.get("capabilities") or {}
    wanted = {**(body.get("desiredCapabilities") or {}), **(capabilities.get("alwaysMatch") or {})}
    bundle = wanted.get("bundleId")
    if bundle:
        if bundle not in wda.phone.apps:
            raise WDAError(500, "session not created", f"The application under test with bundle id '{bundle}' is "
                                                       f"not installed on the device")
        launch(wda, {"bundleId": bundle})  # XCUIApplication.launch: a running app is terminated first
    with wda.lock:
        wda.session_id = str(uuid.uuid4()).upper()
        wda.session_app = bundle
        return {"sessionId": wda.session_id, "capabilities": session_info(wda, {})["capabilities"]}


def session_info(wda: FakeWDA, body: dict):
    bundle = wda.session_app
    label = wda.phone.apps[bundle].label if bundle in wda.phone.apps else ""
    return {"sessionId": wda.session_id, "capabilities": {
        "device": "iphone", "browserName": label, "sdkVersion": wda.phone.os_version, "CFBundleIdentifier": bundle}}


def delete_session(wda: FakeWDA, body: dict):
    with wda.lock:
        wda.session_id = wda.session_app = None
    return None


def _bundle(wda: FakeWDA, body: dict) -> str:
    bundle = body.get("bundleId")
    if not isinstance(bundle, str) or not bundle:
        raise WDAError(400, "invalid argument", "'bundleId' is required")
    return bundle


def launch(wda: FakeWDA, body: dict):
    bundle = _bundle(wda, body)
    if bundle not in wda.phone.apps:
        raise WDAError(500, "unknown error", f"Cannot launch {bundle} application. Make sure the correct bundle "
                                             f"identifier has been provided in capabilities and check the device log "
                                             f"for possible crash report occurrences")
    wda.phone.stop_app(bundle)
    wda.phone.start_app(bundle)
    return None


def activate(wda: FakeWDA, body: dict):
    bundle = _bundle(wda, body)
    if bundle not in wda.phone.apps:
        raise WDAError(500, "unknown error", f"Cannot activate {bundle}: it is not installed")
    wda.phone.start_app(bundle)
    return None


def terminate(wda: FakeWDA, body: dict):
    bundle = _bundle(wda, body)
    running = wda.phone.pid(bundle) is not None
    wda.phone.stop_app(bundle)
    return running


def app_state(wda: FakeWDA, body: dict):
    bundle = _bundle(wda, body)
    if bundle not in wda.phone.apps:
        return 0  # unknown
    if wda.phone.pid(bundle) is None:
        return 1  # not running
    return 4 if wda.phone.foreground == bundle else 3  # foreground / background


def active_app(wda: FakeWDA, body: dict):
    with wda.phone.lock:
        bundle = wda.phone.foreground
        return {"pid": wda.phone.pid(bundle) or 0 if bundle else 0, "bundleId": bundle or SPRINGBOARD,
                "name": wda.phone.apps[bundle].label if bundle else "", "processArguments": {"args": [], "env": {}}}


def open_url(wda: FakeWDA, body: dict):
    url = body.get("url")
    if not isinstance(url, str) or not re.match(r"[a-z][a-z0-9+.-]*:", url):
        raise WDAError(400, "invalid argument", f"'url' must be a URL, got {url!r}")
    phone = wda.phone
    safari = phone.apps.get(SAFARI) or phone.install(SafariApp())
    phone.start_app(SAFARI)
    safari.visit(AppContext(phone, safari), url)
    return None


def find_elements(wda: FakeWDA, body: dict):
    using, value = body.get("using"), body.get("value")
    if not isinstance(using, str) or not isinstance(value, str):
        raise WDAError(400, "invalid argument", "'using' and 'value' must be strings")
    wda.searches.append((using, value))
    try:
        nodes = xcui.find(wda.snapshot(), using, value)
    except xcui.InvalidSelector as exc:
        raise WDAError(400, "invalid selector", str(exc)) from None
    return [wda.reference(node) for node in nodes]


def find_element(wda: FakeWDA, body: dict):
    found = find_elements(wda, body)
    if not found:
        raise WDAError(404, "no such element", f"unable to find an element using '{body['using']}', value "
                                               f"'{body['value']}'")
    return found[0]


def active_element(wda: FakeWDA, body: dict):
    node = next((n for n in wda.snapshot().walk() if n.element is not None and n.element.focused), None)
    if node is None:
        raise WDAError(404, "no such element", "No element has the keyboard focus")
    return wda.reference(node)


def element_property(wda: FakeWDA, body: dict, element_id: str, name: str):
    node = wda.resolve(element_id)
    x, y, w, h = node.rect
    return {"rect": {"x": x, "y": y, "width": w, "height": h}, "displayed": node.visible, "enabled": node.enabled,
            "text": node.text(), "name": node.type,
            "selected": bool(node.element and node.element.selected)}[name]


def element_attribute(wda: FakeWDA, body: dict, element_id: str, name: str):
    node = wda.resolve(element_id)
    attribute = {"wdName": "name", "wdLabel": "label", "wdValue": "value", "wdType": "type",
                 "wdVisible": "visible", "wdEnabled": "enabled"}.get(name, name)
    if attribute not in ("name", "label", "value", "type", "visible", "enabled"):
        raise WDAError(400, "invalid argument", f"this fake does not know the attribute '{name}'")
    return node.attribute(attribute)


def element_click(wda: FakeWDA, body: dict, element_id: str):
    x, y, w, h = wda.resolve(element_id).rect
    wda.tap(x + w / 2, y + h / 2)
    return None


def element_value(wda: FakeWDA, body: dict, element_id: str):
    text = _text_argument(body)
    node = wda.resolve(element_id)
    if node.element is None or node.element.kind != "input":
        raise WDAError(400, "invalid element state", f"{node.type} '{node.name}' does not take text input")
    wda.type(node, text)
    return None


def element_clear(wda: FakeWDA, body: dict, element_id: str):
    node = wda.resolve(element_id)
    if node.element is None or node.element.kind != "input":
        raise WDAError(400, "invalid element state", f"Cannot clear the value of {node.type} '{node.name}': it "
                                                     f"is not editable")
    wda.type(node, "", clear=True)
    return None


def element_hold(wda: FakeWDA, body: dict, element_id: str):
    x, y, w, h = wda.resolve(element_id).rect
    if not wda._hung():
        wda.phone.long_press(x + w / 2, y + h / 2, float(body.get("duration", 1.0)))
    return None


def tap(wda: FakeWDA, body: dict):
    wda.tap(_number(body, "x"), _number(body, "y"))
    return None


def touch_and_hold(wda: FakeWDA, body: dict):
    x, y = _number(body, "x"), _number(body, "y")
    if not wda._hung():
        wda.phone.long_press(x, y, float(body.get("duration", 1.0)))
    return None


def drag(wda: FakeWDA, body: dict):
    wda.drag(_number(body, "fromX"), _number(body, "fromY"), _number(body, "toX"), _number(body, "toY"),
             float(body.get("duration", 0)))
    return None


def keys(wda: FakeWDA, body: dict):
    if not wda.type(None, _text_argument(body)):
        raise WDAError(400, "invalid element state", "Error Domain=com.facebook.WebDriverAgent Code=1 \"The "
                                                     "on-screen keyboard must be present to send keys\"")
    return None


def source(wda: FakeWDA, body: dict):
    return xcui.source_xml(wda.snapshot())


def screenshot(wda: FakeWDA, body: dict):
    return base64.b64encode(wda.phone.screenshot_png(scale=wda.scale)).decode()


def home(wda: FakeWDA, body: dict):
    wda.phone.home()
    return None


def set_locked(locked: bool):
    def handler(wda: FakeWDA, body: dict):
        wda.locked = locked
        return None
    return handler


def window_size(wda: FakeWDA, body: dict):
    return {"width": wda.phone.width, "height": wda.phone.height}


def screen(wda: FakeWDA, body: dict):
    return {"statusBarSize": {"width": wda.phone.width, "height": 47}, "scale": wda.scale,
            "screenSize": {"width": wda.phone.width, "height": wda.phone.height}}


def battery(wda: FakeWDA, body: dict):
    return {"level": wda.phone.battery / 100, "state": 2}


def device_info(wda: FakeWDA, body: dict):
    return {"timeZone": "Asia/Shanghai", "currentLocale": "en_US", "model": "iPhone", "name": wda.phone.name,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, wda.phone.serial)).upper(), "userInterfaceIdiom": 0,
            "userInterfaceStyle": "light", "isSimulator": False, "thermalState": 1}


_ID = r"([0-9A-Fa-f-]+)"
ROUTES = [
    ("GET", r"/status", status),
    ("GET", r"/wda/healthcheck", lambda wda, body: None),
    ("POST", r"/session", new_session),
    ("GET", r"/source", source),
    ("GET", r"/screenshot", screenshot),
    ("GET", r"/wda/activeAppInfo", active_app),
    ("POST", r"/wda/homescreen", home),
    ("GET", r"/wda/locked", lambda wda, body: wda.locked),
    ("POST", r"/wda/lock", set_locked(True)),
    ("POST", r"/wda/unlock", set_locked(False)),
]
SESSION_ROUTES = [
    ("GET", r"", session_info),
    ("DELETE", r"", delete_session),
    ("POST", r"/elements", find_elements),
    ("POST", r"/element", find_element),
    ("GET", r"/element/active", active_element),
    ("GET", rf"/element/{_ID}/(rect|displayed|enabled|text|name|selected)", element_property),
    ("GET", rf"/element/{_ID}/attribute/(\w+)", element_attribute),
    ("POST", rf"/element/{_ID}/click", element_click),
    ("POST", rf"/element/{_ID}/value", element_value),
    ("POST", rf"/element/{_ID}/clear", element_clear),
    ("POST", rf"/wda/element/{_ID}/touchAndHold", element_hold),
    ("POST", r"/wda/tap", tap),
    ("POST", r"/wda/tap/0", tap),  # WDA before 6.0: /wda/tap/:uuid, with 0 for "at these coordinates"
    ("POST", r"/wda/touchAndHold", touch_and_hold),
    ("POST", r"/wda/dragfromtoforduration", drag),
    ("POST", r"/wda/keys", keys),
    ("GET", r"/window/size", window_size),
    ("GET", r"/wda/screen", screen),
    ("GET", r"/orientation", lambda wda, body: "PORTRAIT"),
    ("POST", r"/wda/apps/launch", launch),
    ("POST", r"/wda/apps/activate", activate),
    ("POST", r"/wda/apps/terminate", terminate),
    ("POST", r"/wda/apps/state", app_state),
    ("POST", r"/url", open_url),
    ("GET", r"/wda/batteryInfo", battery),
    ("GET", r"/wda/device/info", device_info),
    *[(method, path, handler) for method, path, handler in ROUTES if path != r"/session"],
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="a fake WebDriverAgent in front of an empty fake iPhone")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--udid", default="00008110-000A1C2E0E91801E")
    args = parser.parse_args(argv)
    phone = FakePhone(args.udid, platform="ios", model="iPhone 14", os_version="16.7", width=390, height=844)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with FakeWDA(phone, port=args.port):
        print(f"fake WDA on http://127.0.0.1:{args.port}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
