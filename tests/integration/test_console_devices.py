"""The console's devices: the list and a device's page show what its agent reports (platform, model, OS,
screen, battery, how the proxy is set), HTTPS interception in words with when it was checked, the current
run, and a screenshot asked with a button that appears when the agent sends it (the page polls meanwhile).
The CA page lists every device's HTTPS status with a Check button and the install steps per platform. The
run page shows each step's screenshot and the device's log lines of that step, bounded."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Role
from automation.device_requests import answer_check, answer_failure, answer_screenshot, ask
from automation.models import DeviceRequest, RunScreenshot

from .. import factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def shop(db, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKREPLAY_MITMPROXY_CONFDIR", str(tmp_path / "mitm"))  # the CA page makes its CA
    settings.TIME_ZONE = "UTC"
    project = f.ProjectFactory(name="Shop", slug="shop")
    people = {}
    for role in (Role.ADMIN, Role.QA, Role.VIEWER):
        user = f.UserFactory(username=f"{role}-1")
        Membership.objects.create(project=project, user=user, role=role)
        people[role] = Client()
        people[role].force_login(user)
    agent = f.AgentFactory(project=project, name="lab-1")
    pixel = f.DeviceFactory(project=project, agent=agent, name="Pixel 7 #2", platform="android", serial="emulator-5554",
                            model="Pixel 7", os_version="Android 14", screen="1080x2400", battery=87, status="busy",
                            last_seen_at=timezone.now())
    iphone = f.DeviceFactory(project=project, agent=agent, name="iPhone 15 #1", platform="ios", model="iPhone 15",
                             os_version="iOS 17.5", proxy_mode="manual", wda_url="http://127.0.0.1:8100",
                             proxy_address="192.168.1.20:8889", status="online")
    return project, people, pixel, iphone


def _outsider() -> Client:
    """An admin of another project."""
    user = f.UserFactory()
    Membership.objects.create(project=f.ProjectFactory(slug="elsewhere"), user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


def test_the_devices_list_shows_what_the_agents_report(shop):
    project, people, pixel, iphone = shop
    run = f.RunFactory(project=project, device=pixel, status="running", lease_expires_at=timezone.now())
    answer_check(pixel, ask(pixel, "https_check")[0].pk, ok=True, detail="probe arrived")
    page = people[Role.VIEWER].get("/p/shop/devices/").content.decode()
    for text in ("Screen", "Battery", "Proxy", "HTTPS interception", "1080x2400", "87%", "Pixel 7", "Android 14",
                 "iOS 17.5", "set by hand on the device", "set by the agent", "works", "not checked",
                 f'href="/p/shop/runs/{run.pk}/"'):
        assert text in page, text


def test_a_device_page_shows_the_device_https_interception_and_the_current_run(shop):
    project, people, pixel, iphone = shop
    run = f.RunFactory(project=project, device=pixel, status="running", lease_expires_at=timezone.now())
    asked, _ = ask(pixel, "https_check")
    answer_check(pixel, asked.pk, ok=True, detail="probe arrived")
    checked = pixel.__class__.objects.get(pk=pixel.pk).https_checked_at
    page = people[Role.VIEWER].get(f"/p/shop/devices/{pixel.pk}/").content.decode()
    assert f"HTTPS interception works on Pixel 7 #2 (checked {checked:%Y-%m-%d %H:%M:%S})" in page
    for text in ("Android (uiautomator2)", "Pixel 7", "Android 14", "1080x2400", "87%", "set by the agent",
                 f'href="/p/shop/runs/{run.pk}/" data-testid="current-run"', "emulator-5554"):
        assert text in page, text
    assert 'data-action="screenshot"' not in page  # a viewer asks nothing of devices
    assert 'hx-trigger="every 2s"' not in page  # nothing asked: no polling
    phone = people[Role.VIEWER].get(f"/p/shop/devices/{iphone.pk}/").content.decode()
    assert "set by hand on the device" in phone and 'href="/p/shop/proxy-ca/#ios"' in phone
    assert "HTTPS interception has not been checked on iPhone 15 #1" in phone and "http://127.0.0.1:8100" in phone
    assert '<code data-testid="proxy-address">192.168.1.20:8889</code>' in phone  # what to type into the phone


def test_take_a_screenshot_asks_the_agent_and_the_page_shows_it_when_it_arrives(shop):
    project, people, pixel, _ = shop
    qa = people[Role.QA]
    assert 'data-action="screenshot"' in qa.get(f"/p/shop/devices/{pixel.pk}/").content.decode()
    response = qa.post(f"/p/shop/devices/{pixel.pk}/do/screenshot/")
    assert response["Location"] == f"/p/shop/devices/{pixel.pk}/"
    asked = DeviceRequest.objects.get(device=pixel, kind="screenshot")
    page = qa.get(response["Location"]).content.decode()
    assert "Asked the agent of Pixel 7 #2 for a screenshot" in page
    assert f"Asking the agent for a screenshot (asked at {asked.created_at:%Y-%m-%d %H:%M:%S})" in page
    assert 'hx-trigger="every 2s"' in page
    qa.post(f"/p/shop/devices/{pixel.pk}/do/screenshot/")
    assert DeviceRequest.objects.filter(device=pixel).count() == 1  # clicked twice: asked once
    # The poll gets only the live part; once the PNG arrives it shows it and stops polling.
    answer_screenshot(pixel, asked.pk, PNG)
    partial = qa.get(f"/p/shop/devices/{pixel.pk}/", HTTP_HX_REQUEST="true").content.decode()
    image = f"/p/shop/devices/{pixel.pk}/screenshots/{asked.pk}.png"
    assert partial.startswith('<section id="device-live"') and "<nav" not in partial
    assert f'src="{image}"' in partial and 'hx-trigger' not in partial
    asked.refresh_from_db()
    assert f"Taken {asked.answered_at:%Y-%m-%d %H:%M:%S}" in partial
    png = people[Role.VIEWER].get(image)
    assert png.status_code == 200 and b"".join(png.streaming_content) == PNG
    outsider = _outsider()
    for path in (image, f"/p/shop/devices/{pixel.pk}/"):  # nor through the URL of the outsider's own project
        assert outsider.get(path).status_code == 404
        assert outsider.get(path.replace("/p/shop/", "/p/elsewhere/")).status_code == 404, path
    assert outsider.post(f"/p/elsewhere/devices/{pixel.pk}/do/screenshot/").status_code == 404
    assert people[Role.VIEWER].post(f"/p/shop/devices/{pixel.pk}/do/screenshot/").status_code == 404
    assert DeviceRequest.objects.filter(device=pixel).count() == 1


def test_what_the_agent_could_not_do_or_never_answered_is_said(shop, settings):
    project, people, pixel, _ = shop
    asked, _ = ask(pixel, "screenshot")
    answer_failure(pixel, asked.pk, error="the device is running run 12")
    page = people[Role.VIEWER].get(f"/p/shop/devices/{pixel.pk}/").content.decode()
    assert "The agent could not take a screenshot at" in page and "the device is running run 12" in page
    check, _ = ask(pixel, "https_check")
    DeviceRequest.objects.filter(pk=check.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.TRACKREPLAY_DEVICE_REQUEST_SECONDS + 1))
    check.refresh_from_db()
    page = people[Role.VIEWER].get(f"/p/shop/devices/{pixel.pk}/").content.decode()
    assert (f"No answer from the agent to the check asked at {check.created_at:%Y-%m-%d %H:%M:%S}." in page)
    assert 'hx-trigger="every 2s"' not in page


def test_an_offline_device_cannot_be_asked_and_says_so(shop):
    project, people, pixel, _ = shop
    pixel.__class__.objects.filter(pk=pixel.pk).update(status="offline")
    page = people[Role.QA].get(f"/p/shop/devices/{pixel.pk}/").content.decode()
    assert 'data-action="screenshot" disabled' in page
    response = people[Role.QA].post(f"/p/shop/devices/{pixel.pk}/do/screenshot/", follow=True)
    assert "Not asked: Pixel 7 #2 is offline" in response.content.decode()
    assert not DeviceRequest.objects.exists()


def test_the_ca_page_lists_each_devices_https_status_with_a_check_button_and_install_steps(shop):
    project, people, pixel, iphone = shop
    answer_check(pixel, ask(pixel, "https_check")[0].pk, ok=False, detail="TLS: certificate unknown")
    qa = people[Role.QA]
    page = qa.get("/p/shop/proxy-ca/").content.decode()
    assert "HTTPS interception fails on Pixel 7 #2: TLS: certificate unknown (checked " in page
    assert "HTTPS interception has not been checked on iPhone 15 #1" in page
    assert page.count('data-action="check-https"') == 2
    for step in ("trackreplay agent install-ca --device SERIAL", "trackreplay agent install-ca --device SERIAL --system",
                 "Settings → Security → Encryption &amp; credentials → Install a certificate",
                 "Settings → General → About → Certificate Trust Settings", "The proxy is set by hand",
                 'id="ios"'):
        assert step in page, step
    response = qa.post(f"/p/shop/devices/{iphone.pk}/do/check-https/", {"back": "proxy-ca"})
    assert response["Location"] == "/p/shop/proxy-ca/"
    page = qa.get("/p/shop/proxy-ca/").content.decode()
    assert "Checking now: asked at" in page and "Asked the agent of iPhone 15 #1 for an HTTPS-interception check" in page
    # Anything else as "back" goes to the device's own page, never to a URL from the form.
    response = qa.post(f"/p/shop/devices/{iphone.pk}/do/check-https/", {"back": "https://evil.example/"})
    assert response["Location"] == f"/p/shop/devices/{iphone.pk}/"
    assert 'data-action="check-https"' not in people[Role.VIEWER].get("/p/shop/proxy-ca/").content.decode()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_run_page_shows_each_steps_screenshot_and_its_log_lines(shop):
    project, people, pixel, _ = shop
    start = datetime(2026, 12, 1, 10, 0, tzinfo=dt_timezone.utc)
    second = timedelta(seconds=1)
    timeline = [{"index": i, "action": "tap", "label": f"step {i}", "outcome": "passed", "error": "",
                 "started_at": _iso(start + 10 * (i - 1) * second), "finished_at": _iso(start + (10 * i - 5) * second),
                 "screenshot": f"screenshots/{i:03d}.png"} for i in (1, 2, 3)]
    logs = [{"at": _ms(start - second), "level": "I", "text": "ActivityManager: Start proc com.example.shop"},
            {"at": _ms(start + 2 * second), "level": "D", "text": "feed loaded"},
            {"at": _ms(start + 7 * second), "level": "E", "text": "okhttp: 500 from /api/cart"},  # after step 1's end
            *[{"at": _ms(start + 11 * second) + n, "level": "V", "text": f"chatty line {n}"} for n in range(3000)],
            {"at": _ms(start + 40 * second), "level": "I", "text": "app stopped"}]
    run = f.RunFactory(project=project, device=pixel, status="failed", step_count=3, timeline=timeline, logs=logs)
    for i in (1, 2):
        RunScreenshot(run=run, step=i).image.save(f"s{i}.png", ContentFile(PNG), save=True)
    page = people[Role.VIEWER].get(f"/p/shop/runs/{run.pk}/").content.decode()
    rows = {key: page.split(f'data-logs-for="{key}"')[1].split("</table>")[0] for key in ("before", 1, 2, "after")}
    assert "ActivityManager: Start proc com.example.shop" in rows["before"] and "before the first step" in page
    assert "feed loaded" in rows[1] and "okhttp: 500 from /api/cart" in rows[1] and "chatty" not in rows[1]
    assert 'class="level-E"' in rows[1]
    assert "chatty line 0<" in rows[2] and "chatty line 2999<" in rows[2] and "chatty line 1500<" not in rows[2]
    assert "… 2980 more lines …" in rows[2] and 'data-logs-for="3"' not in page
    assert "app stopped" in rows["after"] and "after the last step" in page
    assert "10:00:02" in rows[1]  # the line's time, readable
    assert f'<img class="thumb" src="/p/shop/runs/{run.pk}/screenshots/1.png"' in page
    assert f'src="/p/shop/runs/{run.pk}/screenshots/3.png"' not in page  # no screenshot arrived for step 3
    assert page.count("<tr class=\"level-") < 100  # thousands of lines, a page that stays small
    show_all = f"/p/shop/runs/{run.pk}/logs/?step=2"
    assert f'href="{show_all}" data-testid="all-logs">Show all 3000 lines' in page
    everything = people[Role.VIEWER].get(show_all).content.decode()
    assert "Device log step 2 (step 2)" in everything and everything.count("chatty line") == 3000
    before = people[Role.VIEWER].get(f"/p/shop/runs/{run.pk}/logs/?step=before").content.decode()
    assert "Device log before the first step" in before and "Start proc" in before
    assert people[Role.VIEWER].get(f"/p/shop/runs/{run.pk}/logs/?step=../x").status_code == 404
    outsider = _outsider()
    assert outsider.get(show_all).status_code == 404
    assert outsider.get(show_all.replace("/p/shop/", "/p/elsewhere/")).status_code == 404
