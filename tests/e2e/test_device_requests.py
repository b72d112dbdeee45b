"""What people ask of a device from the console, answered by the real agent (device_agent/requests.py)
against the platform on a live server: a screenshot of a Chromium web device and an HTTPS check come back
through the heartbeat's requests, each once; what the agent cannot do is answered with the reason; an answer
lost on the way is made again at a later heartbeat, and one that comes after the request timed out changes
nothing."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from automation.device_requests import ask
from automation.models import AgentToken, Device, DeviceRequest
from device_agent.agent import Agent
from device_agent.drivers.base import DriverError
from device_agent.drivers.web import WebDriver
from device_agent.requests import wait_idle
from tests.e2e.test_loop import Relay

from .. import factories as f

pytestmark = pytest.mark.browser
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class LabAgent(Agent):
    """The real agent with the two things its device registry gives the requests: a driver per device and an
    HTTPS check; here they are what each test sets."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drivers: dict = {}
        self.checks: list[int] = []
        self.check = lambda device_id: (True, "the probe arrived through the proxy")

    def driver_for(self, device_id):
        return self.drivers.get(device_id)

    def https_check(self, device_id):
        self.checks.append(device_id)
        return self.check(device_id)


class OnItsThread:
    """A web driver kept on a thread of its own, as an agent keeps one (Playwright's sync API stays on the
    thread that started it): a screenshot asked from any thread is taken there."""

    def __init__(self, url: str):
        self.driver = WebDriver()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="web-device")
        self.pool.submit(self.driver.launch, url).result()

    def screenshot(self, path: str) -> None:
        self.pool.submit(self.driver.screenshot, path).result()

    def close(self) -> None:
        self.pool.submit(self.driver.close).result()
        self.pool.shutdown()


@pytest.fixture
def lab(live_server, transactional_db, tmp_path):
    project = f.ProjectFactory(slug="lab")
    row = f.AgentFactory(project=project, name="lab")
    relay = Relay(int(live_server.url.rsplit(":", 1)[1]))  # the network between the agent and the platform
    agent = LabAgent(relay.url, AgentToken.issue(agent=row, name="t").token, name="lab", state_dir=tmp_path)
    try:
        agent.heartbeat()
        yield agent, Device.objects.get(agent=row), relay
    finally:
        agent.stopping.set()
        assert wait_idle(agent, 60), "the agent was still answering requests"
        for driver in agent.drivers.values():
            driver.close()
        relay.close()


def test_a_screenshot_and_an_https_check_asked_in_the_console_come_back_from_the_agent(lab, live_server):
    agent, device, _ = lab
    agent.drivers[device.pk] = OnItsThread(f"{live_server.url}/login/")
    shot, _ = ask(device, "screenshot")
    check, _ = ask(device, "https_check")

    release, released = threading.Event(), []

    def slow_check(device_id):  # a probe through a phone takes seconds: heartbeats go on meanwhile
        released.append(release.wait(30))
        return True, "the probe arrived through the proxy"

    agent.check = slow_check
    answer = agent.heartbeat()
    assert answer["requests"] == [{"id": shot.pk, "device": device.pk, "kind": "screenshot"},
                                  {"id": check.pk, "device": device.pk, "kind": "https_check"}]
    assert agent.heartbeat()["requests"]  # still open: taken already, not done twice
    release.set()
    assert wait_idle(agent, 60) and released == [True]
    shot.refresh_from_db()
    check.refresh_from_db()
    device.refresh_from_db()
    assert shot.state == "answered" and shot.image.read().startswith(PNG_MAGIC)
    assert check.state == "answered" and check.ok is True and check.detail == "the probe arrived through the proxy"
    assert device.https_status == "works" and device.https_checked_at is not None
    assert device.https_summary() == "HTTPS interception works on lab · Chromium 1"
    assert agent.heartbeat()["requests"] == [] and agent.checks == [device.pk]  # asked once, answered once


