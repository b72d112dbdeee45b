"""Abuse limits: sign-in lockout (console and admin), API throttles per caller, and the debug page kept from
anyone but a developer on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import LoginFailure, PersonalToken
from automation.models import AgentToken
from tests import factories as f

PASSWORD = "pw-for-tests-1"  # the factories' password


@pytest.fixture
def staff(db):
    return f.UserFactory(is_staff=True, is_superuser=True)


def _console_login(client, user, password):
    return client.post("/login/", {"username": user.username, "password": password})


def _signed_in(client) -> bool:
    return client.get("/").status_code != 302 or not client.get("/")["Location"].startswith("/login/")


# -- lockout ------------------------------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_user_out_from_that_address_even_with_the_right_password(staff):
    client = Client()
    for _ in range(4):
        assert "didn't match" in _console_login(client, staff, "wrong").content.decode()
    answer = _console_login(client, staff, "wrong")  # the fifth
    assert "sign-in is locked for about 15 more minutes" in answer.content.decode()
    answer = _console_login(client, staff, PASSWORD)
    assert answer.status_code == 200 and "sign-in is locked" in answer.content.decode()
    assert not _signed_in(client)
    # the admin's sign-in is locked too, with the same message
    answer = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert "sign-in is locked" in answer.content.decode() and not _signed_in(client)
    # attempts during the lockout do not extend it
    assert LoginFailure.objects.get(username=staff.username).failures == 5
    # another address is not locked out
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert _console_login(elsewhere, staff, PASSWORD).status_code == 302 and _signed_in(elsewhere)


def test_failures_at_the_admin_count_as_well(staff):
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": staff.username.upper(), "password": "wrong"})
    answer = _console_login(client, staff, PASSWORD)
    assert "sign-in is locked" in answer.content.decode()


def test_the_lockout_expires(staff):
    client = Client()
    for _ in range(5):
        _console_login(client, staff, "wrong")
    assert "sign-in is locked" in _console_login(client, staff, PASSWORD).content.decode()
    # a quarter of an hour later
    LoginFailure.objects.update(first_failed_at=F("first_failed_at") - timedelta(minutes=15, seconds=1),
                                locked_until=F("locked_until") - timedelta(minutes=15, seconds=1))
    assert "didn't match" in _console_login(client, staff, "wrong").content.decode()  # a fresh count
    assert LoginFailure.objects.get().failures == 1
    assert _console_login(client, staff, PASSWORD).status_code == 302 and _signed_in(client)


def test_a_successful_sign_in_resets_the_count(staff):
    client = Client()
    for _ in range(4):
        _console_login(client, staff, "wrong")
    assert _console_login(client, staff, PASSWORD).status_code == 302
    assert not LoginFailure.objects.exists()
    client = Client()
    for _ in range(4):
        _console_login(client, staff, "wrong")
    assert _console_login(client, staff, PASSWORD).status_code == 302


def test_only_wrong_passwords_count(staff, settings):
    settings.TRACKREPLAY_LOGIN_FAILURE_LIMIT = 2
    for _ in range(10):  # as the test suite and the end-to-end tests do: sign in again and again
        client = Client()
        assert _console_login(client, staff, PASSWORD).status_code == 302
        assert client.login(username=staff.username, password=PASSWORD)
    assert not LoginFailure.objects.exists()


def test_the_limits_are_settings(staff, settings):
    settings.TRACKREPLAY_LOGIN_FAILURE_LIMIT = 2
    client = Client()
    assert "didn't match" in _console_login(client, staff, "wrong").content.decode()
    assert "sign-in is locked for" in _console_login(client, staff, "wrong").content.decode()
    assert "sign-in is locked" in _console_login(client, staff, PASSWORD).content.decode()


# -- API throttles --------------------------------------------------------------------------------------------------

RATES = {"user": "3/min", "anon": "2/min", "agent": "4/min"}


def test_personal_tokens_are_throttled_each_on_its_own_with_retry_after(settings, project_a, member_a):
    settings.TRACKREPLAY_THROTTLE_RATES = RATES
    first, second = APIClient(), APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Bearer {PersonalToken.issue(user=member_a, name='ci').token}")
    second.credentials(HTTP_AUTHORIZATION=f"Bearer {PersonalToken.issue(user=member_a, name='ci2').token}")
    assert [first.get("/api/v1/projects/").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/projects/")
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert "throttled" in limited.json()["detail"].lower()
    assert second.get("/api/v1/projects/").status_code == 200


def test_session_users_and_anonymous_callers_are_throttled(settings, member_a):
    settings.TRACKREPLAY_THROTTLE_RATES = RATES
    user = APIClient()
    user.force_authenticate(member_a)
    assert [user.get("/api/v1/projects/").status_code for _ in range(4)] == [200, 200, 200, 429]
    # Anonymous callers reach little besides the schema (DRF answers 401 before it counts), which is costly to build.
    anonymous = APIClient()
    assert [anonymous.get("/api/schema/").status_code for _ in range(3)] == [200, 200, 429]
    assert APIClient(REMOTE_ADDR="10.1.1.1").get("/api/schema/").status_code == 200  # per address


def test_agents_have_their_own_higher_rate(settings, project_a):
    settings.TRACKREPLAY_THROTTLE_RATES = RATES
    agent = APIClient()
    token = AgentToken.issue(agent=f.AgentFactory(project=project_a), name="lab")
    agent.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    codes = [agent.get("/api/v1/projects/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]


def test_default_rates_leave_room_for_agents_and_people(settings):
    from rest_framework.throttling import SimpleRateThrottle

    parse = SimpleRateThrottle.parse_rate
    rates = settings.TRACKREPLAY_THROTTLE_RATES
    assert parse(None, rates["agent"])[0] / parse(None, rates["agent"])[1] >= 50  # per second
    assert parse(None, rates["user"])[0] / parse(None, rates["user"])[1] >= 10


# -- the debug page -----------------------------------------------------------------------------------------------

LEAKS = ("SECRET_KEY", "Traceback", "local-variable-secret-value", "api-local-variable-secret", "DATABASES",
         "TRACKREPLAY_", "PATH")


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.integration.boom_urls"


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.5", "192.168.1.20", "::ffff:8.8.8.8", ""])
@pytest.mark.parametrize("path,accept", [("/boom/", "text/html"), ("/boom/", "text/plain"),
                                         ("/api/v1/boom/", "application/json"), ("/api/v1/boom/", "text/html")])
def test_a_500_shows_nothing_to_a_remote_client_even_in_debug(debug_on, address, path, accept):
    client = Client(REMOTE_ADDR=address, raise_request_exception=False)
    answer = client.get(path, HTTP_ACCEPT=accept)
    assert answer.status_code == 500
    body = answer.content.decode()
    assert "Server Error (500)" in body
    assert not [leak for leak in LEAKS if leak in body]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_a_developer_on_this_machine_gets_the_debug_page(debug_on, address):
    answer = Client(REMOTE_ADDR=address, raise_request_exception=False).get("/boom/", HTTP_ACCEPT="text/html")
    assert answer.status_code == 500 and "the console broke" in answer.content.decode()
    assert "local-variable-secret-value" in answer.content.decode()


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"])
def test_a_request_through_a_reverse_proxy_on_this_machine_is_not_local(debug_on, header):
    # Behind nginx on the same host every request comes from loopback: forwarded ones get the plain page.
    answer = Client(REMOTE_ADDR="127.0.0.1", raise_request_exception=False).get(
        "/boom/", HTTP_ACCEPT="text/html", **{header: "203.0.113.9"})
    assert answer.status_code == 500 and "local-variable-secret-value" not in answer.content.decode()


BOOM_IN_PRODUCTION = """
import django; django.setup()
from django.conf import settings
from django.db.models import F
from django.test import Client
from django.test.utils import override_settings, setup_test_environment
setup_test_environment()
with override_settings(ROOT_URLCONF="tests.integration.boom_urls", ALLOWED_HOSTS=["testserver"]):
    for path in ("/boom/", "/api/v1/boom/"):
        answer = Client(REMOTE_ADDR="127.0.0.1", raise_request_exception=False).get(path, HTTP_ACCEPT="text/html")
        print(settings.DEBUG, answer.status_code, answer.content.decode().replace(chr(10), " "))
