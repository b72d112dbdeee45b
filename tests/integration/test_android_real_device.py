"""The Android driver on a real phone, for a lab machine (docs/devices.md): the same real clients as against the
fake adb server, now against adb and a phone. Skipped unless TRACKREPLAY_DEVICE_SERIAL names an attached device:

    TRACKREPLAY_DEVICE_SERIAL=R58M123456 .venv/bin/python -m pytest -m device tests/integration/test_android_real_device.py

TRACKREPLAY_DEVICE_APP picks the app it launches (default: the system Settings app, on every phone)."""

import os
from xml.etree import ElementTree

import pytest

from device_agent.drivers.android import AndroidDriver, discover
from device_agent.flows import Locator

SERIAL = os.environ.get("TRACKREPLAY_DEVICE_SERIAL", "")
APP = os.environ.get("TRACKREPLAY_DEVICE_APP", "com.android.settings")

pytestmark = [pytest.mark.device,
              pytest.mark.skipif(not SERIAL, reason="no phone named: set TRACKREPLAY_DEVICE_SERIAL=<adb serial>")]


def test_the_driver_drives_a_real_phone_and_leaves_no_proxy_behind(tmp_path):
    report = next((r for r in discover() if r["serial"] == SERIAL), None)
    assert report is not None, f"adb does not list {SERIAL} as a ready device"
    assert report["os_version"].startswith("Android ") and report["screen"]
    driver = AndroidDriver(SERIAL)
    driver.start()
    try:
        driver.launch(APP, timeout=30)
        driver.wait_settled(quiet=0.5, timeout=10)
        assert driver.health(APP) is None
        tree = ElementTree.fromstring(driver.hierarchy().split("?>", 1)[1])
        assert tree.tag == "hierarchy" and any(node.get("package") == APP for node in tree.iter("node"))
        assert driver.find_once(Locator("xpath", f"//node[@package='{APP}']")) is not None
        driver.screenshot(str(tmp_path / "screen.png"))
        assert (tmp_path / "screen.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        driver.set_proxy("127.0.0.1", 18765)
        assert driver._sh(["settings", "get", "global", "http_proxy"])[1].strip() == "127.0.0.1:18765"
        driver.clear_proxy()
        assert driver._sh(["settings", "get", "global", "http_proxy"])[1].strip() == ":0"
        assert "18765" not in str(driver.device.reverse_list())
        driver.back()
        driver.stop_app(APP)
        assert isinstance(driver.logs(), list)
    finally:
        driver.clear_proxy()
        driver.close()
