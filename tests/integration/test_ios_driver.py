"""The iOS driver against a fake iPhone: the real facebook-wda client talks HTTP to a fake WebDriverAgent
(tests/fakes/wda_server.py), tidevice's usbmux client talks to a fake usbmuxd on a unix socket
(tests/fakes/usbmuxd.py), and the phone behind both runs the demo shop as an app whose network goes to the
real demo server. Crashes, a hung app, a dead WDA and an unplugged phone are cues on the fakes; the real Player
runs the flows through them."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time

import pytest

from demo.server import DemoShop
from device_agent.drivers.base import DeviceGone, DriverError
from device_agent.drivers.ios import IOSDriver, discover, https_probe, proxy_probe
from device_agent.flows import Flow, Locator, Point, Step, parse_flow
from device_agent.player import Player
from device_agent.proxy import free_port
from tests.fakes.app import Element, FakeApp, FakePhone, ShopApp
from tests.fakes.probe_proxy import ProbeProxy
from tests.fakes.usbmuxd import FakeUsbmuxd
from tests.fakes.wda_server import SAFARI, FakeWDA, SafariApp

UDID = "00008110-000A1C2E0E91801E"
SHOP = ShopApp.package


def iphone(udid: str = UDID, *, os_version: str = "16.7", name: str = "Lab iPhone 3", battery: int = 87) -> FakePhone:
    return FakePhone(udid, platform="ios", model="iPhone 14", os_version=os_version, width=390, height=844,
                     name=name, battery=battery)


@pytest.fixture(autouse=True)
def nothing_left_running():
    """Every server, relay and pump thread a test starts has ended when it is over."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while (left := [t for t in threading.enumerate() if t not in before]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"threads left running: {left}"


@pytest.fixture
def shop():
    with DemoShop(port=0, popups=False) as shop:
        yield shop


@pytest.fixture
def phone(shop):
    phone = iphone()
    phone.install(ShopApp(shop.url))
    return phone


@pytest.fixture
def fake_wda(phone):
    with FakeWDA(phone, snapshot_timeout=0.5) as fake:
        yield fake


@pytest.fixture
def driver(fake_wda):
    driver = IOSDriver(UDID, wda_url=fake_wda.url, relaunch=fake_wda.relaunch, wda_wait=5)
    try:
        driver.start()
        yield driver
    finally:
        driver.close()


@pytest.fixture
def usbmuxd():
    with tempfile.TemporaryDirectory(prefix="mux-") as folder:  # short: a unix socket path has 108 bytes
        with FakeUsbmuxd(os.path.join(folder, "usbmuxd")) as mux:
            yield mux


def searched(fake_wda, using: str) -> list[str]:
    return [value for strategy, value in fake_wda.searches if strategy == using]


def routes(fake_wda, suffix: str) -> int:
    return sum(1 for _, path in fake_wda.routes_seen if path.endswith(suffix))


def play(driver, steps, tmp_path, *, on_step=None) -> dict:
    flow = Flow(name="ios", app=SHOP, env={}, steps=steps, file="ios.yaml")
    return Player(driver, flow, out_dir=tmp_path, on_step=on_step, settle_quiet=0.1, settle_timeout=1).play()


SHOP_FLOW = parse_flow("""
app: com.trackreplay.shop
steps:
  - launch
  - tap: {text: Fresh, timeout: 1}
  - tap: {text: Gifts, timeout: 1}
  - assert_visible: {accessibility_id: Search, timeout: 1}
""", file="shop.yaml").steps


# -- the driver's methods ------------------------------------------------------------------------------------

