"""The Android driver, driven through the REAL uiautomator2 and adbutils clients against the fake adb server
(tests/fakes/adb_server.py) and its fake phone running the demo shop app: every driver method, every locator
kind, the proxy setting in every outcome, crash / ANR / dead UI server / unplugged phone through the real
Player, discovery, CA install and the HTTPS probe."""

import json
from xml.etree import ElementTree

import adbutils
import pytest

from device_agent.drivers.android import (AndroidDriver, clear_proxy_setting, discover, https_probe, install_ca,
                                          subject_hash_old)
from device_agent.drivers.base import DeviceGone, DriverError
from device_agent.flows import Locator, Point, parse_flow
from device_agent.player import Player
from sdk_bridge.registry import decode_request
from sdk_bridge.wire import TrackingRequest
from tests.fakes.android_fixtures import APP, SERIAL, adb_server, driver, phone, shop  # noqa: F401
from tests.fakes.app import FakePhone
from mock_records.ca import ca_certificate
from tests.fakes.probe_proxy import ProbeProxy


def events(shop):  # noqa: F811
    found = []
    for request in shop.tracking_requests:
        found += decode_request(TrackingRequest(request.method, request.url, request.headers, request.body))
    return found


def find(driver, kind, value):  # noqa: F811
    return driver.find_once(Locator(kind, value))


def flow(text: str):
    return parse_flow(f"name: android\napp: {APP}\nsteps:\n{text}")


# -- app and elements --------------------------------------------------------------------------------------------

def test_launch_records_the_process_and_stop_and_clear_end_it(driver, phone):  # noqa: F811
    driver.launch(APP)
    assert driver._pids[APP] == phone.pid(APP)
    phone.apps[APP].cart_size = 3
    driver.launch(APP, clear_state=True)  # pm clear: the app starts from nothing
    assert phone.apps[APP].cart_size == 0 and phone.pid(APP) == driver._pids[APP]
    driver.stop_app(APP)
    assert phone.pid(APP) is None and APP not in driver._pids
    driver.launch(APP)
    driver.clear_app(APP)
    assert phone.pid(APP) is None
    with pytest.raises(DriverError, match="com.example.absent is not installed on Pixel 7"):
        driver.launch("com.example.absent")
    with pytest.raises(DriverError, match="is not an Android app"):
        driver.launch("http://shop.example/")


def test_every_locator_kind_finds_what_is_on_screen(driver):  # noqa: F811
    driver.launch(APP)
    assert find(driver, "id", "search").attributes["resource-id"] == f"{APP}:id/search"
    assert find(driver, "id", f"{APP}:id/search").bounds == (0, 150, 1080, 300)
    assert find(driver, "id", "android:id/search") is None
    assert find(driver, "text", "  Fresh ").attributes["resource-id"] == f"{APP}:id/tab_2"
    assert find(driver, "accessibility_id", "Search").attributes["class"] == "android.widget.EditText"
    assert find(driver, "xpath", '//node[@resource-id="com.trackreplay.shop:id/title"]').text == "Trackreplay Shop"
    assert find(driver, "xpath", "//node[@text='no such thing']") is None
    assert find(driver, "point", Point.parse("50%,10%")) == Point(0.5, 0.1, True, True)
    with pytest.raises(DriverError, match="css is a web locator"):
        find(driver, "css", "#buy")
    with pytest.raises(DriverError, match="not a valid XPath"):
        find(driver, "xpath", "//node[")
    with pytest.raises(DriverError, match="must select elements"):
        find(driver, "xpath", "count(//node)")
    assert driver.find([Locator("id", "nope"), Locator("text", "Gifts")], timeout=1).text == "Gifts"


