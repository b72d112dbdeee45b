"""The whole loop on phones, as a lab runs it: the platform (live server), a real Celery worker (verification), a
real agent process offering an Android phone (`--android`: the fake adb server, found through
ANDROID_ADB_SERVER_PORT, driven by the real adbutils and uiautomator2) and an iPhone (`--wda UDID=URL`: the fake
WebDriverAgent, driven by the real facebook-wda; its proxy set by hand to the agent's fixed port), the real proxy
process, and the demo shop's phone app. One cross-platform flow: recorded on each phone, learned, replayed clean
and with a regression. A phone unplugged mid-run ends its run with the step it was at, keeping what it captured;
an agent killed mid-run leaves the phone's proxy setting on, and clears it when it starts again."""

import time
import uuid

import pytest

from automation.lifecycle import create_run
from automation.models import AgentToken, Device, Run, Script, Task
from demo.server import DemoShop
from tests.e2e.test_loop import AgentProcess, finished, platform_worker, wait_for
from device_agent.proxy import free_port
from tests.e2e.test_phones import FLOW
from tests.fakes.android_fixtures import adb_server  # noqa: F401  (the fake adb server, found the usual way)
from tests.fakes.app import FakePhone, ShopApp
from tests.fakes.wda_server import FakeWDA
from tests.process_audit import long_running_pids

from .. import factories as f

# The whole-loop tests (agent, platform worker, proxies, browser or phones) run one at a time on one test worker
# (make test: --dist loadgroup): side by side on two cores their 120 s waits were seen to run out.
pytestmark = pytest.mark.xdist_group("loops")
SERIAL = "emulator-5554"
UDID = "00008110-000A1B2C3D4E5F60"


@pytest.fixture
def lab(live_server, transactional_db, settings, tmp_path, adb_server):  # noqa: F811
    prefix = f"{settings.TRACKREPLAY_QUEUE_PREFIX}phones-{uuid.uuid4().hex[:8]}."
    settings.TRACKREPLAY_QUEUE_PREFIX = prefix
    settings.TRACKREPLAY_LEASE_SECONDS = 8
    before = long_running_pids()
    shop = DemoShop(port=0, popups=False).start()
    android = FakePhone(SERIAL)
    android_app = android.install(ShopApp(shop.url))
    adb_server.add(android)
    iphone = FakePhone(UDID, platform="ios", model="iPhone 14", os_version="17.5", width=390, height=844)
    iphone_app = iphone.install(ShopApp(shop.url))
    ios_port = free_port()
    iphone.proxy = ("127.0.0.1", ios_port)  # set by hand in Settings > Wi-Fi, to the port the agent gives it
    wda = FakeWDA(iphone).start()
    project = f.ProjectFactory(slug="phones")
    row = f.AgentFactory(project=project, name="lab")
    flow = Script.objects.create(project=project, name="Fresh tab and cart", path="shop.yaml", platform="android",
                                 source=FLOW)
    tasks = {platform: Task.objects.create(project=project, name=f"Cart on {platform}", script=flow,
                                           device_selector={"platform": platform}, time_cap=120)
             for platform in ("android", "ios")}
    log = open(tmp_path / "agent.log", "ab")
    worker_log = open(tmp_path / "worker.log", "ab")
    worker = platform_worker(prefix, worker_log)
    token = AgentToken.issue(agent=row, name="test").token
    # An agent with phones only; killed, it goes down as a service does: worker processes and proxies with it.
    phones = ("--browsers", "0", "--android", "--wda", f"{UDID}={wda.url}", "--ios-proxy-port", str(ios_port),
              "--proxy-host", "127.0.0.1")
    agent = AgentProcess(live_server.url, token, tmp_path / "agent", log, devices=phones, whole_group=True).start()
    try:
        yield {"project": project, "tasks": tasks, "agent": agent, "android": android, "android_app": android_app,
               "iphone": iphone, "iphone_app": iphone_app, "log": tmp_path / "agent.log", "adb": adb_server,
               "ios_port": ios_port}
    finally:
        agent.stop()
        worker.terminate()
        worker.wait(timeout=60)
        wda.stop()
        shop.stop()
        log.close()
        worker_log.close()
    assert long_running_pids() <= before, "a proxy outlived the agent"


