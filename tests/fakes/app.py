"""A fake phone and the apps on it: what the fake adb server (Android) and the fake WDA server (iOS) show and
touch. No physical phone is attached here, so the drivers are proven against fakes that speak the real wire
protocols; this module is the device behind those protocols, platform-neutral:

- a `FakePhone` has a screen (an `Element` tree: the foreground app's window, or the launcher, with a crash or
  ANR dialog on top when one is raised), installed apps with process ids, a proxy setting, certificate stores,
  a log, and cues a test pulls to make it misbehave (crash the app, raise an ANR, unplug);
- a `FakeApp` draws its screen from its state and reacts to taps, typing, scrolling and back; its network goes
  through the phone (`ctx.http`), so it uses the proxy the phone is set to and trusts only the CAs the phone
  trusts, and its analytics SDK (`SensorsSDK`) posts the real Sensors Data mobile wire format;
- `ShopApp` is the demo shop as a phone app: the same API (demo/server.py) and the same events and properties
  as the web front end (demo/web/app.js), with the same regression switches.

The fake servers render the tree in their platform's own format (uiautomator XML, XCUI source) and turn their
protocol's gestures into the calls below. Every call takes the phone's lock: the servers answer from threads."""

from __future__ import annotations

import base64
import gzip
import io
import itertools
import json
import random
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

import urllib3

from demo.server import check_regressions

_pids = itertools.count(4100)


class Unplugged(ConnectionError):
    """The phone is no longer attached: every protocol answer fails."""


@dataclass
class Element:
    """One thing on the screen. `id` is the Android resource-id's short name (rendered `<owner>:id/<id>`),
    `accessibility_id` the Android content-desc and the iOS accessibility identifier (`name`), `text` the
    visible text (Android text, iOS label). Bounds are (left, top, right, bottom) in screen pixels."""

    kind: str = "view"  # window, view, button, text, input, list, image, dialog
    id: str = ""
    accessibility_id: str = ""
    text: str = ""
    bounds: tuple[int, int, int, int] = (0, 0, 0, 0)
    children: list[Element] = field(default_factory=list)
    enabled: bool = True
    selected: bool = False
    focused: bool = False
    scrollable: bool = False
    owner: str = ""  # the package that draws it ("android" for system dialogs); set by the phone
    action: str = ""  # what the app does when it is tapped (handed back to FakeApp.on_tap)

    @property
    def clickable(self) -> bool:
        return bool(self.action) or self.kind in ("button", "input")

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def contains(self, x: float, y: float) -> bool:
        left, top, right, bottom = self.bounds
        return left <= x < right and top <= y < bottom

    def center(self) -> tuple[int, int]:
        left, top, right, bottom = self.bounds
        return (left + right) // 2, (top + bottom) // 2


class AppContext:
    """What an app may use of its phone: the network (through the phone's proxy), a log, the screen size."""

    def __init__(self, phone: FakePhone, app: FakeApp):
        self.phone = phone
        self.app = app

    @property
    def width(self) -> int:
        return self.phone.width

    @property
    def height(self) -> int:
        return self.phone.height

    def http(self, method: str, url: str, *, headers: dict | None = None, body: bytes | None = None):
        return self.phone.http(method, url, headers=headers, body=body,
                               trust_user_cas=self.app.trust_user_cas)

    def log(self, level: str, tag: str, text: str) -> None:
        self.phone.log(level, tag, text, package=self.app.package)


class FakeApp:
    """An app: `package` is the Android package and the iOS bundle id. Subclasses draw `screen()` (the window's
    children) and react in `on_launch`, `on_tap`, `on_text`, `on_scroll`, `on_back`. `trust_user_cas` is what a
    debug build's network_security_config says: release apps on Android 7+ trust only the system store."""

    package = "com.example.app"
    label = "App"
    activity = ".MainActivity"
    trust_user_cas = True

    def on_launch(self, ctx: AppContext) -> None: ...

    def on_stop(self, ctx: AppContext) -> None: ...

    def on_clear(self) -> None: ...

    def screen(self, ctx: AppContext) -> list[Element]:
        return []

    def on_tap(self, ctx: AppContext, element: Element) -> None: ...

    def on_text(self, ctx: AppContext, element: Element, text: str, *, append: bool = False) -> None: ...

    def on_scroll(self, ctx: AppContext, dy: int) -> None: ...

    def on_back(self, ctx: AppContext) -> bool:
        """True when the app handled back (went to its previous screen); False lets the phone go home."""
        return False