def test_taps_typing_and_gestures_reach_the_app(driver, phone, shop):  # noqa: F811
    driver.launch(APP)
    driver.tap(find(driver, "id", "tab_2"))
    assert find(driver, "id", "tab_2").attributes["selected"] == "true"
    rows = phone.apps[APP].items  # the shop lists them in an order of its own
    driver.tap_point(Point.parse("50%,25%"))  # the first row's name (450..850 px): opens the product
    assert find(driver, "id", "detail_name").text == rows[0]["name"]
    qty = find(driver, "id", "qty")
    driver.input(qty, "4")
    assert driver.text_of(qty) == "4"
    driver.input(None, "2", clear=False)  # into the focused box, after what it holds
    assert driver.text_of(qty) == "42"
    driver.long_press(find(driver, "accessibility_id", "Add to cart"), 0.2)
    assert phone.apps[APP].cart_size == 42
    driver.back()
    assert find(driver, "id", "search") is not None
    exposed = {e.properties["product_id"] for e in events(shop) if e.event == "product_exposure"}
    assert find(driver, "text", rows[3]["name"]) is None  # the fourth row is below the screen
    driver.scroll("down")
    assert find(driver, "text", rows[3]["name"]) is not None and find(driver, "text", rows[0]["name"]) is None
    driver.swipe(Point.parse("540,500"), Point.parse("540,2000"), 0.1)  # the finger goes down: back to the top
    assert find(driver, "text", rows[0]["name"]) is not None
    new = {e.properties["product_id"] for e in events(shop) if e.event == "product_exposure"} - exposed
    assert new == {rows[3]["product_id"]}


def test_typing_needs_a_target(driver):  # noqa: F811
    driver.launch(APP)
    with pytest.raises(DriverError, match="no input has the focus"):
        driver.input(None, "tea")
    driver.input(find(driver, "accessibility_id", "Search"), "tea")
    assert find(driver, "id", "search").text == "tea" and find(driver, "text", "Tea tasting set") is None


def test_text_of_follows_the_screen(driver, phone):  # noqa: F811
    driver.launch(APP)
    cart = find(driver, "id", "cart_count")
    assert driver.text_of(cart) == "0"
    first = phone.apps[APP].items[0]["product_id"]
    driver.tap(find(driver, "xpath", f"//node[@resource-id='com.trackreplay.shop:id/add_{first}']"))
    assert driver.text_of(cart) == "1"
    driver.stop_app(APP)
    with pytest.raises(DriverError, match="no longer on the screen"):
        driver.text_of(cart)
    with pytest.raises(DriverError, match="a point has no text"):
        driver.text_of(Point.parse("1,1"))