def phones_online(lab):
    return wait_for(lambda: Device.objects.filter(project=lab["project"], status="online").count() == 2, 60,
                    "the agent's phones to come online", lab["log"])


def test_record_learn_replay_and_catch_a_regression_on_android_and_iphone(lab):
    phones_online(lab)
    android = Device.objects.get(project=lab["project"], platform="android")
    assert (android.serial, android.model, android.os_version, android.screen) == (
        SERIAL, "Pixel 7", "Android 14", "1080x2400")
    iphone = Device.objects.get(project=lab["project"], platform="ios")
    assert iphone.proxy_mode == "manual" and iphone.serial == UDID
    assert iphone.proxy_address == f"127.0.0.1:{lab['ios_port']}"  # what to type into the iPhone's Wi-Fi settings
    for platform in ("android", "ios"):
        task = lab["tasks"][platform]
        recorded = finished(create_run(task, mode="record"), 120, lab["log"])
        assert recorded.status == "passed", (platform, recorded.error, recorded.timeline)
        assert recorded.device.platform == platform and recorded.screenshots.count() == 8
        task.refresh_from_db()
        assert task.scenario is not None and task.mock_record is not None
        record = recorded.test_records.get()
        assert {e.step for e in record.events.filter(name="tab_click")} == {2, 8}, (list(record.events.values_list("name", "step")), record.proxy_report)
        if platform == "android":  # the phone's logcat, per run
            assert any("SA.AnalyticsMessages" in line["text"] for line in recorded.logs), recorded.logs[-5:]
        clean = finished(create_run(task, mode="replay"), 120, lab["log"])
        assert clean.status == "passed", (platform, clean.error)
        report = clean.reports.get()
        assert report.pass_rate == 1.0 and report.strong_anomalies == 0
    assert lab["android"].proxy is None and not lab["android"].reversed_ports  # cleared after every run

    lab["android_app"].regressions = {"wrong_tab_name"}
    broken = finished(create_run(lab["tasks"]["android"], mode="replay"), 120, lab["log"])
    assert broken.status == "failed"
    anomalies = {(a.event_name, a.property_path) for a in broken.reports.get().anomalies.filter(strength="strong")}
    assert anomalies == {("tab_click", "tab_name")}


SLOW_FLOW = FLOW.replace("  - back\n", "  - wait: 8\n  - back\n")


def record_until_the_wait(lab) -> Run:
    """A record run of the slow flow on the Android phone, once its step 7 (wait: 8) runs."""
    Script.objects.filter(project=lab["project"]).update(source=SLOW_FLOW)
    run = create_run(lab["tasks"]["android"], mode="record")
    wait_for(lambda: any(s["index"] == 7 and s["outcome"] == "running" for s in Run.objects.get(pk=run.pk).timeline),
             60, "the wait step to start", lab["log"])
    return run


def test_an_unplugged_phone_ends_its_run_at_its_step_keeping_what_it_captured(lab):
    phones_online(lab)
    run = record_until_the_wait(lab)
    lab["android"].unplug()
    run = finished(run, 90, lab["log"])
    assert run.status in ("failed", "error") and "device disconnected at step 8" in run.error, run.error
    record = run.test_records.get()
    assert record.events.filter(name="add_to_cart", step=6).exists()  # captured before the unplug: kept
    device = Device.objects.get(project=lab["project"], platform="android")
    assert device.status == "offline"
    lab["android"].plug()
    wait_for(lambda: Device.objects.get(pk=device.pk).status == "online", 30, "the phone to come back", lab["log"])


def test_an_agent_killed_mid_run_clears_the_phone_s_proxy_when_it_starts_again(lab):
    phones_online(lab)
    run = record_until_the_wait(lab)
    phone = lab["android"]
    assert phone.proxy is not None and phone.reversed_ports  # the run's proxy setting is on
    lab["agent"].kill()
    time.sleep(1)
    assert phone.proxy is not None  # nobody cleared it: the agent died without its finally
    lab["agent"].start()
    wait_for(lambda: phone.proxy is None and not phone.reversed_ports, 60,
             "the restarted agent to clear the proxy setting it left", lab["log"])
    run = finished(run, 60, lab["log"])
    assert run.status in ("failed", "error") and "the agent stopped during the run at step 7" in run.error, run.error
    assert run.test_records.get().events.filter(name="tab_click", step=2).exists()  # what it captured is kept