class FakePhone:
    """One phone. The fake servers call these methods; tests pull the cues (crash, raise_anr, unplug)."""

    def __init__(self, serial: str, *, platform: str = "android", model: str = "Pixel 7", os_version: str = "14",
                 width: int = 1080, height: int = 2400, battery: int = 87, name: str = "",
                 loopback_needs_reverse: bool | None = None):
        self.serial = serial
        self.platform = platform
        self.model = model
        self.name = name or model
        self.os_version = os_version
        self.width, self.height = width, height
        self.battery = battery
        self.lock = threading.RLock()
        self.apps: dict[str, FakeApp] = {}
        self.pids: dict[str, int] = {}
        self.foreground: str | None = None
        self.focused_input: Element | None = None
        self.dialog: dict | None = None  # {"kind": "anr"|"crash", "package": ...}
        self.crash_on_tap: str | None = None  # cue: the next tap in this app crashes it
        self.proxy: tuple[str, int] | None = None
        # A real phone's 127.0.0.1 is the phone itself: an Android phone reaches a proxy on the agent's loopback
        # only through `adb reverse`. iOS phones on the lab's Wi-Fi reach the host directly.
        self.loopback_needs_reverse = platform == "android" if loopback_needs_reverse is None else loopback_needs_reverse
        self.reversed_ports: dict[int, int] = {}  # phone port -> host port (adb reverse)
        self.system_cas: list[bytes] = []
        self.user_cas: list[bytes] = []
        self.settings: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.logs: list[dict] = []
        self.requests: list[dict] = []  # every request the phone sent: {method, url, via, status}
        self.plugged = True

    # -- apps -----------------------------------------------------------------------------------------------------
    def install(self, app: FakeApp) -> FakeApp:
        with self.lock:
            self.apps[app.package] = app
            return app

    def _context(self, package: str) -> AppContext:
        return AppContext(self, self.apps[package])

    def pid(self, package: str) -> int | None:
        with self.lock:
            return self.pids.get(package)

    def start_app(self, package: str) -> None:
        self._check()
        with self.lock:
            if package not in self.apps:
                raise KeyError(package)
            self.dialog = None
            self.foreground = package
            if package in self.pids:
                return  # already running: brought to the front
            self.pids[package] = next(_pids)
            self.log("I", "ActivityManager", f"Start proc {self.pids[package]}:{package}/u0a123 for activity")
            app = self.apps[package]
        app.on_launch(self._context(package))  # outside the lock: it talks to the network

    def stop_app(self, package: str) -> None:
        self._check()
        with self.lock:
            app = self.apps.get(package)
            if app is None or self.pids.pop(package, None) is None:
                return
            if self.foreground == package:
                self.foreground = None
            if self.dialog and self.dialog["package"] == package:
                self.dialog = None
            self.focused_input = None
            self.log("I", "ActivityManager", f"Force stopping {package}")
        app.on_stop(self._context(package))

    def clear_app(self, package: str) -> None:
        self.stop_app(package)
        with self.lock:
            if package in self.apps:
                self.apps[package].on_clear()

    def home(self) -> None:
        with self.lock:
            self.foreground = None
            self.focused_input = None

    # -- cues -------------------------------------------------------------------------------------------------------
    def crash(self, package: str | None = None) -> None:
        """The app dies: its process is gone and the system shows '<App> has stopped'."""
        with self.lock:
            package = package or self.foreground
            if package is None or package not in self.pids:
                return
            pid = self.pids.pop(package)
            self.log("E", "AndroidRuntime", f"FATAL EXCEPTION: main\nProcess: {package}, PID: {pid}\n"
                                            f"java.lang.IllegalStateException: injected crash")
            if self.foreground == package:
                self.foreground = None
                self.dialog = {"kind": "crash", "package": package}

    def raise_anr(self, package: str | None = None) -> None:
        """The app stops answering: '<App> isn't responding', and it takes no input until closed or waited."""
        with self.lock:
            package = package or self.foreground
            if package is None:
                return
            self.dialog = {"kind": "anr", "package": package}
            self.log("E", "ActivityManager", f"ANR in {package}\nReason: Input dispatching timed out")

    def unplug(self) -> None:
        with self.lock:
            self.plugged = False

    def plug(self) -> None:
        with self.lock:
            self.plugged = True

    def _check(self) -> None:
        if not self.plugged:
            raise Unplugged(f"{self.serial} is not attached")

    # -- the screen -----------------------------------------------------------------------------------------------
    def tree(self) -> Element:
        """The whole screen, top-level window first; a dialog (crash, ANR) is the last child: it is on top."""
        self._check()
        with self.lock:
            package = self.foreground
            root = Element("window", bounds=(0, 0, self.width, self.height), owner=package or "launcher")
            if package is None:
                root.children = [Element("text", text="Home", bounds=(0, 0, self.width, self.height // 10),
                                         owner="launcher")]
            else:
                app = self.apps[package]
                root.children = app.screen(self._context(package))
                for element in root.walk():
                    element.owner = element.owner or package
                    if self.focused_input is not None and element.kind == "input" and element.id == self.focused_input.id:
                        element.focused = True
            if self.dialog:
                root.children.append(self._dialog())
            return root

    def _dialog(self) -> Element:
        label = self.apps[self.dialog["package"]].label
        w, h = self.width, self.height
        top, bottom = h * 2 // 5, h * 3 // 5
        title = (f"{label} isn't responding" if self.dialog["kind"] == "anr" else f"{label} has stopped")
        buttons = ([Element("button", id="aerr_close", text="Close app", bounds=(w // 10, bottom - h // 12, w // 2, bottom),
                            owner="android", action="close"),
                    Element("button", id="aerr_wait", text="Wait", bounds=(w // 2, bottom - h // 12, w * 9 // 10, bottom),
                            owner="android", action="wait")]
                   if self.dialog["kind"] == "anr" else
                   [Element("button", id="aerr_close", text="Close app", bounds=(w // 10, bottom - h // 12, w * 9 // 10, bottom),
                            owner="android", action="close")])
        return Element("dialog", id="alertTitle", text=title, bounds=(w // 10, top, w * 9 // 10, bottom),
                       owner="android", children=[
                           Element("text", id="alertTitle", text=title, owner="android",
                                   bounds=(w // 10, top, w * 9 // 10, top + h // 12)), *buttons])

    def element_at(self, x: float, y: float) -> Element | None:
        """The topmost tappable element under the point (a dialog swallows taps outside its buttons)."""
        tree = self.tree()
        if self.dialog:
            layers = [tree.children[-1]]
        else:
            layers = [tree]
        hit = None
        for layer in layers:
            for element in layer.walk():
                if element.clickable and element.enabled and element.contains(x, y):
                    hit = element  # later in the walk = drawn above
        return hit

    # -- input ---------------------------------------------------------------------------------------------------
    def tap(self, x: float, y: float) -> None:
        self._check()
        with self.lock:
            element = self.element_at(x, y)
            package = self.foreground
            if self.dialog:
                if element is not None and element.owner == "android":
                    if element.action == "close":
                        self.log("I", "ActivityManager", f"Killing {self.dialog['package']}: user request after error")
                        crashed = self.dialog["package"]
                        self.dialog = None
                        self.pids.pop(crashed, None)
                        if self.foreground == crashed:
                            self.foreground = None
                    else:  # Wait: the app answers again
                        self.dialog = None
                return  # an app behind a dialog takes no input
            if package is None or element is None:
                return
            if self.crash_on_tap == package:
                self.crash_on_tap = None
                self.crash(package)
                return
            if element.kind == "input":
                self.focused_input = element
            app = self.apps[package]
        app.on_tap(self._context(package), element)

    def long_press(self, x: float, y: float, seconds: float) -> None:
        self.tap(x, y)

    def swipe(self, x1: float, y1: float, x2: float, y2: float, seconds: float = 0.2) -> None:
        self._check()
        with self.lock:
            package = self.foreground
            if package is None or self.dialog:
                return
            app = self.apps[package]
        app.on_scroll(self._context(package), int(y1 - y2))  # finger up = content scrolls down

    def type_text(self, text: str, *, clear: bool = False, element: Element | None = None) -> bool:
        """Type into the given input (or the focused one); False when there is none."""
        self._check()
        with self.lock:
            target = element or self.focused_input
            package = self.foreground
            if target is None or package is None or self.dialog:
                return False
            self.focused_input = target
            app = self.apps[package]
        app.on_text(self._context(package), target, text, append=not clear)
        return True

    def back(self) -> None:
        self._check()
        with self.lock:
            if self.dialog:
                return
            package = self.foreground
            if package is None:
                return
            app = self.apps[package]
        if not app.on_back(self._context(package)):
            self.home()

    # -- the network ---------------------------------------------------------------------------------------------
    def http(self, method: str, url: str, *, headers: dict | None = None, body: bytes | None = None,
             trust_user_cas: bool = True):
        """One request as the phone sends it: through its proxy when one is set (a loopback proxy only when its
        port is reversed), trusting the system store and, when the app allows, the user store. Returns
        (status, headers, body); raises OSError subclasses as the phone's network stack would."""
        self._check()
        with self.lock:
            proxy = self.proxy
            cas = list(self.system_cas) + (list(self.user_cas) if trust_user_cas else [])
        record = {"method": method, "url": url, "via": None, "status": None, "error": ""}
        self.requests.append(record)
        context = ssl.create_default_context()
        if cas:
            context.load_verify_locations(cadata="\n".join(c.decode() for c in cas))
        try:
            if proxy is not None:
                host, port = proxy
                if self.loopback_needs_reverse and host in ("127.0.0.1", "localhost"):
                    if port not in self.reversed_ports:
                        raise ConnectionRefusedError(f"the phone's own {host}:{port} has no proxy (no adb reverse)")
                    port = self.reversed_ports[port]
                record["via"] = f"{host}:{port}"
                manager = urllib3.ProxyManager(f"http://{host}:{port}", ssl_context=context, retries=False,
                                               timeout=urllib3.Timeout(connect=5, read=30))
            else:
                manager = urllib3.PoolManager(ssl_context=context, retries=False,
                                              timeout=urllib3.Timeout(connect=5, read=30))
            response = manager.request(method, url, headers=headers or {}, body=body, redirect=False)
            record["status"] = response.status
            return response.status, dict(response.headers), response.data
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            try:
                manager.clear()
            except Exception:
                pass

    def open_url(self, url: str) -> int | None:
        """What opening a link in the phone's browser does to the network: one GET (the browser trusts the user
        store). Returns the status, or None when it could not be fetched."""
        try:
            return self.http("GET", url, trust_user_cas=True)[0]
        except Exception:
            return None

    # -- evidence ------------------------------------------------------------------------------------------------
    def log(self, level: str, tag: str, text: str, *, package: str | None = None) -> None:
        with self.lock:
            self.logs.append({"at": int(time.time() * 1000), "level": level, "tag": tag, "text": text,
                              "pid": self.pids.get(package or "", 0)})

    def screenshot_png(self, scale: float = 0.25) -> bytes:
        """A real PNG of the screen: each element's box, and its text, drawn at `scale`."""
        from PIL import Image, ImageDraw

        tree = self.tree()
        width, height = max(1, int(self.width * scale)), max(1, int(self.height * scale))
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        for element in tree.walk():
            left, top, right, bottom = (int(v * scale) for v in element.bounds)
            if right <= left or bottom <= top:
                continue
            fill = {"button": "#dde7ff", "dialog": "#fff3c4", "input": "#f4f4f4"}.get(element.kind)
            draw.rectangle((left, top, right - 1, bottom - 1), fill=fill, outline="#888888")
            if element.text and element.kind != "dialog":
                draw.text((left + 2, top + 2), element.text[:40], fill="black")
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()


# -- an analytics SDK -----------------------------------------------------------------------------------------

class SensorsSDK:
    """The Sensors Data Android SDK's wire format (AnalyticsMessages.sendData): events queued, flushed as one
    POST of `crc=<hash>&gzip=1&data_list=<base64 of the gzipped JSON array>`, form-encoded."""

    def __init__(self, ctx_app: FakeApp, server_url: str, distinct_id: str = "demo-user-1"):
        self.app = ctx_app
        self.server_url = server_url
        self.distinct_id = distinct_id
        self.queue: list[dict] = []

    def track(self, ctx: AppContext, event: str, properties: dict) -> None:
        phone = ctx.phone
        props = {"$lib": "Android" if phone.platform == "android" else "iOS", "$lib_version": "6.8.0",
                 "$os": "Android" if phone.platform == "android" else "iOS", "$os_version": phone.os_version,
                 "$model": phone.model, "$screen_width": phone.width, "$screen_height": phone.height,
                 "$app_version": "1.0.0", **properties}
        self.queue.append({"_track_id": random.randint(-2**31, 2**31 - 1), "time": int(time.time() * 1000),
                           "type": "track", "distinct_id": self.distinct_id, "event": event, "properties": props,
                           "lib": {"$lib": props["$lib"], "$lib_version": "6.8.0", "$lib_method": "code"}})

    def flush(self, ctx: AppContext) -> None:
        if not self.queue:
            return
        batch, self.queue = self.queue, []
        for item in batch:
            item["_flush_time"] = int(time.time() * 1000)
        data = base64.b64encode(gzip.compress(json.dumps(batch, ensure_ascii=False).encode())).decode()
        body = f"crc={zlib.crc32(data.encode()) & 0x7fffffff}&gzip=1&data_list={quote(data, safe='')}".encode()
        try:
            status, _, _ = ctx.http("POST", self.server_url, headers={
                "Content-Type": "application/x-www-form-urlencoded"}, body=body)
            ctx.log("I", "SA.AnalyticsMessages", f"flushed {len(batch)} events: HTTP {status}")
        except Exception as exc:  # the real SDK keeps them in its database and retries; this one drops and says so
            ctx.log("W", "SA.AnalyticsMessages", f"flush of {len(batch)} events failed: {exc}")


# -- the demo shop as a phone app ----------------------------------------------------------------------------------

class ShopApp(FakeApp):
    """demo/server.py's shop on a phone: home (tabs, product rows, add buttons, a search box), a product page
    (quantity box, add to cart), a popup some launches. Events and properties as in demo/web/app.js."""

    package = "com.trackreplay.shop"
    label = "Shop"

    def __init__(self, api: str, *, tracking: str | None = None, regressions=()):
        self.api = api.rstrip("/")
        self.regressions = set(check_regressions(list(regressions)))
        self.sdk = SensorsSDK(self, tracking or f"{self.api}/sa?project=demo")
        self.on_clear()

    def on_clear(self) -> None:
        self.view = "home"
        self.tabs: list[dict] = []
        self.tab_id: int | None = None
        self.items: list[dict] = []
        self.detail: dict | None = None
        self.popup: dict | None = None
        self.cart_size = 0
        self.scroll = 0
        self.query = ""
        self.qty = "1"
        self.error = ""
        self.exposed: set = set()

    def bug(self, name: str) -> bool:
        return name in self.regressions

    def position(self, index: int) -> int:
        return index + 1 if self.bug("position_one_based") else index

    def get(self, ctx: AppContext, path: str, body: dict | None = None):
        method = "POST" if body is not None else "GET"
        status, _, data = ctx.http(method, f"{self.api}{path}", headers={"Content-Type": "application/json"},
                                   body=json.dumps(body).encode() if body is not None else None)
        if status != 200:
            raise RuntimeError(f"{path} answered HTTP {status}")
        return json.loads(data)

    def track(self, ctx: AppContext, event: str, properties: dict) -> None:
        self.sdk.track(ctx, event, properties)

    # -- life cycle
    def on_launch(self, ctx: AppContext) -> None:
        self.view = "home"
        try:
            home = self.get(ctx, "/api/home")
            config = self.get(ctx, "/api/config")
            popup = self.get(ctx, "/api/popup")
        except Exception as exc:
            self.error = f"Something went wrong: {exc}"
            ctx.log("E", "Shop", self.error)
            return
        self.tabs = home["data"]["tabs"]
        self.tab_id = self.tabs[0]["tab_id"]
        self.track(ctx, "page_view", {"page": "home", "referrer_page": None})
        self.show_products(ctx, home["data"]["items"])
        self.track(ctx, "ab_exposure", {"experiment": config["experiment"], "bucket": config["bucket"]})
        self.popup = (popup.get("popups") or [None])[0]
        self.sdk.flush(ctx)

    def on_stop(self, ctx: AppContext) -> None:
        self.sdk.flush(ctx)

    def show_products(self, ctx: AppContext, items: list[dict]) -> None:
        self.items = items
        self.scroll = 0
        self.exposed = set()
        self.expose(ctx)

    def visible_rows(self) -> list[tuple[int, dict]]:
        keyword = self.query.strip().lower()
        return [(index, item) for index, item in enumerate(self.items)
                if not keyword or keyword in item["name"].lower()]

    def expose(self, ctx: AppContext) -> None:
        """One product_exposure per row that came on screen (scrolling shows more)."""
        for element in self.screen(ctx):
            if element.kind == "list":
                for row in element.children:
                    index = int(row.action.split(":")[1])
                    if index in self.exposed:
                        continue
                    self.exposed.add(index)
                    item = self.items[index]
                    exposure = {"product_id": item["product_id"], "product_name": item["name"], "tab_id": self.tab_id,
                                "position": self.position(index), "list_id": f"home_tab_{self.tab_id}"}
                    if self.bug("drop_product_name"):
                        del exposure["product_name"]
                    self.track(ctx, "product_exposure", exposure)

    # -- the screen
    def screen(self, ctx: AppContext) -> list[Element]:
        w, h = ctx.width, ctx.height
        bar = h // 16
        out = [Element("text", id="title", text="Trackreplay Shop", bounds=(0, 0, w, bar)),
               Element("text", id="cart_count", accessibility_id="cart", text=str(self.cart_size),
                       bounds=(w - w // 6, 0, w, bar))]
        if self.error:
            return out + [Element("text", id="empty", text=self.error, bounds=(0, bar, w, 2 * bar))]
        if self.view == "product" and self.detail is not None:
            d = self.detail
            out += [Element("button", id="back", accessibility_id="Back", text="Back", bounds=(0, bar, w // 4, 2 * bar),
                            action="back"),
                    Element("text", id="detail_name", text=d["name"], bounds=(0, 2 * bar, w, 3 * bar)),
                    Element("text", id="detail_price", text=f"¥{d['price']}", bounds=(0, 3 * bar, w // 2, 4 * bar)),
                    Element("text", id="detail_stock", text=f"{d['stock']} in stock", bounds=(w // 2, 3 * bar, w, 4 * bar)),
                    Element("input", id="qty", accessibility_id="Quantity", text=self.qty,
                            bounds=(0, 4 * bar, w // 2, 5 * bar), action="qty"),
                    Element("button", id="detail_add", accessibility_id="Add to cart", text="Add to cart",
                            bounds=(w // 2, 4 * bar, w, 5 * bar), action="detail_add")]
        else:
            out.append(Element("input", id="search", accessibility_id="Search", text=self.query,
                               bounds=(0, bar, w, 2 * bar), action="search"))
            tab_width = w // max(1, len(self.tabs))
            out += [Element("button", id=f"tab_{tab['tab_id']}", text=tab["tab_name"], selected=tab["tab_id"] == self.tab_id,
                            bounds=(i * tab_width, 2 * bar, (i + 1) * tab_width, 3 * bar), action=f"tab:{tab['tab_id']}")
                    for i, tab in enumerate(self.tabs)]
            rows = []
            row_height = h // 3
            top = 3 * bar
            for slot, (index, item) in enumerate(self.visible_rows()):
                y = top + slot * row_height - self.scroll
                if y + row_height <= top or y >= h:
                    continue  # off screen: not in the hierarchy, as RecyclerView recycles it
                rows.append(Element("view", id="product_row", accessibility_id=item["product_id"],
                                    bounds=(0, max(top, y), w, min(h, y + row_height)), action=f"row:{index}",
                                    children=[
                    Element("button", id="product_name", text=item["name"], bounds=(0, max(top, y), w * 2 // 3, min(h, y + row_height // 2)),
                            action=f"open:{index}"),
                    Element("text", id="product_price", text=f"¥{item['price']}",
                            bounds=(w * 2 // 3, max(top, y), w, min(h, y + row_height // 2))),
                    Element("button", id=f"add_{item['product_id']}", text="Add to cart",
                            bounds=(w * 2 // 3, min(h, y + row_height // 2), w, min(h, y + row_height)), action=f"add:{index}")]))
            out.append(Element("list", id="products", bounds=(0, top, w, h), scrollable=True, children=rows))
            if self.popup:
                out.append(Element("dialog", id="popup", text=self.popup["title"], bounds=(w // 8, h // 3, w * 7 // 8, h * 2 // 3),
                                   children=[Element("text", id="popup_text", text=self.popup["text"],
                                                     bounds=(w // 8, h // 3, w * 7 // 8, h // 2)),
                                             Element("button", id="popup_close", accessibility_id="Close", text="Close",
                                                     bounds=(w // 8, h // 2, w * 7 // 8, h * 2 // 3), action="close_popup")]))
        return out

    # -- input
    def on_tap(self, ctx: AppContext, element: Element) -> None:
        action, _, arg = element.action.partition(":")
        if self.popup and action != "close_popup":
            return  # the popup covers the screen
        try:
            if action == "close_popup":
                self.popup = None
            elif action == "tab":
                self.select_tab(ctx, int(arg))
            elif action == "open":
                self.open_product(ctx, int(arg))
            elif action == "add":
                self.add_to_cart(ctx, self.items[int(arg)], 1)
            elif action == "detail_add":
                qty = int(self.qty) if self.qty.isdigit() and 1 <= int(self.qty) <= 99 else 1
                self.add_to_cart(ctx, self.detail, qty)
            elif action == "back":
                self.on_back(ctx)
        except Exception as exc:
            self.error = f"Something went wrong: {exc}"
            ctx.log("E", "Shop", self.error)
        self.sdk.flush(ctx)

    def on_text(self, ctx: AppContext, element: Element, text: str, *, append: bool = False) -> None:
        if element.id == "search":
            self.query = self.query + text if append else text
            self.scroll = 0
            keyword = self.query.strip()
            if keyword:
                self.track(ctx, "search", {"keyword": keyword, "result_count": len(self.visible_rows())})
                self.sdk.flush(ctx)
        elif element.id == "qty":
            self.qty = self.qty + text if append else text

    def on_scroll(self, ctx: AppContext, dy: int) -> None:
        if self.view != "home":
            return
        rows = len(self.visible_rows())
        most = max(0, rows * (ctx.height // 3) - (ctx.height - 3 * (ctx.height // 16)))
        self.scroll = max(0, min(most, self.scroll + dy))
        self.expose(ctx)
        self.sdk.flush(ctx)

    def on_back(self, ctx: AppContext) -> bool:
        if self.view == "product":
            self.view = "home"
            self.track(ctx, "page_view", {"page": "home", "referrer_page": "product"})
            self.sdk.flush(ctx)
            return True
        return False

    def select_tab(self, ctx: AppContext, tab_id: int) -> None:
        previous = next((t for t in self.tabs if t["tab_id"] == self.tab_id), None)
        tab = next(t for t in self.tabs if t["tab_id"] == tab_id)
        click = {"tab_id": tab_id, "tab_name": previous["tab_name"] if self.bug("wrong_tab_name") and previous else tab["tab_name"]}
        self.track(ctx, "tab_click", click)
        if self.bug("duplicate_tab_click"):
            self.track(ctx, "tab_click", dict(click))
        self.tab_id = tab_id
        answer = self.get(ctx, f"/api/tab/{tab_id}")
        self.show_products(ctx, answer["data"]["items"])

    def open_product(self, ctx: AppContext, index: int) -> None:
        item = self.items[index]
        self.track(ctx, "product_click", {"product_id": item["product_id"], "product_name": item["name"],
                                          "price": item["price"], "position": self.position(index)})
        self.detail = self.get(ctx, f"/api/product/{quote(item['product_id'])}")
        self.qty = "1"
        self.view = "product"
        self.track(ctx, "page_view", {"page": "product", "referrer_page": "home"})

    def add_to_cart(self, ctx: AppContext, product: dict, qty: int) -> None:
        answer = self.get(ctx, "/api/cart", {"product_id": product["product_id"], "qty": qty})
        self.cart_size = answer["cart_size"]
        if not self.bug("missing_add_to_cart"):
            self.track(ctx, "add_to_cart", {
                "product_id": product["product_id"], "product_name": product["name"],
                "price": str(product["price"]) if self.bug("price_as_string") else product["price"],
                "quantity": qty, "coupon": None,
                "items": [{"product_id": i["product_id"], "qty": i["qty"]} for i in answer["items"]],
                "cart_size": answer["cart_size"]})