def test_evidence_screenshot_hierarchy_and_the_runs_own_logcat(adb_server, phone, tmp_path):  # noqa: F811
    phone.log("I", "Before", "logged before the driver started")
    driver = AndroidDriver(SERIAL)  # noqa: F811
    driver.start()
    try:
        driver.launch(APP)
        assert driver.wait_settled(quiet=0.2, timeout=3)
        driver.screenshot(str(tmp_path / "shot.png"))
        assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        tree = ElementTree.fromstring(driver.hierarchy().split("?>", 1)[1])
        assert tree.tag == "hierarchy" and tree[0].get("package") == APP
        logs = driver.logs()
        assert logs and not any("logged before" in entry["text"] for entry in logs)
        assert logs[0]["text"].startswith("ActivityManager: Start proc") and logs[0]["level"] == "info"
        phone.crash()
        more = driver.logs()
        assert more[:len(logs)] == logs and len(more) == len(logs) + 1  # the crash, read once
        crash = next(entry for entry in more if "FATAL EXCEPTION" in entry["text"])
        assert crash["level"] == "error" and "Process: com.trackreplay.shop" in crash["text"].splitlines()[1]
        adb_server.kill_ui_server(SERIAL)
        driver.screenshot(str(tmp_path / "fallback.png"))  # adb screencap when the UI server is down
        assert (tmp_path / "fallback.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        driver.close()


# -- the proxy setting -------------------------------------------------------------------------------------------

def test_a_loopback_proxy_is_set_through_adb_reverse_and_cleared(driver, phone):  # noqa: F811
    driver.set_proxy("127.0.0.1", 18888)
    assert phone.proxy == ("127.0.0.1", 18888) and phone.reversed_ports == {18888: 18888}
    driver.clear_proxy()
    assert phone.proxy is None and phone.settings["global:http_proxy"] == ":0" and phone.reversed_ports == {}
    driver.clear_proxy()  # nothing set: still fine
    driver.set_proxy("192.168.1.20", 8080)  # a proxy on the lab network: the phone reaches it directly
    assert phone.proxy == ("192.168.1.20", 8080) and phone.reversed_ports == {}
    driver.clear_proxy()
    assert phone.proxy is None
    with pytest.raises(DriverError, match="not a TCP port"):
        driver.set_proxy("127.0.0.1", 70000)


def test_the_agent_clears_a_setting_it_left_behind(adb_server, phone):  # noqa: F811
    crashed = AndroidDriver(SERIAL)  # the agent died with the proxy set: no clear_proxy ran
    crashed.set_proxy("localhost", 18999)
    assert phone.reversed_ports == {18999: 18999}
    said = clear_proxy_setting(SERIAL, adbutils.AdbClient())
    assert phone.proxy is None and phone.reversed_ports == {}
    assert said == f"{SERIAL}: http_proxy 127.0.0.1:18999 -> :0; adb reverse tcp:18999 removed"


def test_a_run_through_the_real_proxy_captures_and_clears_the_setting_when_a_step_fails(adb_server, phone, tmp_path):  # noqa: F811,E501
    from device_agent.play import PlayOptions, play

    driver = AndroidDriver(SERIAL)  # noqa: F811
    timeline = play(flow("  - launch\n  - tap: {id: tab_2}\n  - assert_visible: {text: Not in the shop, timeout: 1}\n"
                         "  - back\n"), tmp_path, PlayOptions(platform="android"), driver=driver)
    assert timeline["outcome"] == "failed" and [s["outcome"] for s in timeline["steps"]] == [
        "passed", "passed", "failed", "skipped"]
    assert phone.proxy is None and phone.reversed_ports == {} and phone.settings["global:http_proxy"] == ":0"
    assert any(request["via"] for request in phone.requests)  # the app's traffic went through the proxy
    captured = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert ("tab_click", 2) in [(event["event"], event["step"]) for event in captured]
    assert (tmp_path / "screenshots" / "002.png").exists() and driver.u2 is None


# -- health, recovery, and the player ------------------------------------------------------------------------------

SHOP_FLOW = """  - launch
  - tap: {id: tab_2}
  - tap: {id: tab_3, timeout: 2}
  - assert_visible: {xpath: "//node[@resource-id='com.trackreplay.shop:id/tab_3' and @selected='true']", timeout: 2}
"""


def run(driver, flow_text, cue_at=None, cue=None):  # noqa: F811
    def on_step(index):
        if index == cue_at:
            cue()
    return Player(driver, flow(flow_text), on_step=on_step, settle_quiet=0.05, settle_timeout=1).play()


def test_a_crash_mid_step_is_found_the_app_restarted_and_the_step_tried_again(driver, phone):  # noqa: F811
    timeline = run(driver, SHOP_FLOW, 2, lambda: setattr(phone, "crash_on_tap", APP))
    assert timeline["outcome"] == "passed", timeline["steps"]
    first_pid = next(line for line in phone.logs if "Start proc" in line["text"])["text"].split()[2].split(":")[0]
    notes = timeline["steps"][2]["notes"]
    assert notes == [f"the app crashed: process {first_pid} is gone; closed the system dialog, restarted the app "
                     f"(process {phone.pid(APP)}); the step is tried again"]
    assert timeline["steps"][2]["attempts"] == 2


def test_an_anr_is_closed_and_the_app_restarted(driver, phone):  # noqa: F811
    timeline = run(driver, SHOP_FLOW, 3, phone.raise_anr)
    assert timeline["outcome"] == "passed", timeline["steps"]
    note = timeline["steps"][2]["notes"][0]
    assert note.startswith("the app is not responding: com.trackreplay.shop isn't responding (ANR); "
                           "closed the system dialog, restarted the app (process ")


def test_a_dead_ui_server_is_restarted_and_the_step_tried_again(driver, adb_server):  # noqa: F811
    timeline = run(driver, SHOP_FLOW, 3, lambda: adb_server.kill_ui_server(SERIAL))
    assert timeline["outcome"] == "passed", timeline["steps"]
    assert timeline["steps"][2]["notes"] == ["the UI server is dead: uiautomator2 does not answer /ping; restarted "
                                             "the UI server; the step is tried again"]
    assert adb_server.devices[SERIAL].ui_launches == 2


def test_only_the_system_dialog_can_be_found_while_it_covers_the_app(driver, phone):  # noqa: F811
    driver.launch(APP)
    phone.raise_anr()
    with pytest.raises(DriverError, match="the system dialog 'Shop isn't responding' covers the screen "
                                          r"\(id=tab_2 is behind it\)"):
        driver.find_once(Locator("id", "tab_2"))
    driver.tap(driver.find_once(Locator("text", "Wait")))  # the dialog's own buttons can be found and tapped
    assert phone.dialog is None and driver.find_once(Locator("id", "tab_2")) is not None


def test_health_says_nothing_on_a_healthy_phone_and_recover_refuses_the_unknown(driver):  # noqa: F811
    driver.launch(APP)
    assert driver.health(APP) is None
    with pytest.raises(DriverError, match="cannot recover from: the moon"):
        driver.recover(APP, "the moon")


def test_an_unplugged_phone_ends_the_run_as_disconnected(driver, phone, tmp_path):  # noqa: F811
    player = Player(driver, flow(SHOP_FLOW), out_dir=tmp_path, on_step=lambda i: phone.unplug() if i == 3 else None,
                    settle_quiet=0.05, settle_timeout=1)
    timeline = player.play()
    assert timeline["outcome"] == "failed"
    assert timeline["error"].startswith("device disconnected at step 3 (tap id=tab_3): the Android device "
                                        "emulator-5554 is no longer attached")
    assert [s["outcome"] for s in timeline["steps"]] == ["passed", "passed", "failed", "skipped"]
    assert (tmp_path / "screenshots" / "002.png").exists()  # what was captured before stays
    with pytest.raises(DeviceGone, match="emulator-5554"):
        driver.health(APP)
    with pytest.raises(DeviceGone, match="emulator-5554"):
        driver.clear_proxy()
    assert driver.logs() == driver.logs()  # what was read before the phone left; no error


# -- discovery -----------------------------------------------------------------------------------------------

def test_discover_reports_each_ready_device(adb_server, phone):  # noqa: F811
    galaxy = FakePhone("R58M123456", model="Galaxy S21", os_version="13", width=1080, height=2340, battery=42)
    adb_server.add(galaxy)
    reports = discover()
    assert reports == [
        {"platform": "android", "serial": SERIAL, "name": "Pixel 7", "model": "Pixel 7", "os_version": "Android 14",
         "labels": ["android", "emulator"], "screen": "1080x2400", "battery": 87, "proxy": "auto"},
        {"platform": "android", "serial": "R58M123456", "name": "Galaxy S21", "model": "Galaxy S21",
         "os_version": "Android 13", "labels": ["android"], "screen": "1080x2340", "battery": 42, "proxy": "auto"}]
    galaxy.unplug()
    assert [report["serial"] for report in discover()] == [SERIAL]


def test_discover_leaves_out_a_phone_that_is_not_ready_and_says_why(adb_server, phone, caplog):  # noqa: F811
    adb_server.add(FakePhone("R58M123456", model="Galaxy S21")).state = "unauthorized"
    assert [report["serial"] for report in discover()] == [SERIAL]
    assert "Android device R58M123456 is unauthorized: accept the USB debugging prompt on the phone" in caplog.text


def test_an_adb_client_given_is_used_instead_of_the_environment(adb_server, phone, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "9")  # nothing listens there
    client = adbutils.AdbClient(adb_server.host, adb_server.port)
    assert [report["serial"] for report in discover(client)] == [SERIAL]
    driver = AndroidDriver(SERIAL, adb=client)  # noqa: F811
    driver.set_proxy("127.0.0.1", 18001)
    driver.clear_proxy()
    assert phone.settings["global:http_proxy"] == ":0"


def test_discover_without_an_adb_server_lists_nothing(monkeypatch):
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "false")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "9")  # nothing listens: adbutils fails to connect
    assert discover() == []


