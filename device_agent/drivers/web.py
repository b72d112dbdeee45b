"""The web driver: Playwright on Debian's Chromium, through the proxy (loopback included).

Locators on the web: `id` is the DOM id or `data-testid`, `text` an element's whole visible text (trimmed,
whitespace collapsed), `accessibility_id` its aria-label, `css` and `xpath` as written, `point` a position
in the viewport. A swipe is a touch gesture: on the web it scrolls the content the way the finger would
move it (from 80% to 20% scrolls down), with the mouse wheel at the start point. The browser's console
messages and page errors are the device's logs."""

from __future__ import annotations

import os
import secrets
import shutil
import time

from ..flows import Locator, Point
from .base import Driver, DriverError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-gpu", "--disable-dev-shm-usage"]
# Installed before any page script: the time of the last DOM change, for waiting until the screen settles.
SETTLE_SCRIPT = """(() => {
  window.__trackreplayChanged = performance.now();
  const mark = () => { window.__trackreplayChanged = performance.now(); };
  const watch = () => new MutationObserver(mark).observe(document, {subtree: true, childList: true,
                                                                      attributes: true, characterData: true});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();"""


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise DriverError("Chromium is not installed: install Debian's chromium package (apt-get install chromium)")
    return path


def _quoted(value: str) -> str:
    """A CSS string literal for an attribute selector."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'


class WebDriver(Driver):
    platform = "web"

    def __init__(self, *, headed: bool = False, viewport: tuple[int, int] = (1280, 800)):
        self.headed = headed
        self.viewport = {"width": viewport[0], "height": viewport[1]}
        self.proxy: str | None = None
        self._playwright = None
        self._browser = None
        self._browser_proxy: str | None = None
        self._context = None
        self._page = None
        self._in_flight: set = set()
        self._logs: list[dict] = []

    # life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._playwright is None:
            # Playwright's sync API refuses to start inside a running asyncio loop; the agent never has one.
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()

    def _ensure_browser(self) -> None:
        self.start()
        if self._browser is not None and self._browser_proxy == self.proxy:
            return
        if self._browser is not None:
            self._close_browser()
        args = list(CHROMIUM_ARGS)
        options = {"executable_path": chromium_path(), "headless": not self.headed, "args": args}
        if self.proxy:
            options["proxy"] = {"server": self.proxy}
            args.append("--proxy-bypass-list=<-loopback>")  # else Chromium never proxies 127.0.0.1 and localhost
        self._browser = self._playwright.chromium.launch(**options)
        self._browser_proxy = self.proxy

    def _close_browser(self) -> None:
        for closing in (self._context, self._browser):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # already gone (crashed, killed): nothing left to close
                    pass
        self._browser = self._context = self._page = None

    def close(self) -> None:
        self._close_browser()
        if self._playwright is not None:
            try:
                self._playwright.stop()
            finally:
                self._playwright = None

    # proxy --------------------------------------------------------------------------------------------------
    def set_proxy(self, host: str, port: int) -> None:
        self.proxy = f"http://{host}:{port}"

    def clear_proxy(self) -> None:
        self.proxy = None
        if self._browser is not None and self._browser_proxy is not None:
            self._close_browser()

    # app ------------------------------------------------------------------------------------------------------
    @property
    def page(self):
        if self._page is None:
            raise DriverError("the app is not running: the flow must start with launch")
        return self._page

    def _new_context(self) -> None:
        if self._context is not None:
            self._context.close()
        self._context = self._browser.new_context(viewport=self.viewport, ignore_https_errors=bool(self.proxy))
        self._context.add_init_script(SETTLE_SCRIPT)
        self._page = self._context.new_page()
        self._in_flight = set()
        page = self._page
        in_flight = self._in_flight
        page.on("request", lambda request: in_flight.add(request))
        page.on("requestfinished", lambda request: in_flight.discard(request))
        page.on("requestfailed", lambda request: in_flight.discard(request))
        page.on("console", lambda message: self._log(message.type, message.text))
        page.on("pageerror", lambda error: self._log("pageerror", str(error)))
        page.on("crash", lambda _: self._log("crash", "the page crashed"))

    def _log(self, level: str, text: str) -> None:
        self._logs.append({"at": int(time.time() * 1000), "level": level, "text": text[:4000]})

    def launch(self, app: str, *, clear_state: bool = False, timeout: float = 30) -> None:
        self._ensure_browser()
        if self._context is None or clear_state:
            self._new_context()
        try:
            self.page.goto(app, wait_until="load", timeout=timeout * 1000)
        except Exception as exc:
            raise DriverError(f"could not open {app}: {_first_line(exc)}") from None

    def stop_app(self, app: str) -> None:
        if self._page is not None:
            self._page.goto("about:blank")

    def clear_app(self, app: str) -> None:
        if self._browser is not None:
            self._new_context()

    # elements -----------------------------------------------------------------------------------------------
    def _query(self, locator: Locator):
        page = self.page
        value = locator.value
        if locator.kind == "id":
            return page.locator(f"[id={_quoted(value)}], [data-testid={_quoted(value)}]")
        if locator.kind == "text":
            return page.get_by_text(value, exact=True)
        if locator.kind == "accessibility_id":
            return page.locator(f"[aria-label={_quoted(value)}]")
        if locator.kind == "xpath":
            return page.locator(f"xpath={value}")
        if locator.kind == "css":
            return page.locator(f"css={value}")
        raise DriverError(f"unknown locator {locator.kind}")

    def find_once(self, locator: Locator):
        if locator.kind == "point":
            return locator.value
        try:
            matches = self._query(locator)
            for index in range(min(matches.count(), 50)):
                element = matches.nth(index)
                if element.is_visible():
                    return element
        except DriverError:
            raise
        except Exception as exc:  # a malformed css or xpath is the flow's mistake: say so, do not retry it
            message = _first_line(exc)
            if "selector" in message.lower() or "xpath" in message.lower():
                raise DriverError(f"{locator}: {message}") from None
        return None

    def text_of(self, element) -> str:
        if isinstance(element, Point):
            raise DriverError("a point has no text")
        tag = element.evaluate("e => e.tagName")
        if tag in ("INPUT", "TEXTAREA", "SELECT"):
            return element.input_value().strip()
        return " ".join(element.inner_text().split())

    # actions ------------------------------------------------------------------------------------------------
    def _xy(self, point: Point) -> tuple[float, float]:
        size = self.page.viewport_size or self.viewport
        return point.resolve(size["width"], size["height"])

    def _center(self, element) -> tuple[float, float]:
        if isinstance(element, Point):
            return self._xy(element)
        element.scroll_into_view_if_needed(timeout=5000)
        box = element.bounding_box()
        if box is None:
            raise DriverError("the element has no size on screen")
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def tap(self, element) -> None:
        if isinstance(element, Point):
            self.tap_point(element)
            return
        try:
            element.click(timeout=5000)
        except Exception as exc:
            raise DriverError(f"could not tap: {_first_line(exc)}") from None

    def tap_point(self, point: Point) -> None:
        self.page.mouse.click(*self._xy(point))

    def long_press(self, element, duration: float) -> None:
        x, y = self._center(element)
        mouse = self.page.mouse
        mouse.move(x, y)
        mouse.down()
        time.sleep(duration)
        mouse.up()

    def input(self, element, text: str, *, clear: bool = True) -> None:
        try:
            if element is None:
                if clear:
                    self.page.keyboard.press("Control+A")
                self.page.keyboard.type(text)
            elif clear:
                element.fill(text, timeout=5000)
            else:
                element.click(timeout=5000)
                self.page.keyboard.type(text)
        except Exception as exc:
            raise DriverError(f"could not type into the element: {_first_line(exc)}") from None

    def swipe(self, start: Point, end: Point, duration: float) -> None:
        (x1, y1), (x2, y2) = self._xy(start), self._xy(end)
        self.page.mouse.move(x1, y1)
        self.page.mouse.wheel(x1 - x2, y1 - y2)
        time.sleep(duration)

    def scroll(self, direction: str) -> None:
        size = self.page.viewport_size or self.viewport
        dx = {"left": -1, "right": 1}.get(direction, 0) * size["width"] * 2 / 3
        dy = {"up": -1, "down": 1}.get(direction, 0) * size["height"] * 2 / 3
        self.page.mouse.move(size["width"] / 2, size["height"] / 2)
        self.page.mouse.wheel(dx, dy)

    def in_viewport(self, element) -> bool:
        if isinstance(element, Point):
            return True
        return bool(element.evaluate("""e => { const r = e.getBoundingClientRect();
            return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth; }"""))

    def back(self) -> None:
        self.page.go_back(wait_until="load")

    def wait_settled(self, *, quiet: float = 0.3, timeout: float = 5.0) -> bool:
        page = self.page
        deadline = time.monotonic() + timeout
        quiet_ms = quiet * 1000
        while True:
            try:
                since_change = page.evaluate("performance.now() - (window.__trackreplayChanged || 0)")
            except Exception:  # navigating: the old document is gone, the new one not ready yet
                since_change = 0
            if not self._in_flight and since_change >= quiet_ms:
                return True
            if time.monotonic() >= deadline:
                return False
            page.wait_for_timeout(50)  # lets Playwright deliver request events while we wait

    # evidence -----------------------------------------------------------------------------------------------
    def screenshot(self, path: str) -> None:
        self.page.screenshot(path=path)

    def hierarchy(self) -> str:
        return self.page.content()

    def logs(self) -> list[dict]:
        return list(self._logs)


def _first_line(exc: Exception) -> str:
    """Playwright's message in one line, with the reason an action kept waiting when it says one (another
    element covering the target, the target disabled or moving)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    why = [line.lstrip("- ") for line in lines[1:] if "intercepts pointer events" in line
           or line.lstrip("- ").startswith("element is not")]
    text = lines[0] + (f" ({why[-1]})" if why else "")
    return text[:700]


def https_probe(driver: WebDriver, proxy, *, timeout: float = 10.0) -> tuple[bool, str]:
    """Whether HTTPS through the proxy works in this browser: it opens the proxy's probe address over HTTPS and
    the proxy says whether the request arrived decrypted. (The agent's Chromium is started to accept the proxy's
    certificates, so this fails only when the proxy or the browser is broken.)"""
    nonce = secrets.token_hex(8)
    try:
        driver.launch(f"https://trackreplay.control/probe/{nonce}", timeout=timeout)
    except DriverError as exc:
        return False, f"HTTPS through the proxy fails in this browser: {exc}"
    if proxy.probe_seen(nonce) == "https":
        return True, "HTTPS interception works on this browser"
    return False, "HTTPS through the proxy fails in this browser: the probe never reached the proxy"