"""


def test_production_settings_never_show_the_debug_page(tmp_path):
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}}
    environment.update(DJANGO_SETTINGS_MODULE="trackreplay.settings_production", TRACKREPLAY_VAR_DIR=str(tmp_path),
                       SECRET_KEY="k" * 50, ALLOWED_HOSTS="tr.example.test")
    result = subprocess.run([sys.executable, "-c", BOOM_IN_PRODUCTION], env=environment, capture_output=True,
                            text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("False 500 ") and "Server Error (500)" in line
        assert not [leak for leak in LEAKS if leak in line]


def test_any_sign_in_path_is_refused_during_a_lockout(staff):
    """The backend itself refuses, so a view that calls authenticate() without the lockout form is covered too."""
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    request = RequestFactory().post("/somewhere/", REMOTE_ADDR="10.2.3.4")
    for _ in range(5):
        assert authenticate(request, username=staff.username, password="wrong") is None
    assert authenticate(request, username=staff.username, password=PASSWORD) is None
    locked = LoginFailure.objects.get(ip="10.2.3.4")
    assert locked.failures == 5  # attempts during the lockout neither count nor extend it
    assert authenticate(request, username=staff.username, password="wrong") is None
    assert LoginFailure.objects.get(ip="10.2.3.4").locked_until == locked.locked_until
    assert authenticate(RequestFactory().post("/", REMOTE_ADDR="10.2.3.5"), username=staff.username,
                        password=PASSWORD) == staff


def test_old_failures_of_other_pairs_are_cleared_away(staff):
    from django.utils import timezone

    long_ago = timezone.now() - timedelta(hours=1)
    LoginFailure.objects.create(username="someone", ip="10.0.0.1", failures=3, first_failed_at=long_ago,
                                last_failed_at=long_ago)
    _console_login(Client(), staff, "wrong")
    assert list(LoginFailure.objects.values_list("username", flat=True)) == [staff.username]
