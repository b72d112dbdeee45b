"""The fake adb server (tests/fakes/adb_server.py) answers the real adbutils client as an adb server does, and
refuses loudly what it does not implement: the Android driver's tests are only worth what its answers are."""

import hashlib
import json
import socket
from xml.etree import ElementTree

import adbutils
import pytest

from tests.fakes.adb_server import FakeAdbServer, uiautomator_xml
from tests.fakes.android_fixtures import APP, SERIAL, adb_server, phone, shop  # noqa: F401
from tests.fakes.app import FakePhone


@pytest.fixture
def adb(adb_server):  # noqa: F811
    return adbutils.AdbClient()  # the port from ANDROID_ADB_SERVER_PORT, as adb clients find a server


def raw(server, *requests: str) -> bytes:
    """Send requests on one connection and read everything the server answers until it closes."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        for request in requests:
            sock.sendall(f"{len(request):04x}{request}".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_host_services_list_the_plugged_phones(adb, adb_server, phone):  # noqa: F811
    other = FakePhone("R58M123456", model="Galaxy S21", os_version="13")
    adb_server.add(other)
    assert adb.server_version() == 41
    assert [(info.serial, info.state) for info in adb.list()] == [(SERIAL, "device"), ("R58M123456", "device")]
    tags = {info.serial: info.tags for info in adb.list(extended=True)}
    assert tags["R58M123456"]["model"] == "Galaxy_S21" and tags[SERIAL]["transport_id"] == "1"
    assert adb.device(SERIAL).get_state() == "device" and adb.device(SERIAL).get_serialno() == SERIAL
    other.unplug()
    assert [info.serial for info in adb.list()] == [SERIAL]
    with pytest.raises(adbutils.AdbError, match="device 'R58M123456' not found"):
        adb.device("R58M123456").shell("echo hi")


def test_shell_answers_with_exit_codes_and_refuses_what_it_does_not_model(adb, phone):  # noqa: F811
    device = adb.device(SERIAL)
    assert device.shell2("getprop ro.product.model").output == "Pixel 7\n"
    assert device.shell2(["getprop", "ro.build.version.sdk"]).output.strip() == "34"
    missing = device.shell2("frobnicate --now")
    assert (missing.returncode, missing.output) == (127, "/system/bin/sh: frobnicate: not found\n")
    partial = device.shell2("dumpsys meminfo")
    assert partial.returncode == 1 and "dumpsys meminfo is not implemented" in partial.output
    assert device.shell2("false && echo no || echo yes").output == "yes\n"
    v2 = device.shell2("cat /nowhere", v2=True)
    assert (v2.returncode, v2.stdout, v2.stderr) == (1, "", "cat: /nowhere: No such file or directory\n")
    assert device.window_size() == (1080, 2400) and device.battery().level == 87


def test_sync_pushes_stats_lists_and_pulls_files(adb, phone):  # noqa: F811
    device = adb.device(SERIAL)
    payload = bytes(range(256)) * 1000
    device.sync.push(payload, "/data/local/tmp/blob.bin", check=True)
    assert phone.files["/data/local/tmp/blob.bin"] == payload
    assert device.sync.stat("/data/local/tmp/blob.bin").size == len(payload)
    assert device.sync.read_bytes("/data/local/tmp/blob.bin") == payload
    assert "blob.bin" in [entry.path for entry in device.sync.list("/data/local/tmp")]
    assert hashlib.md5(payload).hexdigest() in device.shell(["toybox", "md5sum", "/data/local/tmp/blob.bin"])
    with pytest.raises(adbutils.AdbError, match="FAIL"):  # adbutils keeps only the status of a refused SEND
        device.sync.push(b"x", "/system/etc/hosts")
    assert "/system/etc/hosts" not in phone.files
    with pytest.raises(adbutils.AdbError, match="No such file"):
        device.sync.read_bytes("/data/local/tmp/none")


def test_reverse_forwards_reach_the_phone(adb, phone):  # noqa: F811
    device = adb.device(SERIAL)
    device.reverse("tcp:8080", "tcp:9090")
    assert phone.reversed_ports == {8080: 9090}
    assert [(item.remote, item.local) for item in device.reverse_list()] == [("tcp:8080", "tcp:9090")]
    device.reverse_remove("tcp:8080")
    assert phone.reversed_ports == {}
    with pytest.raises(adbutils.AdbError, match="listener 'tcp:8080' not found"):
        device.reverse_remove("tcp:8080")


def test_settings_drive_the_phones_proxy(adb, phone):  # noqa: F811
    device = adb.device(SERIAL)
    device.shell("settings put global http_proxy 127.0.0.1:8888")
    assert phone.proxy == ("127.0.0.1", 8888)
    assert device.shell("settings get global http_proxy") == "127.0.0.1:8888"
    device.shell("settings put global http_proxy :0")
    assert phone.proxy is None


def test_what_is_not_implemented_fails_naming_it(adb, adb_server, phone):  # noqa: F811
    assert raw(adb_server, "host:kill") == b"FAIL" + b"%04x" % len(
        "fake adb server: the host service 'host:kill' is not implemented") + \
        b"fake adb server: the host service 'host:kill' is not implemented"
    answer = raw(adb_server, f"host:transport:{SERIAL}", "framebuffer:")
    assert answer.startswith(b"OKAY") and b"the device service 'framebuffer' is not implemented" in answer
    with pytest.raises(adbutils.AdbError, match="forward is not implemented"):
        adb.device(SERIAL).forward("tcp:1234", "tcp:4321")
    with pytest.raises(adbutils.AdbError, match="closed"):  # nothing listens on the device's port: adb's answer
        adb.device(SERIAL).create_connection(adbutils.Network.TCP, 9008)


def test_the_ui_server_lives_with_its_shell_and_answers_json_rpc(adb, adb_server, phone):  # noqa: F811
    import uiautomator2

    device = adb.device(SERIAL)
    ui = uiautomator2.connect(device)  # the real client: pushes u2.jar, launches the server, waits for /ping
    try:
        assert phone.files["/data/local/tmp/u2.jar"].startswith(b"PK")
        assert ui.info["displayWidth"] == 1080
        with pytest.raises(uiautomator2.exceptions.RPCUnknownError, match="Method not found: openNotification"):
            ui.open_notification()
        phone.start_app(APP)
        tree = ElementTree.fromstring(ui.dump_hierarchy().split("?>", 1)[1])
        search = next(n for n in tree.iter("node") if n.get("resource-id") == f"{APP}:id/search")
        assert search.get("class") == "android.widget.EditText" and search.get("bounds") == "[0,150][1080,300]"
        assert search.get("content-desc") == "Search" and search.get("clickable") == "true"
        adb_server.kill_ui_server(SERIAL)
        with pytest.raises(adbutils.AdbError, match="closed"):
            device.create_connection(adbutils.Network.TCP, 9008)
    finally:
        ui.stop_uiautomator(wait=False)


def test_the_hierarchy_puts_a_system_dialog_in_its_own_window(phone):  # noqa: F811
    phone.start_app(APP)
    phone.raise_anr()
    tree = ElementTree.fromstring(uiautomator_xml(phone).split("?>", 1)[1])
    windows = list(tree)
    assert [w.get("package") for w in windows] == [APP, "android"]
    assert windows[1].get("text") == "Shop isn't responding"
    assert any(n.get("resource-id") == "android:id/aerr_close" for n in windows[1].iter("node"))


def test_json_rpc_errors_name_the_method(adb_server, phone):  # noqa: F811
    device = adb_server.devices[SERIAL]
    with pytest.raises(Exception, match="Method not found: injectInputEvent/4"):
        device.rpc("injectInputEvent", [0, 1, 2, 0])
    assert json.dumps(device.rpc("deviceInfo", []))


def test_stopping_the_server_ends_every_connection_and_thread(monkeypatch):
    server = FakeAdbServer().start()
    holder = socket.create_connection((server.host, server.port))
    holder.sendall(b"0004ho")  # half a request: its thread waits for the rest
    server.stop()
    assert not server.alive_threads()
    try:
        assert holder.recv(10) == b""
    except ConnectionResetError:
        pass  # closed with the unread half request: a reset, which is an end too
    holder.close()