# -- the proxy's CA ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory):
    return ca_certificate(tmp_path_factory.mktemp("ca"))


def test_subject_hash_old_is_openssls(ca_pem):
    import shutil
    import subprocess

    if shutil.which("openssl"):
        expected = subprocess.run(["openssl", "x509", "-noout", "-subject_hash_old"], input=ca_pem,
                                  capture_output=True, check=True).stdout.decode().strip()
        assert subject_hash_old(ca_pem) == expected
    # mitmproxy's CA is c8750f0d.0 on every Android system store it was ever copied to (CN=mitmproxy, O=mitmproxy)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mitmproxy"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mitmproxy")])
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    assert subject_hash_old(cert.public_bytes(serialization.Encoding.PEM)) == "c8750f0d"
    with pytest.raises(DriverError, match="not a PEM certificate"):
        subject_hash_old(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_user_store_install_pushes_the_ca_opens_the_installer_and_guides(adb_server, phone, ca_pem):  # noqa: F811
    said = install_ca(SERIAL, ca_pem)
    assert phone.files["/sdcard/Download/trackreplay-ca.crt"] == ca_pem
    intent = adb_server.devices[SERIAL].intents[-1]
    assert intent["component"] == "com.android.certinstaller/.CertInstallerMain"
    assert intent["data"] == "file:///sdcard/Download/trackreplay-ca.crt"
    assert "Settings > Security > Encryption & credentials > Install a certificate > CA certificate" in said
    assert phone.user_cas == []  # the person finishes it: nothing claims it is installed


def test_system_store_install_on_an_emulator_uses_adb_root_and_remount(adb_server, ca_pem):  # noqa: F811
    old = FakePhone("emulator-5556", os_version="13")
    adb_server.add(old)
    said = install_ca("emulator-5556", ca_pem, system=True)
    target = f"/system/etc/security/cacerts/{subject_hash_old(ca_pem)}.0"
    assert old.files[target] == ca_pem and old.system_cas == [ca_pem]
    assert adb_server.devices["emulator-5556"].root and "/data/local/tmp/trackreplay-ca.pem" not in old.files
    assert said.startswith(f"The proxy's CA is in the system store of Pixel 7 (emulator-5556) as {target}")


def test_system_store_install_on_a_rooted_phone_uses_su(adb_server, ca_pem):  # noqa: F811
    rooted = FakePhone("0A141FDD4003N8", model="Pixel 4a", os_version="12")
    device = adb_server.add(rooted, rooted=True)
    install_ca("0A141FDD4003N8", ca_pem, system=True)
    assert rooted.system_cas == [ca_pem] and not device.root  # adbd stayed unprivileged: su did it


def test_system_store_install_is_refused_where_it_cannot_work(adb_server, phone, ca_pem):  # noqa: F811
    retail = FakePhone("R58M123456", model="Galaxy S21", os_version="13")
    adb_server.add(retail)
    with pytest.raises(DriverError, match=r"Galaxy S21 \(R58M123456\) is neither an emulator nor rooted"):
        install_ca("R58M123456", ca_pem, system=True)
    assert retail.system_cas == []
    with pytest.raises(DriverError, match="Android 14 or later .* Conscrypt APEX"):
        install_ca(SERIAL, ca_pem, system=True)
    with pytest.raises(DeviceGone, match="not attached"):
        install_ca("nosuchphone", ca_pem)


def test_the_install_ca_command(adb_server, tmp_path, capsys):  # noqa: F811
    from mock_records.ca import ca_certificate
    from trackreplay.cli import main

    old = FakePhone("emulator-5556", os_version="13")
    adb_server.add(old)
    assert main(["agent", "install-ca", "--device", "emulator-5556", "--system", "--confdir", str(tmp_path)]) == 0
    assert old.system_cas == [ca_certificate(tmp_path)] and "system store" in capsys.readouterr().out
    assert main(["agent", "install-ca", "--device", "gone", "--confdir", str(tmp_path)]) == 1
    assert "trackreplay agent install-ca: the Android device gone is not attached" in capsys.readouterr().err
    assert main(["agent", "--token", "tra_x"]) == 2
    assert "--url is required" in capsys.readouterr().err


# -- the HTTPS probe --------------------------------------------------------------------------------------------

@pytest.fixture
def probe_proxy():
    with ProbeProxy() as proxy:
        yield proxy


def test_the_https_probe_passes_when_the_phone_trusts_the_proxy(driver, phone, probe_proxy):  # noqa: F811
    phone.user_cas.append(probe_proxy.ca_pem)
    driver.set_proxy(probe_proxy.host, probe_proxy.port)
    assert https_probe(driver, probe_proxy, timeout=3) == (True, "HTTPS interception works on Pixel 7 "
                                                                 "(emulator-5554)")
    assert len(probe_proxy.seen) == 1


def test_the_https_probe_names_an_untrusted_ca(driver, probe_proxy):  # noqa: F811
    driver.set_proxy(probe_proxy.host, probe_proxy.port)
    ok, detail = https_probe(driver, probe_proxy, timeout=1)
    assert not ok and "the phone does not trust the proxy's CA: install it (trackreplay agent install-ca " \
                      "--device emulator-5554" in detail


def test_the_https_probe_names_a_proxy_not_applied(driver, probe_proxy):  # noqa: F811
    ok, detail = https_probe(driver, probe_proxy, timeout=1)
    assert not ok and detail.startswith("no request from Pixel 7 (emulator-5554) arrived through the proxy: is the "
                                        "proxy setting applied? (the phone's http_proxy is 'null'")
