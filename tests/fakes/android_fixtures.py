"""Fixtures for tests of the Android driver: the fake adb server on a free port, found the way adb clients find
a server (ANDROID_ADB_SERVER_HOST/PORT), a fake phone running the demo shop app, and a started driver.
Import the ones a module uses (`from tests.fakes.android_fixtures import adb_server, phone, driver, shop`).
Each ends what it started; the server's teardown checks that none of its threads, nor uiautomator2's, live on."""

from __future__ import annotations

import threading
import time

import pytest

from demo.server import DemoShop
from tests.fakes.adb_server import FakeAdbServer
from tests.fakes.app import FakePhone, ShopApp

SERIAL = "emulator-5554"
APP = "com.trackreplay.shop"


def _lingering(names: tuple[str, ...], seconds: float = 5.0) -> list[threading.Thread]:
    deadline = time.monotonic() + seconds
    while True:
        alive = [t for t in threading.enumerate() if t.name.startswith(names) and t.is_alive()]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture
def adb_server(monkeypatch):
    # adbutils runs `adb start-server` when it cannot connect: never a real adb server from a test.
    monkeypatch.setenv("ADBUTILS_ADB_PATH", "false")
    with FakeAdbServer() as server:
        monkeypatch.setenv("ANDROID_ADB_SERVER_HOST", server.host)
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(server.port))
        yield server
    assert not server.alive_threads(), server.alive_threads()
    assert not _lingering(("fake-adb", "fake-android", "wait_adb_conn")), "threads outlived the fake adb server"


@pytest.fixture
def shop():
    with DemoShop(port=0, popups=False) as shop:
        yield shop


@pytest.fixture
def phone(adb_server, shop) -> FakePhone:
    phone = FakePhone(SERIAL)
    phone.install(ShopApp(shop.url))
    adb_server.add(phone)
    return phone


@pytest.fixture
def driver(phone):
    from device_agent.drivers.android import AndroidDriver

    driver = AndroidDriver(SERIAL)  # adb=None: found through ANDROID_ADB_SERVER_PORT, as on a lab machine
    driver.start()
    try:
        yield driver
    finally:
        driver.close()