def test_what_the_agent_cannot_do_is_answered_with_the_reason(lab):
    agent, device, _ = lab

    def broken(device_id):
        raise DriverError("the proxy did not start: port 8081 is in use")

    agent.check = broken
    shot, _ = ask(device, "screenshot")  # and the agent holds no driver for it
    check, _ = ask(device, "https_check")
    unknown = DeviceRequest.objects.create(device=device, kind="reboot")  # asked by a newer platform
    agent.heartbeat()
    assert wait_idle(agent, 60)
    for asked in (shot, check, unknown):
        asked.refresh_from_db()
        assert asked.state == "failed", asked
    assert shot.error == f"this agent holds no device {device.pk} now (unplugged, or not one of its devices)"
    assert check.error == "DriverError: the proxy did not start: port 8081 is in use"
    assert unknown.error == "this agent does not know how to answer a 'reboot' request (is it older than the platform?)"
    device.refresh_from_db()
    assert device.https_status == "unknown"  # a check that could not be made says nothing about HTTPS


def test_an_answer_lost_on_the_way_is_made_again_and_a_late_one_is_not(lab, settings):
    agent, device, relay = lab
    outage = threading.Event()

    def check_then_lose_the_network(device_id):
        if not outage.is_set():
            outage.set()
            relay.cut()  # the answer cannot reach the platform
        return False, "certificate unknown: the phone does not trust the trackreplay CA"

    agent.check = check_then_lose_the_network
    asked, _ = ask(device, "https_check")
    agent.heartbeat()
    assert wait_idle(agent, 60)
    asked.refresh_from_db()
    assert asked.state == "pending" and agent.checks == [device.pk]
    relay.restore()
    assert agent.heartbeat()["requests"] == [{"id": asked.pk, "device": device.pk, "kind": "https_check"}]
    assert wait_idle(agent, 60)
    asked.refresh_from_db()
    device.refresh_from_db()
    assert asked.state == "answered" and agent.checks == [device.pk] * 2
    assert device.https_summary() == ("HTTPS interception fails on lab · Chromium 1: certificate unknown: the phone "
                                      "does not trust the trackreplay CA")

    # Past TRACKREPLAY_DEVICE_REQUEST_SECONDS the person was told "no answer": a late answer changes nothing.
    settings.TRACKREPLAY_DEVICE_REQUEST_SECONDS = 1

    def slow(device_id):
        time.sleep(2)
        return True, "works after all"

    agent.check = slow
    late, _ = ask(device, "https_check")
    agent.heartbeat()
    assert wait_idle(agent, 60)
    late.refresh_from_db()
    device.refresh_from_db()
    assert late.state == "unanswered" and device.https_status == "fails"
    assert agent.heartbeat()["requests"] == [] and len(agent.checks) == 3  # no longer offered


def test_the_real_agent_checks_https_on_its_chromium_through_a_real_proxy(live_server, transactional_db, tmp_path):
    """No stand-ins: the agent's own https_check starts a proxy, opens its probe over HTTPS in Chromium and asks
    the proxy whether it arrived; a screenshot of a browser between runs is refused with the reason."""
    project = f.ProjectFactory(slug="lab")
    row = f.AgentFactory(project=project, name="lab")
    agent = Agent(live_server.url, AgentToken.issue(agent=row, name="t").token, name="lab", state_dir=tmp_path)
    try:
        agent.heartbeat()
        device = Device.objects.get(agent=row)
        check, _ = ask(device, "https_check")
        shot, _ = ask(device, "screenshot")
        agent.heartbeat()
        assert wait_idle(agent, 90)
        check.refresh_from_db()
        shot.refresh_from_db()
        device.refresh_from_db()
        assert check.state == "answered" and check.ok is True, check.error
        assert device.https_summary() == "HTTPS interception works on lab · Chromium 1"
        assert shot.state == "failed" and "no screen between runs" in shot.error
    finally:
        agent.stopping.set()
        wait_idle(agent, 30)
