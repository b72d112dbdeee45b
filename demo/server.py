"""The demo shop: a JSON API whose answers vary from call to call like a real backend's, the web front end
that calls it and tracks with the Sensors Data web SDK, and a switch that injects regressions into that
front end. Standard library only, so it starts anywhere the project's Python does.

    python -m demo.server --port 8765 [--host 127.0.0.1] [--regression NAME]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

WEB = Path(__file__).parent / "web"
SDK = WEB / "node_modules" / "sa-sdk-javascript" / "sensorsdata.min.js"

TABS = [
    {"tab_id": 1, "tab_name": "Recommended"},
    {"tab_id": 2, "tab_name": "Fresh"},
    {"tab_id": 3, "tab_name": "Gifts"},
]

# (product_id, tab_id, name, price, tags, description)
CATALOGUE = [
    ("P1001", 1, "西湖龙井 Longjing green tea", 68.0, ["tea", "green"], "Spring-picked leaves from Hangzhou."),
    ("P1002", 1, "Wireless earbuds", 199.0, ["audio"], "Twenty hours of battery, charging case included."),
    ("P1003", 1, "保温杯 Thermos flask 500 ml", 89.9, ["kitchen"], "Keeps tea hot for twelve hours."),
    ("P1004", 1, "Canvas tote bag", 35.5, ["bags"], "Heavy cotton, fits a laptop."),
    ("P2001", 2, "Fuji apples, 1 kg", 12.8, ["fruit", "fresh"], "Crisp and sweet, from Shandong."),
    ("P2002", 2, "草莓 Strawberries 500 g", 29.9, ["fruit", "fresh"], "Picked this morning."),
    ("P2003", 2, "Free-range eggs x10", 18.5, ["dairy", "fresh"], "From a farm outside the city."),
    ("P2004", 2, "Sourdough loaf", 24.0, ["bakery", "fresh"], "Baked overnight, delivered at dawn."),
    ("P3001", 3, "月饼礼盒 Mooncake gift box", 158.0, ["gift", "festival"], "Eight mooncakes, four flavours."),
    ("P3002", 3, "Scented candle set", 79.0, ["gift", "home"], "Three candles: cedar, jasmine, fig."),
    ("P3003", 3, "Silk scarf", 259.0, ["gift", "fashion"], "Hand-rolled edges, 90 x 90 cm."),
    ("P3004", 3, "Tea tasting set", 128.0, ["gift", "tea"], "Six teas in a wooden box."),
]
PRODUCTS = {
    pid: {"product_id": pid, "tab_id": tab, "name": name, "price": price, "tags": tags, "description": text}
    for pid, tab, name, price, tags, text in CATALOGUE
}
POPUPS = [{"popup_id": "spring_sale", "title": "Spring sale", "text": "20% off all tea until Sunday."}]

# Front-end regressions: each one is a flag app.js checks at a place where a real bug could be written.
REGRESSIONS = {
    "wrong_tab_name": "tab_click carries the name of the previously selected tab",
    "missing_add_to_cart": "add_to_cart is not sent",
    "price_as_string": "add_to_cart.price is sent as a string",
    "duplicate_tab_click": "tab_click is sent twice",
    "drop_product_name": "product_exposure has no product_name",
    "position_one_based": "product_exposure and product_click count positions from 1",
}
REGRESSIONS_MARK = "/*@regressions*/[]"  # in app.js; replaced by the active list when served


def check_regressions(names) -> list[str]:
    """The names, deduplicated in order; ValueError naming any unknown one and the known ones."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError("regressions must be a list of names")
    unknown = [n for n in names if n not in REGRESSIONS]
    if unknown:
        raise ValueError(f"unknown regression {', '.join(unknown)}; known: {', '.join(REGRESSIONS)}")
    return list(dict.fromkeys(names))


