"""The fake phone and its shop app (tests/fakes/app.py), which the fake adb and WDA servers show: the app talks
to the real demo shop, its events are the real Sensors Data mobile format (the real decoder reads them), and the
cues (crash, ANR, unplug) do what a real phone does."""

import pytest

from demo.server import DemoShop
from sdk_bridge.registry import decode_request
from sdk_bridge.wire import TrackingRequest
from tests.fakes.app import FakePhone, ShopApp, Unplugged


@pytest.fixture
def shop():
    with DemoShop(port=0, popups=False) as shop:
        yield shop


def events_of(shop) -> list:
    events = []
    for request in shop.tracking_requests:
        events += decode_request(TrackingRequest(request.method, request.url, request.headers, request.body))
    return events


def find(phone, **wanted):
    for element in phone.tree().walk():
        if all(getattr(element, key) == value for key, value in wanted.items()):
            return element
    raise AssertionError(f"nothing on screen with {wanted}")


def test_shop_app_sends_sensors_batches_the_decoder_reads(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url))
    phone.start_app("com.trackreplay.shop")
    assert phone.pid("com.trackreplay.shop")
    phone.tap(*find(phone, id="tab_2").center())
    first = find(phone, id="product_name")  # the feed's order changes on every call: the first row on screen
    assert first.text in ("Fuji apples, 1 kg", "草莓 Strawberries 500 g", "Free-range eggs x10", "Sourdough loaf")
    phone.tap(*first.center())
    assert find(phone, id="detail_name").text == first.text
    phone.tap(*find(phone, id="detail_add").center())
    names = [event.event for event in events_of(shop)]
    assert names[:2] == ["page_view", "product_exposure"] and "ab_exposure" in names
    assert names.count("tab_click") == 1 and "product_click" in names and names[-1] == "add_to_cart"
    tab = next(e for e in events_of(shop) if e.event == "tab_click")
    assert tab.properties["tab_name"] == "Fresh" and tab.properties["$lib"] == "Android"
    assert tab.distinct_id == "demo-user-1" and tab.sdk == "sensorsdata"


def test_regressions_change_what_is_sent(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url, regressions=["wrong_tab_name"]))
    phone.start_app("com.trackreplay.shop")
    phone.tap(*find(phone, id="tab_3").center())
    tab = next(e for e in events_of(shop) if e.event == "tab_click")
    assert tab.properties["tab_name"] == "Recommended"
    with pytest.raises(ValueError, match="unknown regression"):
        ShopApp(shop.url, regressions=["nope"])


def test_scrolling_exposes_more_rows_and_typing_searches(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url))
    phone.start_app("com.trackreplay.shop")
    exposed = lambda: [e.properties["position"] for e in events_of(shop) if e.event == "product_exposure"]  # noqa: E731
    first = exposed()
    phone.swipe(540, 2000, 540, 800)
    assert len(exposed()) > len(first) and sorted(set(exposed())) == list(range(len(set(exposed()))))
    phone.tap(*find(phone, id="search").center())
    assert phone.type_text("tea", clear=True)
    search = [e for e in events_of(shop) if e.event == "search"][-1]
    assert search.properties == {**search.properties, "keyword": "tea", "result_count": 1}


def test_a_crash_ends_the_process_and_shows_the_system_dialog(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url))
    phone.start_app("com.trackreplay.shop")
    pid = phone.pid("com.trackreplay.shop")
    phone.crash_on_tap = "com.trackreplay.shop"
    phone.tap(*find(phone, id="tab_2").center())
    assert phone.pid("com.trackreplay.shop") is None
    assert find(phone, kind="dialog").text == "Shop has stopped"
    assert any("FATAL EXCEPTION" in line["text"] for line in phone.logs)
    phone.tap(*find(phone, id="aerr_close").center())
    phone.start_app("com.trackreplay.shop")
    assert phone.pid("com.trackreplay.shop") not in (None, pid)


def test_an_anr_swallows_taps_until_closed(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url))
    phone.start_app("com.trackreplay.shop")
    phone.raise_anr()
    before = len(shop.tracking_requests)
    phone.tap(*find(phone, id="tab_2").center())
    assert len(shop.tracking_requests) == before
    assert find(phone, kind="dialog").text == "Shop isn't responding"
    phone.tap(*find(phone, id="aerr_wait").center())
    phone.tap(*find(phone, id="tab_2").center())
    assert len(shop.tracking_requests) == before + 1


def test_a_loopback_proxy_needs_adb_reverse_and_unplugged_answers_nothing(shop):
    phone = FakePhone("emulator-5554")
    phone.proxy = ("127.0.0.1", shop.port)  # the shop answers proxy-form requests for its own URLs too
    with pytest.raises(ConnectionRefusedError, match="no adb reverse"):
        phone.http("GET", f"{shop.url}api/config")
    phone.reversed_ports[shop.port] = shop.port
    assert phone.http("GET", f"{shop.url}api/config")[0] == 200
    phone.unplug()
    with pytest.raises(Unplugged):
        phone.tree()


def test_screenshot_is_a_png_of_the_screen(shop):
    phone = FakePhone("emulator-5554")
    phone.install(ShopApp(shop.url))
    phone.start_app("com.trackreplay.shop")
    png = phone.screenshot_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