def test_launch_find_tap_and_type_through_wdas_own_strategies(driver, fake_wda, phone):
    driver.launch(SHOP)
    app = phone.apps[SHOP]
    assert phone.foreground == SHOP and phone.pid(SHOP) and "launched com.trackreplay.shop" in driver.logs()[-1]["text"]
    fresh = driver.find([Locator("text", "Fresh")], 2)
    assert driver.text_of(fresh) == "Fresh" and driver.in_viewport(fresh)
    driver.tap(fresh)
    assert driver.wait_settled(quiet=0.2, timeout=3) and app.tab_id == 2
    first = driver.find([Locator("class_chain", "**/XCUIElementTypeCell[1]/XCUIElementTypeButton[1]")], 2)
    name = driver.text_of(first)
    driver.tap(first)
    assert app.view == "product" and app.detail["name"] == name
    shown = driver.find([Locator("xpath", f'//XCUIElementTypeStaticText[@label="{name}"]')], 2)
    assert driver.text_of(shown) == name
    quantity = driver.find([Locator("accessibility_id", "Quantity")], 2)
    driver.input(quantity, "3")
    assert app.qty == "3"
    driver.input(quantity, "4", clear=False)
    assert app.qty == "34" and driver.text_of(quantity) == "34"
    driver.tap(driver.find([Locator("predicate", 'type == "XCUIElementTypeButton" AND label == "Add to cart"')], 2))
    assert app.cart_size == 34
    assert searched(fake_wda, "link text") == ["label=Fresh"]
    assert searched(fake_wda, "accessibility id") == ["Quantity"]
    assert searched(fake_wda, "class chain") == ["**/XCUIElementTypeCell[1]/XCUIElementTypeButton[1]"]
    assert searched(fake_wda, "xpath") and searched(fake_wda, "predicate string")
    assert routes(fake_wda, "/click") == 3 and routes(fake_wda, "/clear") == 1 and routes(fake_wda, "/value") == 2


def test_typing_without_a_target_goes_to_the_focused_field(driver, phone):
    driver.launch(SHOP)
    with pytest.raises(DriverError, match="no text field has the keyboard focus: tap one first"):
        driver.input(None, "tea")
    driver.tap(driver.find([Locator("accessibility_id", "Search")], 2))
    driver.input(None, "tee")
    driver.input(None, "\bas", clear=False)
    assert phone.apps[SHOP].query == "teas"
    driver.input(None, "tea")
    assert phone.apps[SHOP].query == "tea"


def test_points_gestures_scrolling_and_back(driver, fake_wda, phone):
    driver.launch(SHOP)
    app = phone.apps[SHOP]
    driver.tap(Point.parse("90%,15%"))  # the third tab
    assert app.tab_id == 3
    driver.long_press(Point.parse("50%,15%"), 0.1)
    assert app.tab_id == 2
    driver.long_press(driver.find([Locator("text", "Recommended")], 2), 0.1)
    assert app.tab_id == 1 and routes(fake_wda, "/touchAndHold") == 2
    driver.swipe(Point.parse("50%,80%"), Point.parse("50%,30%"), 0.1)
    assert app.scroll == 422  # half the screen, in points
    driver.scroll("up")
    assert app.scroll == 0
    driver.scroll("down")
    assert app.scroll > 0
    driver.scroll("up")
    driver.tap(driver.find([Locator("class_chain", "**/XCUIElementTypeCell[1]/XCUIElementTypeButton[1]")], 2))
    assert app.view == "product"
    driver.back()  # no navigation bar in this app: the swipe from the left edge
    assert app.view == "home" and phone.foreground == SHOP
    driver.back()  # at the first screen the gesture does nothing (it is not Android's back key)
    assert phone.foreground == SHOP


class Settings(FakeApp):
    """An app with iOS's navigation bar: back is its back button."""

    package = "com.example.settings"
    label = "Settings"

    def __init__(self):
        self.page, self.went_back = "About", ""

    def screen(self, ctx):
        if self.page == "General":
            return [Element("text", text="General", bounds=(0, 50, 390, 100))]
        return [Element("navigation_bar", bounds=(0, 0, 390, 44), children=[
                    Element("button", accessibility_id="BackButton", text="General", bounds=(0, 0, 100, 44),
                            action="back"),
                    Element("text", text="About", bounds=(150, 0, 240, 44))])]

    def on_tap(self, ctx, element):
        if element.action == "back":
            self.page, self.went_back = "General", "button"

    def on_back(self, ctx):
        self.page, self.went_back = "General", "swipe"
        return True


