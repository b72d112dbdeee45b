"""`trackreplay play` on phones, as a lab machine runs it: one cross-platform flow of the demo shop's phone app,
recorded and replayed on a fake Android phone (the fake adb server, found through ANDROID_ADB_SERVER_PORT, driven
by the real adbutils and uiautomator2) through the real proxy process. `trackreplay infer` learns from the
recording, `verify` passes the clean replay and catches a regression injected into the app. The Android phone's
proxy setting is cleared after every play; an iPhone (the fake WebDriverAgent, driven by the real facebook-wda)
not set to the proxy fails the play at once, saying so. (The same flow recorded and replayed on the iPhone is
tests/e2e/test_phone_loop.py, through the agent, which runs the same play().)"""

import json
import subprocess
import sys

import pytest

from demo.server import DemoShop
from device_agent.proxy import free_port
from tests.fakes.android_fixtures import adb_server  # noqa: F401  (the fake adb server, found the usual way)
from tests.fakes.app import FakePhone, ShopApp
from tests.fakes.wda_server import FakeWDA
from tests.process_audit import long_running_pids

# The whole-loop tests (agent, platform worker, proxies, browser or phones) run one at a time on one test worker
# (make test: --dist loadgroup): side by side on two cores their 120 s waits were seen to run out.
pytestmark = pytest.mark.xdist_group("loops")
CLI = [sys.executable, "-m", "trackreplay.cli"]
APP = "com.trackreplay.shop"
FLOW = """\
name: Fresh tab and cart on a phone
app: {android: com.trackreplay.shop, ios: com.trackreplay.shop}
steps:
  - launch
  - tap:
      label: Fresh tab
      target:
        android: [{id: tab_2}, {text: Fresh}]
        ios: [{predicate: "label == 'Fresh' AND type == 'XCUIElementTypeButton'"}, {accessibility_id: Fresh}]
  - scroll_until_visible: {text: "草莓 Strawberries 500 g"}   # the shop's feed order changes on every call
  - tap: {text: "草莓 Strawberries 500 g"}
  - assert_text: {target: {android: [{id: detail_name}], ios: [{accessibility_id: "草莓 Strawberries 500 g"}]},
                  equals: "草莓 Strawberries 500 g"}
  - tap: {target: {android: [{id: detail_add}], ios: [{accessibility_id: Add to cart}]}}
  - back
  - tap: {text: Recommended}
"""


@pytest.fixture
def shop():
    with DemoShop(port=0, popups=False) as running:
        yield running


def play(tmp_path, platform, *args, timeout=180):
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    return subprocess.run([*CLI, "play", str(flow), "--platform", platform, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def events_of(folder):
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def cli(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120)


def record_learn_replay(tmp_path, platform, app: ShopApp, device_args: list, after_each=lambda: None):
    """Record, infer, a clean replay that verifies, a regression that does not. Returns the record folder."""
    rec = tmp_path / "rec"
    recorded = play(tmp_path, platform, *device_args, "--record", rec)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    after_each()
    timeline = json.loads((rec / "timeline.json").read_text())
    assert timeline["platform"] == platform and timeline["outcome"] == "passed"
    assert [s["outcome"] for s in timeline["steps"]] == ["passed"] * 8
    assert all((rec / s["screenshot"]).read_bytes()[:4] == b"\x89PNG" for s in timeline["steps"])
    events = events_of(rec)
    clicks = [(e["properties"]["tab_name"], e["step"]) for e in events if e["event"] == "tab_click"]
    assert clicks == [("Fresh", 2), ("Recommended", 8)]
    assert {e["step"] for e in events if e["event"] == "add_to_cart"} == {6}
    assert all(e["properties"]["$lib"] == ("Android" if platform == "android" else "iOS") for e in events)
    urls = [entry["request"]["url"] for entry in json.loads((rec / "mock.har").read_text())["log"]["entries"]]
    assert any("/api/tab/2" in url for url in urls) and any("/api/cart" in url for url in urls)

    scenario = tmp_path / "scenario.json"
    inferred = cli("infer", rec / "events.jsonl", "--mock", rec / "mock.har", "-o", scenario)
    assert inferred.returncode == 0, inferred.stderr

    clean = play(tmp_path, platform, *device_args, "--mock", rec / "mock.har", "--out", tmp_path / "clean")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    after_each()
    served = json.loads((tmp_path / "clean" / "proxy.json").read_text())
    assert served["served"] >= 5 and served["misses"] == [], served["misses"]
    verified = cli("verify", tmp_path / "clean" / "events.jsonl", "--scenario", scenario, "--mock", rec / "mock.har")
    assert verified.returncode == 0, verified.stdout

    app.regressions = {"wrong_tab_name"}
    broken = play(tmp_path, platform, *device_args, "--mock", rec / "mock.har", "--out", tmp_path / "broken")
    assert broken.returncode == 0, broken.stdout + broken.stderr  # the flow works; only the tracking broke
    after_each()
    verified = cli("verify", tmp_path / "broken" / "events.jsonl", "--scenario", scenario, "--mock", rec / "mock.har")
    assert verified.returncode == 1 and "tab_name" in verified.stdout, verified.stdout
    return rec


def test_android_record_learn_replay_catches_a_regression_and_clears_the_proxy(tmp_path, adb_server, shop):  # noqa: F811
    before = long_running_pids()
    phone = FakePhone("emulator-5554")
    app = phone.install(ShopApp(shop.url))
    adb_server.add(phone)

    def proxy_cleared():
        assert phone.proxy is None and not phone.reversed_ports, (phone.proxy, phone.reversed_ports)

    rec = record_learn_replay(tmp_path, "android", app, ["--device", "emulator-5554"], proxy_cleared)
    logs = json.loads((rec / "logs.json").read_text())
    assert any("SA.AnalyticsMessages" in line["text"] for line in logs)  # the phone's logcat, per run
    assert long_running_pids() <= before


def test_an_iphone_not_using_the_proxy_fails_the_play_at_once_saying_so(tmp_path, shop):
    phone = FakePhone("00008110-000A1B2C3D4E5F60", platform="ios", model="iPhone 14", os_version="17.5",
                      width=390, height=844)
    phone.install(ShopApp(shop.url))
    port = free_port()
    with FakeWDA(phone) as wda:
        result = play(tmp_path, "ios", "--device", phone.serial, "--wda-url", wda.url, "--proxy-port", port,
                      "--out", tmp_path / "out")
    assert result.returncode == 1
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert "is not using the proxy" in timeline["error"] and f":{port}" in timeline["error"]
    assert timeline["steps"] == [] and phone.pid(APP) is None  # nothing ran


def test_a_flow_without_the_platform_s_locators_is_refused_before_anything_starts(tmp_path):
    (tmp_path / "flow.yaml").write_text("app: {android: com.shop}\nsteps:\n  - tap: {css: '#buy'}\n")
    result = subprocess.run([*CLI, "play", str(tmp_path / "flow.yaml"), "--platform", "android", "--device", "x",
                             "--out", tmp_path / "out"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "css is not a locator on Android" in result.stderr
    (tmp_path / "flow.yaml").write_text("app: {android: com.shop}\nsteps:\n  - tap: {id: buy}\n")
    result = subprocess.run([*CLI, "play", str(tmp_path / "flow.yaml"), "--platform", "android", "--out",
                             tmp_path / "out"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--platform android needs --device SERIAL" in result.stderr
    assert not (tmp_path / "out").exists()
