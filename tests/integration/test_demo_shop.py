"""The demo shop (demo/server.py): its API answers vary from call to call as a real backend's do, its page
tracks with the real Sensors Data web SDK in headless Chromium (no proxy in between: the shop answers /sa
itself), the project's own decoders read what it sent, and every regression switch changes what it sends."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from demo.server import REGRESSIONS, SDK, DemoShop
from sdk_bridge.registry import decode_request
from sdk_bridge.wire import TrackingRequest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-gpu"]


@pytest.fixture
def shop():
    with DemoShop(port=0) as shop:
        yield shop


def call(shop, path, payload=None, cookie=None):
    """(status, headers, parsed JSON) of one request; POST when there is a payload."""
    data = json.dumps(payload).encode() if payload is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(shop.url.rstrip("/") + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


# ---- the API ----

def test_home_has_the_documented_shape_and_varies_between_calls(shop):
    answers = []
    for _ in range(5):
        status, headers, answer = call(shop, "/api/home")
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert headers["Cache-Control"] == "no-store"
        answers.append(answer)
    first = answers[0]
    assert first["code"] == 0 and isinstance(first["server_time"], int)
    assert first["data"]["tabs"] == [{"tab_id": 1, "tab_name": "Recommended"}, {"tab_id": 2, "tab_name": "Fresh"},
                                     {"tab_id": 3, "tab_name": "Gifts"}]
    for item in first["data"]["items"]:
        assert set(item) == {"product_id", "name", "price", "stock", "tags"}
        assert item["product_id"].startswith("P") and isinstance(item["price"], float)
        assert isinstance(item["stock"], int) and isinstance(item["tags"], list)
    # Same products every time, but in another order with other stock, under a new request id.
    assert len({a["request_id"] for a in answers}) == 5
    assert len({frozenset(i["product_id"] for i in a["data"]["items"]) for a in answers}) == 1
    assert len({tuple(i["product_id"] for i in a["data"]["items"]) for a in answers}) > 1
    assert len({tuple(sorted((i["product_id"], i["stock"]) for i in a["data"]["items"])) for a in answers}) > 1


def test_tab_product_cart_config_and_popup(shop):
    status, _, fresh = call(shop, "/api/tab/2")
    assert status == 200 and fresh["data"]["tab_id"] == 2 and fresh["request_id"]
    assert {i["product_id"] for i in fresh["data"]["items"]} == {"P2001", "P2002", "P2003", "P2004"}
    assert call(shop, "/api/tab/9")[0] == 404

    status, _, detail = call(shop, "/api/product/P2002")
    assert status == 200
    assert set(detail) == {"product_id", "name", "price", "stock", "description", "request_id", "server_time"}
    assert detail["name"] == "草莓 Strawberries 500 g"
    status, headers, missing = call(shop, "/api/product/P9999")
    assert status == 404 and "P9999" in missing["error"] and headers["Content-Type"].startswith("application/json")

    status, headers, first = call(shop, "/api/cart", {"product_id": "P1001", "qty": 2})
    assert first["cart_size"] == 2
    session = headers["Set-Cookie"].split(";")[0]
    status, _, cart = call(shop, "/api/cart", {"product_id": "P3001", "qty": 1}, cookie=session)
    assert status == 200 and cart["ok"] is True and cart["cart_size"] == 3 and cart["request_id"]
    assert cart["items"] == [{"product_id": "P1001", "qty": 2}, {"product_id": "P3001", "qty": 1}]
    # Another browser (no cookie) has a cart of its own.
    assert call(shop, "/api/cart", {"product_id": "P3002", "qty": 1})[2]["items"] == [{"product_id": "P3002", "qty": 1}]
    assert call(shop, "/api/cart", {"product_id": "nope", "qty": 1})[0] == 400
    assert call(shop, "/api/cart", {"product_id": "P1001", "qty": "2"})[0] == 400

    configs = [call(shop, "/api/config")[2] for _ in range(3)]
    assert {c["experiment"] for c in configs} == {"feed_v2"} and {c["bucket"] for c in configs} <= {"A", "B"}
    popups = [call(shop, "/api/popup")[2]["popups"] for _ in range(3)]
    assert all(p == [] or (len(p) == 1 and p[0]["title"]) for p in popups)

    stats = call(shop, "/__demo/stats")[2]
    assert stats["api_calls"]["/api/cart"] == 5 and stats["api_calls"]["/api/config"] == 3
    assert stats["tracking_requests"] == 0


def test_regression_switch(shop):
    status, _, answer = call(shop, "/__demo/regression", {"regressions": ["wrong_tab_name", "no_such_bug"]})
    assert status == 400
    assert "no_such_bug" in answer["error"] and set(answer["known"]) == set(REGRESSIONS)
    assert call(shop, "/__demo/regression")[2]["regressions"] == []

    status, _, answer = call(shop, "/__demo/regression", {"regressions": ["wrong_tab_name", "price_as_string"]})
    assert status == 200 and answer["regressions"] == ["wrong_tab_name", "price_as_string"]
    assert shop.regressions == ["wrong_tab_name", "price_as_string"]
    with urllib.request.urlopen(shop.url + "app.js", timeout=10) as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert 'new Set(["wrong_tab_name", "price_as_string"])' in response.read().decode()

    assert call(shop, "/__demo/regression", {"regressions": []})[2]["regressions"] == []
    with pytest.raises(ValueError, match="known: wrong_tab_name"):
        shop.set_regressions(["nope"])


def test_front_end_files_and_a_clear_error_without_the_sdk(shop, monkeypatch):
    for path, content_type in [("", "text/html"), ("app.js", "application/javascript"), ("app.css", "text/css"),
                               ("vendor/sensorsdata.min.js", "application/javascript")]:
        with urllib.request.urlopen(shop.url + path, timeout=10) as response:
            assert response.headers["Content-Type"].startswith(content_type), path
    monkeypatch.setattr("demo.server.SDK", Path("/nonexistent/sensorsdata.min.js"))
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(shop.url + "vendor/sensorsdata.min.js", timeout=10)
    assert error.value.code == 500 and b"npm ci --prefix demo/web" in error.value.read()


def test_command_line_prints_its_url_and_stops_cleanly_on_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "demo.server", "--port", "0", "--regression",
                                "wrong_tab_name,drop_product_name"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("demo shop listening on http://127.0.0.1:") and line.endswith("/")
        url = line.rsplit(" ", 1)[1]
        with urllib.request.urlopen(url + "__demo/regression", timeout=10) as response:
            assert json.loads(response.read())["regressions"] == ["wrong_tab_name", "drop_product_name"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- the page, in headless Chromium ----

@pytest.fixture
def browser():
    if not SDK.is_file():
        pytest.fail("the Sensors Data web SDK is not installed: run npm ci --prefix demo/web")
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def decoded_events(shop):
    """What the shop's /sa received, in the order the page tracked it (by client time): the SDK sends each
    event in its own request, and they can arrive in another order."""
    events = []
    for r in shop.tracking_requests:
        events.extend(decode_request(TrackingRequest(r.method, r.url, r.headers, r.body, r.received_at)))
    return sorted(events, key=lambda e: e.time or 0)


def shop_session(browser, shop):
    """Open the shop, close the popup if one came, click Fresh, add its first product to the cart. Returns the
    events the shop's /sa received (once no more arrive) and the API answers the page was given."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(shop.url)
    page.wait_for_selector("body[data-ready=yes]")
    if page.is_visible("#popup"):
        page.click("#popup-close")
    with page.expect_response("**/api/tab/2") as tab_response:
        page.click("#tab-2")
    page.wait_for_selector("body[data-ready=yes]")
    assert page.get_attribute("#tab-2", "aria-selected") == "true" and page.inner_text("#tab-2") == "Fresh"
    fresh = tab_response.value.json()["data"]["items"]
    with page.expect_response("**/api/cart") as cart_response:
        page.click(f"#add-{fresh[0]['product_id']}")
    page.wait_for_selector("body[data-ready=yes]")
    cart = cart_response.value.json()
    assert page.inner_text("#cart-count") == str(cart["cart_size"])
    assert page.inner_text("#toast") == "Added to cart"

    # The SDK sends each event in its own request: wait until they have stopped coming.
    deadline, count, quiet_since = time.monotonic() + 15, -1, time.monotonic()
    while time.monotonic() < deadline:
        if len(shop.tracking_requests) != count:
            count, quiet_since = len(shop.tracking_requests), time.monotonic()
        elif count > 0 and time.monotonic() - quiet_since > 1.0:
            break
        time.sleep(0.1)
    page.close()
    assert not errors, errors
    assert count > 0, "the page sent no tracking request to /sa"
    return decoded_events(shop), fresh, cart