def test_back_taps_the_navigation_bars_back_button_when_there_is_one(driver, phone):
    settings = phone.install(Settings())
    driver.launch(Settings.package)
    driver.back()
    assert settings.page == "General" and settings.went_back == "button"


def test_only_visible_elements_are_found(driver, phone):
    settings = phone.install(Settings())
    settings.page = "General"
    settings.screen = lambda ctx: [Element("text", text="General", bounds=(0, 50, 390, 100)),
                                   Element("text", text="Below the screen", bounds=(0, 900, 390, 950))]
    driver.launch(Settings.package)
    assert driver.is_visible([Locator("text", "General")])
    assert not driver.is_visible([Locator("text", "Below the screen")])  # WDA finds it: it is not visible


def test_evidence_and_stopping(driver, fake_wda, phone, tmp_path):
    driver.launch(SHOP)
    driver.screenshot(str(tmp_path / "shot.png"))
    png = (tmp_path / "shot.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    source = driver.hierarchy()
    assert '<XCUIElementTypeApplication type="XCUIElementTypeApplication" name="Shop"' in source
    assert 'name="Search" label="Search"' in source
    pid = phone.pid(SHOP)
    driver.stop_app(SHOP)
    assert phone.pid(SHOP) is None and phone.foreground is None
    assert [entry["text"] for entry in driver.logs()] == [f"WebDriverAgent answers at {fake_wda.url}: iOS 16.7",
                                                          f"launched com.trackreplay.shop (process {pid})"]


def test_locators_ios_does_not_have_are_refused(driver):
    driver.launch(SHOP)
    with pytest.raises(DriverError, match="id=search: `id` is not an iOS locator .*use accessibility_id"):
        driver.find([Locator("id", "search")], 2)
    with pytest.raises(DriverError, match="`css` is not an iOS locator"):
        driver.find_once(Locator("css", "#search"))
    with pytest.raises(DriverError, match="unknown locator kind 'resource'"):
        driver.find_once(Locator("resource", "x"))


def test_a_query_outside_wdas_languages_fails_at_once_naming_the_part(driver):
    driver.launch(SHOP)
    started = time.monotonic()
    with pytest.raises(DriverError, match="WDA answered invalid selector: unsupported operator 'MATCHES'"):
        driver.find([Locator("predicate", 'label MATCHES "F.*"')], 5)
    with pytest.raises(DriverError, match=r"invalid selector: descendant predicates \(\[\$...\$\]\)"):
        driver.find([Locator("class_chain", '**/XCUIElementTypeCell[$label == "x"$]')], 5)
    assert time.monotonic() - started < 2  # the flow's mistake is not retried until the timeout


def test_what_ios_cannot_do_is_said(driver, phone):
    with pytest.raises(DriverError, match="clear_state is not supported on iOS: .* reinstalling com.trackreplay.shop"):
        driver.launch(SHOP, clear_state=True)
    with pytest.raises(DriverError, match="cannot clear com.trackreplay.shop on iOS"):
        driver.clear_app(SHOP)
    with pytest.raises(DriverError, match="launching com.example.gone: WDA answered session not created: .*'com."
                                          "example.gone' is not installed"):
        driver.launch("com.example.gone")
    driver.set_proxy("192.168.1.20", 8888)
    driver.clear_proxy()
    assert phone.proxy is None  # nothing was ever set on the phone


def test_the_fake_answers_unknown_routes_as_wda_does(fake_wda):
    import wda

    client = wda.Client(fake_wda.url)
    status = client.status()
    assert status["ready"] and status["os"] == {"name": "iOS", "version": "16.7", "sdkVersion": "16.7",
                                                "testmanagerdVersion": 28} and status["sessionId"] is None
    with pytest.raises(wda.WDARequestError) as raised:
        client.http.get("/wda/no/such/route")
    assert raised.value.value["error"] == "unknown command"
    assert raised.value.value["message"].startswith("Unhandled endpoint: /wda/no/such/route")


# -- WDA's health ------------------------------------------------------------------------------------------------

def test_a_dead_wda_is_relaunched_when_the_driver_starts(fake_wda):
    fake_wda.kill()
    driver = IOSDriver(UDID, wda_url=fake_wda.url, relaunch=fake_wda.relaunch, wda_wait=5)
    try:
        driver.start()
        driver.launch(SHOP)
    finally:
        driver.close()
    assert fake_wda.launches == 2
    assert [entry["text"] for entry in driver.logs()][:2] == [
        f"WebDriverAgent does not answer at {fake_wda.url}: ConnectionRefusedError: [Errno 111] Connection refused",
        "relaunched WebDriverAgent"]


def test_a_dead_wda_without_a_relaunch_command_is_a_clear_error(fake_wda):
    fake_wda.kill()
    driver = IOSDriver(UDID, wda_url=fake_wda.url)
    try:
        with pytest.raises(DriverError, match=f"WebDriverAgent does not answer at {fake_wda.url} .*Connection "
                                              f"refused.*: start WebDriverAgent on the phone .* or give the device a "
                                              f"relaunch command"):
            driver.start()
    finally:
        driver.close()


def test_a_relaunch_command_is_started_and_ended_with_the_driver():
    port = free_port()
    command = f"{sys.executable} -m tests.fakes.wda_server --port {port} --udid {UDID}"
    driver = IOSDriver(UDID, wda_url=f"http://127.0.0.1:{port}", relaunch=command, wda_wait=20)
    try:
        driver.start()
        process = driver._process
        assert process.poll() is None and "SpringBoard" in driver.hierarchy()
    finally:
        driver.close()
    assert process.poll() is not None and driver._process is None
    failing = IOSDriver(UDID, wda_url=f"http://127.0.0.1:{port}", relaunch="false", wda_wait=20)
    try:
        with pytest.raises(DeviceGone, match="could not be relaunched .*`false` exited with 1: no output"):
            failing.start()
    finally:
        failing.close()


def test_wda_killed_within_a_run_is_relaunched_and_the_step_tried_again(driver, fake_wda, tmp_path):
    timeline = play(driver, SHOP_FLOW, tmp_path, on_step=lambda index: index == 3 and fake_wda.kill())
    assert timeline["outcome"] == "passed", timeline
    step = timeline["steps"][2]
    assert step["notes"] == [f"WebDriverAgent is not answering at {fake_wda.url} (ConnectionRefusedError: [Errno 111] "
                             f"Connection refused); relaunched WebDriverAgent; the step is tried again"]
    assert fake_wda.launches == 2 and step["attempts"] == 2


def test_an_app_crash_is_detected_and_the_app_launched_again(driver, fake_wda, phone, tmp_path):
    crashed = {}

    def crash(index):
        if index == 3:
            crashed["pid"] = phone.pid(SHOP)
            fake_wda.crash()
            crashed["screen"] = driver.hierarchy()

    timeline = play(driver, SHOP_FLOW, tmp_path, on_step=crash)
    assert timeline["outcome"] == "passed", timeline
    assert timeline["steps"][2]["notes"] == [
        f"the app crashed: process {crashed['pid']} is gone; launched the app again (process {phone.pid(SHOP)}); "
        f"the step is tried again"]
    # iOS shows no "has stopped" dialog: the app is gone and the home screen shows
    assert 'name="SpringBoard"' in crashed["screen"] and "has stopped" not in crashed["screen"]
    assert phone.apps[SHOP].tab_id == 3


def test_a_hung_app_is_terminated_and_launched_again(driver, fake_wda, phone, tmp_path):
    steps = [*SHOP_FLOW[:2], Step("tap", target=[Locator("predicate", 'label == "Gifts"')], timeout=1),
             Step("assert_visible", target=[Locator("class_chain", "**/XCUIElementTypeTextField")], timeout=1)]
    timeline = play(driver, steps, tmp_path, on_step=lambda index: index == 3 and fake_wda.hang())
    assert timeline["outcome"] == "passed", timeline
    notes = timeline["steps"][2]["notes"]
    assert len(notes) == 1 and notes[0].startswith("the app is not responding: WDA could not read its screen")
    assert notes[0].endswith(f"terminated the app and launched it again (process {phone.pid(SHOP)}); the step is "
                             f"tried again")


def test_an_app_sent_to_the_background_is_brought_back(driver, phone, tmp_path):
    phone.install(SafariApp())
    timeline = play(driver, SHOP_FLOW, tmp_path, on_step=lambda index: index == 3 and phone.start_app(SAFARI))
    assert timeline["outcome"] == "passed", timeline
    assert timeline["steps"][2]["notes"] == [
        "the app is in the background: com.apple.mobilesafari is in front; brought the app back to the front; the "
        "step is tried again"]


def test_an_iphone_unplugged_mid_run_ends_it_keeping_what_was_captured(driver, fake_wda, tmp_path):
    timeline = play(driver, SHOP_FLOW, tmp_path, on_step=lambda index: index == 3 and fake_wda.unplug())
    assert timeline["outcome"] == "failed"
    assert timeline["error"].startswith("device disconnected at step 3 (tap text=Gifts): WebDriverAgent is not "
                                        "answering at")
    assert "could not be relaunched" in timeline["error"] and "the iPhone was unplugged or its tunnel is gone" in \
        timeline["error"]
    assert [step["outcome"] for step in timeline["steps"]] == ["passed", "passed", "failed", "skipped"]
    assert timeline["steps"][3]["error"] == "not run: step 3 failed"
    assert sorted(path.name for path in (tmp_path / "screenshots").iterdir()) == ["001.png", "002.png"]


def test_an_iphone_unplugged_from_usb_mid_run_is_seen_by_usbmuxd(usbmuxd, fake_wda, phone, tmp_path):
    usbmuxd.attach(phone, "iPhone14,7", ports={8100: fake_wda.port})
    driver = IOSDriver(UDID, usbmux=usbmuxd.path)  # no URL: WDA through usbmuxd, no relaunch needed to tell
    try:
        driver.start()
        timeline = play(driver, SHOP_FLOW, tmp_path, on_step=lambda index: index == 3 and phone.unplug())
    finally:
        driver.close()
    assert timeline["outcome"] == "failed"
    assert timeline["error"].startswith(f"device disconnected at step 3 (tap text=Gifts): {UDID} is no longer "
                                        f"attached")
    assert [step["outcome"] for step in timeline["steps"]] == ["passed", "passed", "failed", "skipped"]


def test_an_iphone_on_usb_without_wda_running_says_so(usbmuxd, phone):
    usbmuxd.attach(phone, "iPhone14,7")  # nothing listens on the phone's port 8100
    driver = IOSDriver(UDID, usbmux=usbmuxd.path)
    try:
        with pytest.raises(DriverError, match=f"WebDriverAgent does not answer at http\\+usbmux://{UDID}:8100 "
                                              f"\\(usbmuxd could not connect to port 8100 on {UDID}: "
                                              f"ConnectionRefused\\): start WebDriverAgent"):
            driver.start()
    finally:
        driver.close()


def test_a_whole_flow_runs_through_usbmuxd(usbmuxd, fake_wda, phone, shop, tmp_path):
    usbmuxd.attach(phone, "iPhone14,7", ports={8100: fake_wda.port})
    driver = IOSDriver(UDID, wda_url=f"http+usbmux://{UDID}:8100", usbmux=usbmuxd.path)
    try:
        driver.start()
        timeline = play(driver, SHOP_FLOW, tmp_path)
    finally:
        driver.close()
    assert timeline["outcome"] == "passed", timeline
    assert phone.apps[SHOP].tab_id == 3 and len(shop.tracking_requests) >= 3


# -- discovery ---------------------------------------------------------------------------------------------------

def test_discover_lists_usbmux_iphones_and_wda_urls(usbmuxd, caplog):
    below = iphone("00008110-000A1C2E0E91801E", os_version="16.7", name="Lab iPhone 3", battery=87)
    new_usb = iphone("00008120-001C195A3C98A01E", os_version="17.4", name="Lab iPhone 5", battery=42)
    no_url = iphone("00008030-000D4D2E0C38802E", os_version="17.2", name="Forgotten")
    no_wda = iphone("00008101-000E39A41E40001E", os_version="15.8", name="Lab iPhone 1")
    network = iphone("00008140-0012345678AB801E", os_version="17.5", name="Network iPhone", battery=100)
    with FakeWDA(below) as below_wda, FakeWDA(new_usb) as new_wda, FakeWDA(network) as network_wda:
        usbmuxd.attach(below, "iPhone14,7", ports={8100: below_wda.port})
        usbmuxd.attach(new_usb, "iPhone15,4")
        usbmuxd.attach(no_url, "iPhone12,1")
        usbmuxd.attach(no_wda, "iPhone13,2")
        dead = free_port()
        with caplog.at_level(logging.WARNING, logger="device_agent.drivers.ios"):
            reports = discover(usbmux=usbmuxd.path, wda_urls={
                new_usb.serial.replace("-", ""): new_wda.url, network.serial: network_wda.url,
                "00008150-DEAD": f"http://127.0.0.1:{dead}"})
            # without --ios only the phones given by URL are offered; usbmuxd still tells their model
            only_urls = discover(usbmux=usbmuxd.path, usb=False, wda_urls={new_usb.serial: new_wda.url})
    assert reports == [
        {"platform": "ios", "serial": below.serial, "name": "Lab iPhone 3", "model": "iPhone 14", "os_version": "16.7",
         "labels": [], "screen": "1170x2532", "battery": 87, "proxy": "manual",
         "wda_url": f"http+usbmux://{below.serial}:8100"},
        {"platform": "ios", "serial": new_usb.serial, "name": "Lab iPhone 5", "model": "iPhone15,4",
         "os_version": "17.4", "labels": [], "screen": "1170x2532", "battery": 42, "proxy": "manual",
         "wda_url": new_wda.url},
        {"platform": "ios", "serial": no_wda.serial, "name": "Lab iPhone 1", "model": "iPhone 12", "os_version": "15.8",
         "labels": [], "screen": "", "battery": None, "proxy": "manual",
         "wda_url": f"http+usbmux://{no_wda.serial}:8100"},
        {"platform": "ios", "serial": network.serial, "name": "Network iPhone", "model": "iPhone", "os_version": "17.5",
         "labels": [], "screen": "1170x2532", "battery": 100, "proxy": "manual", "wda_url": network_wda.url},
    ]
    assert only_urls == [reports[1]]
    warnings = [record.getMessage() for record in caplog.records]
    assert any(f"iPhone {no_url.serial} runs iOS 17.2: from iOS 17 WDA is reached through a URL" in w for w in warnings)
    assert any(f"no WebDriverAgent answers at http://127.0.0.1:{dead} for iPhone 00008150-DEAD" in w for w in warnings)


def test_discover_without_usbmuxd(tmp_path):
    with pytest.raises(DriverError, match=f"usbmuxd does not answer at {tmp_path}/none"):
        discover(usbmux=str(tmp_path / "none"))


# -- the proxy probe ---------------------------------------------------------------------------------------------

@pytest.fixture
def probe_proxy():
    with ProbeProxy() as proxy:
        yield proxy


def test_the_proxy_probe_passes_when_the_iphone_uses_the_proxy(driver, phone, probe_proxy):
    phone.proxy = (probe_proxy.host, probe_proxy.port)  # what the QA engineer set in the phone's Wi-Fi settings
    driver.set_proxy(probe_proxy.host, probe_proxy.port)
    assert proxy_probe(driver, probe_proxy, wait=2) == (
        True, f"Lab iPhone 3 sends its traffic through the proxy at 127.0.0.1:{probe_proxy.port}")
    assert len(probe_proxy.seen) == 1 and probe_proxy.seen[0].startswith("http /probe/")
    assert phone.foreground == SAFARI and "trackreplay.control/probe/" in driver.hierarchy()


def test_the_proxy_probe_fails_the_run_clearly_when_the_iphone_does_not_use_it(driver, phone, probe_proxy):
    driver.set_proxy("192.168.1.20", probe_proxy.port)
    ok, detail = proxy_probe(driver, probe_proxy, wait=1)
    assert not ok and detail == (
        f"the iPhone is not using the proxy at 192.168.1.20:{probe_proxy.port}: set Settings > Wi-Fi > (network) > "
        f"Configure Proxy > Manual, Server 192.168.1.20, Port {probe_proxy.port} on Lab iPhone 3 (docs/devices.md)")
    assert phone.requests[-1]["via"] is None and probe_proxy.seen == []
    fresh = IOSDriver(UDID, wda_url=driver.wda_url)
    assert proxy_probe(fresh, probe_proxy) == (
        False, "no proxy address was given to the iOS driver (set_proxy) before the probe")


def test_the_https_probe_tells_an_untrusted_ca_from_a_missing_proxy(driver, phone, probe_proxy):
    driver.set_proxy(probe_proxy.host, probe_proxy.port)
    ok, detail = https_probe(driver, probe_proxy, wait=1)
    assert not ok and detail.startswith("the iPhone is not using the proxy at")
    phone.proxy = (probe_proxy.host, probe_proxy.port)
    ok, detail = https_probe(driver, probe_proxy, wait=1)
    assert not ok and detail.startswith("HTTPS through the proxy does not work on Lab iPhone 3: it uses the proxy "
                                        "but does not trust its CA")
    assert "CERTIFICATE_VERIFY_FAILED" in phone.requests[-2]["error"]
    phone.user_cas = [probe_proxy.ca_pem]  # installed from the console's CA page and trusted in Settings
    assert https_probe(driver, probe_proxy, wait=2) == (True, "HTTPS interception works on Lab iPhone 3")
    assert probe_proxy.seen[-1].startswith("https /probe/")


# -- a real iPhone -----------------------------------------------------------------------------------------------

@pytest.mark.device
@pytest.mark.skipif(not os.environ.get("TRACKREPLAY_DEVICE_UDID"),
                    reason="needs a physical iPhone: set TRACKREPLAY_DEVICE_UDID (and TRACKREPLAY_DEVICE_WDA_URL "
                           "from iOS 17)")
def test_a_real_iphone_through_wda(tmp_path):
    udid = os.environ["TRACKREPLAY_DEVICE_UDID"]
    url = os.environ.get("TRACKREPLAY_DEVICE_WDA_URL") or None
    reports = discover(wda_urls={udid: url} if url else None)
    assert any(report["serial"] == udid and report["proxy"] == "manual" for report in reports), reports
    driver = IOSDriver(udid, wda_url=url, relaunch=os.environ.get("TRACKREPLAY_DEVICE_WDA_RELAUNCH") or None)
    with driver:
        driver.launch("com.apple.Preferences")
        driver.tap(driver.find([Locator("predicate", 'type == "XCUIElementTypeCell" AND visible == 1')], 15))
        assert driver.wait_settled(timeout=10)
        driver.back()
        driver.screenshot(str(tmp_path / "settings.png"))
        assert "XCUIElementTypeApplication" in driver.hierarchy()
        driver.stop_app("com.apple.Preferences")