@dataclass
class RecordedRequest:
    """A tracking request as received (the fields sdk_bridge.wire.TrackingRequest takes)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: int  # ms since the epoch


@dataclass
class ShopState:
    regressions: list[str] = field(default_factory=list)
    popups: bool = True  # the promotion shows on about half of the calls; off for timing the same screens
    # One cart per browser (the shop_session cookie): product_id -> qty, in order of first add. A fresh
    # browser profile starts with an empty cart, as a new user of a real shop does.
    carts: dict[str, dict[str, int]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    tracking_requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _listing(products, rng: random.Random) -> list[dict]:
    items = [{"product_id": p["product_id"], "name": p["name"], "price": p["price"],
              "stock": rng.randint(0, 120), "tags": p["tags"]} for p in products]
    rng.shuffle(items)  # the feed is "personalised": its order changes on every call
    return items


def _tab_products(tab_id: int) -> list[dict]:
    return [p for p in PRODUCTS.values() if p["tab_id"] == tab_id]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    # ---- plumbing ----

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        cookie = getattr(self, "_set_cookie", None)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload, status: int = 200) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _answer(self, payload: dict) -> None:
        """An API answer: every one carries a fresh request id and the server's clock, as real backends' do."""
        self._json({**payload, "request_id": str(uuid.uuid4()), "server_time": int(time.time() * 1000)})

    def _error(self, status: int, message: str) -> None:
        self._json({"code": status, "error": message}, status)

    def _count(self, endpoint: str) -> None:
        with self.state.lock:
            self.state.api_calls[endpoint] = self.state.api_calls.get(endpoint, 0) + 1

    def _json_body(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def state(self) -> ShopState:
        return self.server.state

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""  # read even when unused: keep-alive
        path = urlsplit(self.path).path
        for method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match:
                if self.command not in method.split("|") and not (self.command == "HEAD" and "GET" in method):
                    return self._error(405, f"{self.command} not allowed on {path}")
                return handler(self, *match.groups())
        self._error(404, f"no such page: {path}")

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

    def log_message(self, *args) -> None:
        pass

    # ---- API ----

    def home(self) -> None:
        self._count("/api/home")
        self._answer({"code": 0, "data": {"tabs": TABS, "items": _listing(_tab_products(1), random.Random())}})

    def tab(self, tab_id: str) -> None:
        self._count("/api/tab/<tab_id>")
        if not any(t["tab_id"] == int(tab_id) for t in TABS):
            return self._error(404, f"no tab {tab_id}")
        self._answer({"code": 0, "data": {"tab_id": int(tab_id), "items": _listing(_tab_products(int(tab_id)),
                                                                                   random.Random())}})

    def product(self, product_id: str) -> None:
        self._count("/api/product/<product_id>")
        p = PRODUCTS.get(product_id)
        if p is None:
            return self._error(404, f"no product {product_id}")
        self._answer({"product_id": product_id, "name": p["name"], "price": p["price"],
                      "stock": random.randint(0, 120), "description": p["description"]})

    def add_to_cart(self) -> None:
        self._count("/api/cart")
        data = self._json_body()
        if not isinstance(data, dict) or data.get("product_id") not in PRODUCTS:
            return self._error(400, "expected JSON {product_id, qty} with a known product_id")
        qty = data.get("qty", 1)
        if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= 99:
            return self._error(400, "qty must be an integer from 1 to 99")
        session = self._session()
        with self.state.lock:
            cart = self.state.carts.setdefault(session, {})
            cart[data["product_id"]] = cart.get(data["product_id"], 0) + qty
            items = [{"product_id": pid, "qty": n} for pid, n in cart.items()]
        self._set_cookie = f"shop_session={session}; Path=/; SameSite=Lax"
        self._answer({"ok": True, "cart_size": sum(i["qty"] for i in items), "items": items})

    def _session(self) -> str:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "shop_session" and re.fullmatch(r"[0-9a-f]{32}", value):
                return value
        return uuid.uuid4().hex

    def config(self) -> None:
        self._count("/api/config")
        self._answer({"experiment": "feed_v2", "bucket": random.choice("AB")})

    def popup(self) -> None:
        self._count("/api/popup")
        self._answer({"popups": random.choice([[], POPUPS]) if self.state.popups else []})

    # ---- tracking endpoint (what the proxy answers itself when one sits in between) ----

    def sa(self) -> None:
        recorded = RecordedRequest(self.command, f"http://{self.headers.get('Host') or 'localhost'}{self.path}",
                                   list(self.headers.items()), self.body, int(time.time() * 1000))
        with self.state.lock:
            self.state.tracking_requests.append(recorded)
        self._send(200, b"", "text/plain")

    # ---- front end ----

    def static(self, name: str = "index.html") -> None:
        types = {".html": "text/html; charset=utf-8", ".js": "application/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
        body = (WEB / name).read_bytes()
        if name == "app.js":
            with self.state.lock:
                active = list(self.state.regressions)
            body = body.replace(REGRESSIONS_MARK.encode(), json.dumps(active).encode(), 1)
        self._send(200, body, types[Path(name).suffix])

    def vendor_sdk(self) -> None:
        if not SDK.is_file():
            return self._send(500, b"sa-sdk-javascript is not installed: run npm ci --prefix demo/web\n",
                              "text/plain; charset=utf-8")
        self._send(200, SDK.read_bytes(), "application/javascript; charset=utf-8")

    def favicon(self) -> None:
        self._send(204, b"", "image/x-icon")  # browsers ask for one; a 404 would be noise in the console

    # ---- control, for tests and the demo ----

    def regression(self) -> None:
        if self.command == "POST":
            data = self._json_body()
            if not isinstance(data, dict) or not isinstance(data.get("regressions"), list):
                return self._error(400, 'expected JSON {"regressions": [names]}')
            try:
                self.server.shop.set_regressions(data["regressions"])
            except ValueError as exc:
                return self._json({"error": str(exc), "known": list(REGRESSIONS)}, 400)
        with self.state.lock:
            self._json({"regressions": list(self.state.regressions), "known": REGRESSIONS})

    def stats(self) -> None:
        with self.state.lock:
            self._json({"tracking_requests": len(self.state.tracking_requests),
                        "api_calls": dict(self.state.api_calls), "cart_size": sum(sum(cart.values()) for cart in self.state.carts.values()),
                        "regressions": list(self.state.regressions)})

    def reset(self) -> None:
        self.server.shop.reset()
        self._json({"ok": True})


ROUTES = [
    ("GET", r"/api/home", Handler.home),
    ("GET", r"/api/tab/(\d{1,6})", Handler.tab),
    ("GET", r"/api/product/([A-Za-z0-9_-]{1,40})", Handler.product),
    ("POST", r"/api/cart", Handler.add_to_cart),
    ("GET", r"/api/config", Handler.config),
    ("GET", r"/api/popup", Handler.popup),
    ("GET|POST", r"/sa(?:\.gif)?", Handler.sa),  # the web SDK turns a server_url ending in /sa into /sa.gif
    ("GET", r"/(?:index\.html)?", Handler.static),
    ("GET", r"/(app\.js|app\.css)", Handler.static),
    ("GET", r"/vendor/sensorsdata\.min\.js", Handler.vendor_sdk),
    ("GET", r"/favicon\.ico", Handler.favicon),
    ("GET|POST", r"/__demo/regression", Handler.regression),
    ("GET", r"/__demo/stats", Handler.stats),
    ("POST", r"/__demo/reset", Handler.reset),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ShopState
    shop: "DemoShop"


class DemoShop:
    """The shop in a background thread: `shop = DemoShop(port=0); shop.start(); shop.url; shop.stop()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", regressions=(), popups: bool = True) -> None:
        self.state = ShopState(regressions=check_regressions(list(regressions)), popups=popups)
        self.server = _Server((host, port), Handler)
        self.server.state, self.server.shop = self.state, self
        self.host, self.port = host, self.server.server_port
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-shop", daemon=True)

    def start(self) -> "DemoShop":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "DemoShop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_regressions(self, names) -> list[str]:
        checked = check_regressions(list(names))
        with self.state.lock:
            self.state.regressions = checked
        return checked

    @property
    def regressions(self) -> list[str]:
        with self.state.lock:
            return list(self.state.regressions)

    @property
    def tracking_requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.tracking_requests)

    def reset(self) -> None:
        """Empty the cart and forget the counts and tracking requests; regressions stay."""
        with self.state.lock:
            self.state.carts.clear()
            self.state.api_calls.clear()
            self.state.tracking_requests.clear()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--regression", action="append", default=[], metavar="NAME",
                        help=f"repeatable or comma-separated; one of: {', '.join(REGRESSIONS)}")
    args = parser.parse_args(argv)
    names = [n.strip() for value in args.regression for n in value.split(",") if n.strip()]
    try:
        shop = DemoShop(port=args.port, host=args.host, regressions=names)
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    # serve_forever runs in a thread: shutdown() called from a handler in the serving thread would hang.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    shop.start()
    print(f"demo shop listening on {shop.url}", flush=True)
    while not stop.wait(0.5):  # a timed wait so signals are seen promptly
        pass
    shop.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