def named(events, name):
    return [e for e in events if e.event == name]


def own(event):
    """The properties the app set, less the SDK's presets ($lib, $url, $screen_width...)."""
    return {k: v for k, v in event.properties.items() if not k.startswith("$")}


@pytest.mark.browser
def test_page_tracks_what_the_user_did_with_the_api_answers(browser, shop):
    events, fresh, cart = shop_session(browser, shop)
    assert call(shop, "/__demo/stats")[2]["tracking_requests"] == len(shop.tracking_requests)
    assert {e.sdk for e in events} == {"sensorsdata"}
    assert all(e.distinct_id == "demo-user-1" for e in events if not e.event.startswith("$"))

    # The Sensors Data web SDK keeps its data model on the wire: a property whose value is null is left
    # out, and a list of objects arrives as a list of JSON strings. So page_view's referrer_page (null on
    # the first screen) and add_to_cart's coupon (null) do not arrive, and add_to_cart.items is strings.
    (page_view,) = named(events, "page_view")
    assert page_view.properties["page"] == "home" and "referrer_page" not in page_view.properties
    assert named(events, "ab_exposure")[0].properties["experiment"] == "feed_v2"

    assert [own(e) for e in named(events, "tab_click")] == [{"tab_id": 2, "tab_name": "Fresh"}]

    # Each event has its own request and they arrive in any order: compare by position.
    exposures = sorted((e.properties for e in named(events, "product_exposure") if e.properties["tab_id"] == 2),
                       key=lambda x: x["position"])
    assert [(x["position"], x["product_id"], x["product_name"], x["list_id"]) for x in exposures] == [
        (i, item["product_id"], item["name"], "home_tab_2") for i, item in enumerate(fresh)]
    assert len(named(events, "product_exposure")) == len(exposures) + 4  # and the 4 of the first screen

    (added,) = named(events, "add_to_cart")
    sent = own(added)
    product = fresh[0]
    assert sent == {"product_id": product["product_id"], "product_name": product["name"], "price": product["price"],
                    "quantity": 1, "items": [json.dumps(i, separators=(",", ":")) for i in cart["items"]],
                    "cart_size": cart["cart_size"]}
    assert isinstance(sent["price"], float | int)


