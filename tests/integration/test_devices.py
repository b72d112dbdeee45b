"""Devices as their agent reports them and what people ask of them: the heartbeat stores screen, battery,
proxy mode and WDA URL (and refuses bad values naming them); a device the agent no longer lists is offline
at once and comes back (busy while its run goes on, else free for the dispatcher); HTTPS checks and
screenshots asked through the API reach the agent in its heartbeat answers and come back through the
agents' API, and one nobody answers in time shows as unanswered and is refused when it comes late."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from automation.device_requests import ask
from automation.lifecycle import dispatch_queued, expire_leases
from automation.models import AgentToken, Device, DeviceRequest, Run

from .. import factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PIXEL = {"platform": "android", "name": "Pixel 7 #2", "serial": "emulator-5554", "model": "Pixel 7",
         "os_version": "Android 14", "labels": ["android"], "screen": "1080x2400", "battery": 87, "proxy": "auto"}
IPHONE = {"platform": "ios", "name": "iPhone 15 #1", "serial": "00008120-001A2B3C4D5E6F70", "model": "iPhone 15",
          "os_version": "iOS 17.5", "screen": "1179x2556", "battery": None, "proxy": "manual",
          "wda_url": "http://127.0.0.1:8100"}


def agent_client(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='t').token}")
    return client


def beat(client, devices, running=()):
    return client.post("/api/v1/agent/heartbeat", {"hostname": "lab", "version": "0.2.0", "devices": devices,
                                                   "running": list(running)}, format="json")


@pytest.fixture
def lab(project_a):
    agent = f.AgentFactory(project=project_a, name="lab")
    client = agent_client(agent)
    assert beat(client, [PIXEL, IPHONE]).status_code == 200
    return agent, client, Device.objects.get(serial=PIXEL["serial"]), Device.objects.get(serial=IPHONE["serial"])


def test_the_heartbeat_stores_what_the_agent_reports_of_each_device(lab):
    agent, client, pixel, iphone = lab
    assert (pixel.screen, pixel.battery, pixel.proxy_mode, pixel.wda_url, pixel.model, pixel.os_version) == (
        "1080x2400", 87, "auto", "", "Pixel 7", "Android 14")
    assert (iphone.screen, iphone.battery, iphone.proxy_mode, iphone.wda_url) == (
        "1179x2556", None, "manual", "http://127.0.0.1:8100")
    assert pixel.status == iphone.status == "online" and pixel.https_status == "unknown"
    beat(client, [{**PIXEL, "battery": 12}, IPHONE])
    pixel.refresh_from_db()
    assert pixel.battery == 12
    # A web device from an agent that reports none of the new keys: unknown screen and battery, proxy set by it.
    beat(client, [PIXEL, IPHONE, {"platform": "web", "name": "lab · Chromium 1", "serial": "chromium-1"}])
    web = Device.objects.get(serial="chromium-1")
    assert (web.screen, web.battery, web.proxy_mode, web.wda_url) == ("", None, "auto", "")
    # An iPhone on USB (WDA through usbmuxd) and the address its proxy is to be set to by hand.
    usb = {**IPHONE, "wda_url": f"http+usbmux://{IPHONE['serial']}:8100", "proxy_address": "192.168.1.20:8889"}
    assert beat(client, [PIXEL, usb]).status_code == 200
    iphone.refresh_from_db()
    assert (iphone.wda_url, iphone.proxy_address) == (usb["wda_url"], "192.168.1.20:8889")


@pytest.mark.parametrize("key,value,message", [
    ("screen", "1080*2400", "Write the screen as WIDTHxHEIGHT in pixels"),
    ("screen", "0x2400", "Write the screen as WIDTHxHEIGHT in pixels"),
    ("screen", "1080x2400x3", "Write the screen as WIDTHxHEIGHT in pixels"),
    ("battery", 101, "less than or equal to 100"),
    ("battery", -1, "greater than or equal to 0"),
    ("battery", "full", "A valid integer is required"),
    ("battery", 50.5, "A valid integer is required"),
    ("proxy", "socks", "is not a valid choice"),
    ("wda_url", "127.0.0.1:8100", "Write WDA's URL as http://host:port"),
    ("wda_url", "ftp://127.0.0.1:8100", "Write WDA's URL as http://host:port"),
    ("proxy_address", "192.168.1.20", "Write the proxy address as host:port"),
    ("proxy_address", "192.168.1.20:0", "Write the proxy address as host:port"),
    ("wda_url", "http://" + "a" * 300 + ".test", "no more than 300 characters"),
    ("ip", "10.0.0.7", "Unknown field"),
])
def test_a_bad_device_report_is_refused_naming_the_device_and_key(lab, key, value, message):
    agent, client, pixel, _ = lab
    response = beat(client, [IPHONE, {**PIXEL, "model": "Pixel 8", key: value}])
    assert response.status_code == 400, response.content
    errors = response.json()["devices"]  # by the device's place in the list
    assert list(errors) == ["1"] and list(errors["1"]) == [key] and message in " ".join(errors["1"][key]), errors
    pixel.refresh_from_db()
    assert pixel.model == "Pixel 7"  # nothing of the refused heartbeat was stored


def test_an_unplugged_device_is_offline_at_once_and_its_run_is_left_to_the_agent(lab, settings):
    agent, client, pixel, iphone = lab
    run = f.RunFactory(project=agent.project, device=pixel, status="running", mode="record",
                       lease_expires_at=timezone.now() + timedelta(seconds=60))
    Device.objects.filter(pk=pixel.pk).update(status="busy")
    answer = beat(client, [IPHONE], running=[run.pk]).json()
    assert answer["devices"] == [{"id": iphone.pk}]
    pixel.refresh_from_db()
    run.refresh_from_db()
    assert pixel.status == "offline"
    # The agent still runs it (it will report "device disconnected at step N" itself): the lease goes on.
    assert run.status == "running" and run.lease_expires_at > timezone.now() + timedelta(seconds=30)
    # Plugged back in while the run goes on: busy, not offered to another run.
    beat(client, [PIXEL, IPHONE], running=[run.pk])
    pixel.refresh_from_db()
    assert pixel.status == "busy"
    # Unplugged again, and the agent ends the run: the device stays offline (not "freed" to online).
    beat(client, [IPHONE], running=[run.pk])
    finish = client.post(f"/api/v1/agent/runs/{run.pk}/finish", {
        "outcome": "error", "error": "device disconnected at step 3", "steps": [], "step_count": 5}, format="json")
    assert finish.status_code == 200, finish.content
    pixel.refresh_from_db()
    assert pixel.status == "offline"


def test_a_device_that_comes_back_is_used_by_the_dispatcher(lab, django_capture_on_commit_callbacks):
    agent, client, pixel, _ = lab
    beat(client, [IPHONE])
    pixel.refresh_from_db()
    assert pixel.status == "offline"
    script = f.ScriptFactory(project=agent.project, platform="android", path="feed.yaml",
                             source="app: com.example.shop\nsteps:\n  - launch\n")
    task = f.TaskFactory(project=agent.project, script=script, device_selector={"platform": "android"})
    run = Run.objects.create(project=agent.project, task=task, mode="record")
    assert dispatch_queued() == []  # no device for it while the phone is unplugged
    with django_capture_on_commit_callbacks() as committed:
        beat(client, [PIXEL, IPHONE])
    with django_capture_on_commit_callbacks() as sent:  # captured, not sent: no agent listens here
        for callback in committed:  # the heartbeat dispatches waiting runs once it has committed
            callback()
    assert len(sent) == 1
    run.refresh_from_db()
    pixel.refresh_from_db()
    assert run.device == pixel and pixel.status == "busy"


def test_a_run_the_agent_no_longer_runs_on_an_unplugged_device_is_ended_by_the_lease(lab, settings):
    agent, client, pixel, _ = lab
    run = f.RunFactory(project=agent.project, device=pixel, status="running", mode="record",
                       started_at=timezone.now() - timedelta(seconds=30),
                       lease_expires_at=timezone.now() + timedelta(seconds=60))
    Device.objects.filter(pk=pixel.pk).update(status="busy")
    beat(client, [IPHONE], running=[run.pk])
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_leases() == [run.pk]  # the agent went silent about it
    run.refresh_from_db()
    pixel.refresh_from_db()
    assert run.status == "error" and "the agent stopped answering" in run.error and pixel.status == "offline"


# -- HTTPS checks and screenshots ---------------------------------------------------------------------------------

def test_a_check_asked_through_the_api_reaches_the_agent_and_its_answer_is_the_devices_status(lab, client_a):
    agent, client, pixel, iphone = lab
    response = client_a.post(f"/api/v1/devices/{pixel.pk}/check-https/")
    assert response.status_code == 201, response.content
    asked = response.json()
    assert asked["kind"] == "https_check" and asked["state"] == "pending"
    again = client_a.post(f"/api/v1/devices/{pixel.pk}/check-https/")  # clicked twice: asked once
    assert again.status_code == 200 and again.json()["id"] == asked["id"]
    requests = beat(client, [PIXEL, IPHONE]).json()["requests"]
    assert requests == [{"id": asked["id"], "device": pixel.pk, "kind": "https_check"}]
    assert beat(client, [IPHONE]).json()["requests"] == []  # offered only while the agent reports the device
    answer = client.post(f"/api/v1/agent/devices/{pixel.pk}/https-check",
                         {"request": asked["id"], "ok": True, "detail": "the probe arrived through the proxy"},
                         format="json")
    assert answer.status_code == 200 and answer.json() == {"request": asked["id"], "duplicate": False}
    device = client_a.get(f"/api/v1/devices/{pixel.pk}/").json()
    assert device["https_status"] == "works" and device["https_checked_at"]
    assert device["https_summary"] == "HTTPS interception works on Pixel 7 #2"
    assert (device["screen"], device["battery"], device["proxy_mode"]) == ("1080x2400", 87, "auto")
    assert client_a.get(f"/api/v1/device-requests/{asked['id']}/").json()["state"] == "answered"
    assert beat(client, [PIXEL, IPHONE]).json()["requests"] == []
    # Sent again (its first answer was lost): nothing changes.
    repeat = client.post(f"/api/v1/agent/devices/{pixel.pk}/https-check",
                         {"request": asked["id"], "ok": False, "detail": "flapping"}, format="json")
    assert repeat.json()["duplicate"] is True
    pixel.refresh_from_db()
    assert pixel.https_status == "works"
    # The API does not let a person set what the agent reports.
    client_a.patch(f"/api/v1/devices/{pixel.pk}/", {"https_status": "fails", "battery": 3, "screen": "1x1"},
                   format="json")
    pixel.refresh_from_db()
    assert (pixel.https_status, pixel.battery, pixel.screen) == ("works", 87, "1080x2400")


def test_a_failed_check_says_why_and_one_that_could_not_be_made_changes_nothing(lab):
    agent, client, pixel, _ = lab
    asked, _ = ask(pixel, "https_check")
    client.post(f"/api/v1/agent/devices/{pixel.pk}/https-check",
                {"request": asked.pk, "ok": False, "detail": "TLS: certificate unknown"}, format="json")
    pixel.refresh_from_db()
    assert pixel.https_summary() == "HTTPS interception fails on Pixel 7 #2: TLS: certificate unknown"
    second, _ = ask(pixel, "https_check")
    response = client.post(f"/api/v1/agent/devices/{pixel.pk}/request-failed",
                           {"request": second.pk, "error": "the device is running run 12"}, format="json")
    assert response.status_code == 200
    second.refresh_from_db()
    pixel.refresh_from_db()
    assert second.state == "failed" and second.error == "the device is running run 12"
    assert pixel.https_status == "fails"


def test_a_screenshot_comes_back_as_a_png_and_anything_else_is_refused(lab, client_a, settings):
    agent, client, pixel, _ = lab
    asked = client_a.post(f"/api/v1/devices/{pixel.pk}/screenshot/").json()
    url = f"/api/v1/agent/devices/{pixel.pk}/screenshot"
    refused = client.generic("PUT", f"{url}?request={asked['id']}", b"GIF89a....", content_type="image/png")
    assert refused.status_code == 400 and refused.json() == {"error": "the body is not a PNG image"}
    no_id = client.generic("PUT", url, PNG, content_type="image/png")
    assert no_id.status_code == 400 and no_id.json() == {"request": ["This field is required."]}
    for query in ("request=x", f"request={asked['id']}&step=1"):
        assert client.generic("PUT", f"{url}?{query}", PNG, content_type="image/png").status_code == 400, query
    settings.TRACKREPLAY_SCREENSHOT_MAX_BYTES = 1024
    too_big = client.generic("PUT", f"{url}?request={asked['id']}", PNG + b"\x00" * 2000, content_type="image/png")
    assert too_big.status_code == 413 and "TRACKREPLAY_SCREENSHOT_MAX_BYTES" in too_big.content.decode()
    assert DeviceRequest.objects.get(pk=asked["id"]).state == "pending"
    # The right request kind only: a check's id is no screenshot's.
    check, _ = ask(pixel, "https_check")
    wrong = client.generic("PUT", f"{url}?request={check.pk}", PNG, content_type="image/png")
    assert wrong.status_code == 404 and "has no screenshot request" in wrong.json()["error"]
    stored = client.generic("PUT", f"{url}?request={asked['id']}", PNG, content_type="image/png")
    assert stored.status_code == 200 and stored.json() == {"request": asked["id"], "bytes": len(PNG),
                                                           "duplicate": False}
    shown = client_a.get(f"/api/v1/device-requests/{asked['id']}/").json()
    assert shown["state"] == "answered" and shown["image"] == f"/api/v1/device-requests/{asked['id']}/image/"
    image = client_a.get(shown["image"])
    assert image.status_code == 200 and b"".join(image.streaming_content) == PNG
    assert client_a.get(f"/api/v1/device-requests/{check.pk}/image/").status_code == 404


def test_a_request_nobody_answers_in_time_is_unanswered_and_a_late_answer_is_refused(lab, client_a, settings):
    agent, client, pixel, _ = lab
    asked, _ = ask(pixel, "screenshot")
    DeviceRequest.objects.filter(pk=asked.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.TRACKREPLAY_DEVICE_REQUEST_SECONDS + 1))
    assert client_a.get(f"/api/v1/device-requests/{asked.pk}/").json()["state"] == "unanswered"
    assert beat(client, [PIXEL, IPHONE]).json()["requests"] == []  # no longer offered
    late = client.generic("PUT", f"/api/v1/agent/devices/{pixel.pk}/screenshot?request={asked.pk}", PNG,
                          content_type="image/png")
    assert late.status_code == 409 and "timed out" in late.json()["error"], late.content
    asked.refresh_from_db()
    assert asked.answered_at is None and not asked.image
    # Asking again makes a new request rather than returning the dead one.
    fresh = client_a.post(f"/api/v1/devices/{pixel.pk}/screenshot/")
    assert fresh.status_code == 201 and fresh.json()["id"] != asked.pk


def test_an_offline_device_or_one_without_agent_cannot_be_asked(lab, client_a, project_a):
    agent, client, pixel, _ = lab
    beat(client, [IPHONE])
    response = client_a.post(f"/api/v1/devices/{pixel.pk}/screenshot/")
    assert response.status_code == 409 and "Pixel 7 #2 is offline" in response.json()["status"][0]
    loose = f.DeviceFactory(project=project_a, name="Shelf phone", status="online")
    response = client_a.post(f"/api/v1/devices/{loose.pk}/check-https/")
    assert response.status_code == 409 and "attached to no agent" in response.json()["status"][0]
    assert not DeviceRequest.objects.exists()


def test_old_requests_and_their_screenshots_are_pruned(lab, django_capture_on_commit_callbacks):
    from automation.device_requests import KEEP_PER_DEVICE, answer_screenshot

    agent, client, pixel, _ = lab
    first, _ = ask(pixel, "screenshot")
    answer_screenshot(pixel, first.pk, PNG)
    first.refresh_from_db()
    storage, name = first.image.storage, first.image.name
    assert storage.exists(name)
    for _ in range(KEEP_PER_DEVICE):
        with django_capture_on_commit_callbacks(execute=True):
            asked, _ = ask(pixel, "screenshot")
        DeviceRequest.objects.filter(pk=asked.pk).update(answered_at=timezone.now(), error="busy")
    assert DeviceRequest.objects.filter(device=pixel).count() == KEEP_PER_DEVICE
    assert not DeviceRequest.objects.filter(pk=first.pk).exists() and not storage.exists(name)
