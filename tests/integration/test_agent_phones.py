"""The agent's own answers about its phones (device_agent/devices.py), on the fake Android phone driven by the real
adbutils and uiautomator2 and the real proxy process: an HTTPS check tells an untrusted CA from a trusted one while
heartbeats go on (they never clear the proxy setting of a phone a check or a run holds), and leaves the phone
unproxied; a phone held by a run is not checked."""

import os
import threading

import pytest

from device_agent.devices import DeviceBusy, DeviceSet, busy_marker, claim
from mock_records.ca import ca_certificate
from tests.fakes.android_fixtures import SERIAL, adb_server, phone, shop  # noqa: F401


def adb_port() -> int:
    return int(os.environ["ANDROID_ADB_SERVER_PORT"])  # the fake's, set by its fixture


@pytest.fixture
def lab(tmp_path, phone):  # noqa: F811
    devices = DeviceSet("lab", browsers=0, android=True, state_dir=tmp_path)
    stop = threading.Event()

    def heartbeats():  # as the agent's heartbeat thread does, every moment of the check
        while not stop.is_set():
            devices.reports()
            stop.wait(0.2)

    thread = threading.Thread(target=heartbeats)
    thread.start()
    try:
        yield devices
    finally:
        stop.set()
        thread.join(30)


def test_an_https_check_tells_an_untrusted_ca_from_a_trusted_one_while_heartbeats_go_on(lab, phone):  # noqa: F811
    ok, detail = lab.https_check("android", SERIAL, name="Pixel 7")
    assert not ok and "the phone does not trust the proxy's CA" in detail, detail
    assert phone.proxy is None and not phone.reversed_ports and lab.journal.pending() == []
    phone.user_cas.append(ca_certificate())  # installed (trackreplay agent install-ca, then Settings)
    assert lab.https_check("android", SERIAL, name="Pixel 7") == (True, f"HTTPS interception works on Pixel 7 ({SERIAL})")
    assert phone.proxy is None and not phone.reversed_ports


def test_a_phone_a_run_holds_is_not_checked(lab, phone, tmp_path):  # noqa: F811
    assert claim(busy_marker(tmp_path, "android", SERIAL), "run 12")
    with pytest.raises(DeviceBusy, match="busy with run 12"):
        lab.https_check("android", SERIAL)
    assert not phone.requests  # the phone was not touched


def test_a_proxy_setting_left_by_a_dead_run_is_cleared_at_the_next_heartbeat(lab, phone, tmp_path):  # noqa: F811
    import time

    import adbutils

    device = adbutils.AdbClient(port=adb_port()).device(SERIAL)  # what the killed run had done
    device.shell(["settings", "put", "global", "http_proxy", "127.0.0.1:8080"])
    device.reverse("tcp:8080", "tcp:8080")
    assert phone.proxy == ("127.0.0.1", 8080) and phone.reversed_ports
    lab.journal.mark(SERIAL)
    deadline = time.monotonic() + 10
    while (phone.proxy or lab.journal.pending()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert phone.proxy is None and not phone.reversed_ports and lab.journal.pending() == []