def exposed_positions(events, tab_id):
    return sorted(e.properties["position"] for e in named(events, "product_exposure")
                  if e.properties["tab_id"] == tab_id)


# What each regression does to the events of shop_session: True when the change shows.
REGRESSION_EFFECTS = {
    "wrong_tab_name": lambda events: [own(e) for e in named(events, "tab_click")]
    == [{"tab_id": 2, "tab_name": "Recommended"}],
    "missing_add_to_cart": lambda events: not named(events, "add_to_cart"),
    "price_as_string": lambda events: isinstance(named(events, "add_to_cart")[0].properties["price"], str),
    "duplicate_tab_click": lambda events: len(named(events, "tab_click")) == 2,
    "drop_product_name": lambda events: all("product_name" not in e.properties
                                            for e in named(events, "product_exposure")),
    "position_one_based": lambda events: exposed_positions(events, 2) == [1, 2, 3, 4],
}


def test_every_regression_has_a_browser_check():
    assert set(REGRESSION_EFFECTS) == set(REGRESSIONS)


@pytest.mark.browser
@pytest.mark.parametrize("regression", list(REGRESSION_EFFECTS))
def test_regression_changes_what_the_page_sends(browser, shop, regression):
    shop.set_regressions([regression])  # switched at runtime: the next page load serves the changed app.js
    events, _, _ = shop_session(browser, shop)
    assert REGRESSION_EFFECTS[regression](events), [(e.event, e.properties) for e in events]
    # Everything else still arrives.
    assert {"page_view", "ab_exposure", "product_exposure", "tab_click"} <= {e.event for e in events}


@pytest.mark.browser
def test_search_product_detail_and_back(browser, shop):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with page.expect_response("**/api/home") as home_response:
        page.goto(shop.url)
    page.wait_for_selector("body[data-ready=yes]")
    if page.is_visible("#popup"):
        page.click("#popup-close")
    items = home_response.value.json()["data"]["items"]
    page.get_by_text("You may also like").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 0, "the page is too short to scroll"

    page.get_by_label("Search").fill("tea")
    page.wait_for_function("[...document.querySelectorAll('#products li')].filter(li => li.hidden).length > 0")
    visible = [item for item in items if "tea" in item["name"].lower()]
    assert page.locator("#products li:visible").count() == len(visible) == 1

    page.click("#products li:visible .name")
    page.wait_for_selector("#product-view:not([hidden])")
    page.wait_for_selector("body[data-ready=yes]")
    assert page.inner_text("#detail-name") == visible[0]["name"]
    page.click("#back")
    page.wait_for_selector("#home-view:not([hidden])")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = decoded_events(shop)
        if len(named(events, "page_view")) == 3:
            break
        time.sleep(0.1)
    page.close()
    assert not errors, errors
    assert [own(e) for e in named(events, "search")] == [{"keyword": "tea", "result_count": 1}]
    position = next(i for i, item in enumerate(items) if item["product_id"] == visible[0]["product_id"])
    assert [own(e) for e in named(events, "product_click")] == [{
        "product_id": visible[0]["product_id"], "product_name": visible[0]["name"], "price": visible[0]["price"],
        "position": position}]
    assert [(e.properties["page"], e.properties.get("referrer_page")) for e in named(events, "page_view")] == [
        ("home", None), ("product", "home"), ("home", "product")]
