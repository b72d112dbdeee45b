"""Run tokens (trr_…) authenticate one run's SDK bridge on the ingestion endpoints, and stop working when the
run reaches a final state, when they expire, or when a person revokes them (API and console)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from automation.models import Run, RunToken
from test_records.models import Event

from .. import factories as f

INGEST = {
    "/api/v1/ingest/events": {"batch_id": "b1", "events": [{"event": "x", "properties": {}, "time": 1}]},
    "/api/v1/ingest/proxy-report": {"served": 1},
    "/api/v1/ingest/recording": {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": []}},
}


def post(token, url="/api/v1/ingest/events", body=None):
    body = INGEST[url] if body is None else body
    return APIClient().generic("POST", url, json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def run(project_a):
    return f.RunFactory(project=project_a, mode="record", status="running")


def issue(client, run, **body):
    response = client.post(f"/api/v1/runs/{run.pk}/token/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_a_token_expires_after_the_configured_time_by_default(client_a, run, settings):
    settings.TRACKREPLAY_RUN_TOKEN_TTL_SECONDS = 3600
    before = timezone.now()
    issued = issue(client_a, run)
    expires = RunToken.objects.get(pk=issued["id"]).expires_at
    assert before + timedelta(seconds=3600) <= expires <= timezone.now() + timedelta(seconds=3600)
    assert issued["expires_at"] is not None and issued["token"].startswith("trr_")
    assert post(issued["token"]).status_code == 201


@pytest.mark.django_db
def test_an_expired_token_is_refused_saying_so(client_a, run):
    issued = issue(client_a, run, expires_in=120)
    token = RunToken.objects.get(pk=issued["id"])
    assert timezone.now() + timedelta(seconds=100) < token.expires_at < timezone.now() + timedelta(seconds=121)
    RunToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for url in INGEST:
        response = post(issued["token"], url)
        assert response.status_code == 401 and "expired" in response.json()["detail"], response.content
    assert not Event.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", Run.FINAL)
def test_a_token_stops_working_when_its_run_is_finished(client_a, run, status):
    token = issue(client_a, run)["token"]
    Run.objects.filter(pk=run.pk).update(status=status)
    for url in INGEST:
        response = post(token, url)
        assert response.status_code == 401, response.content
        assert response.json()["detail"].startswith(f"run {run.pk} is finished ({status})")
    assert not Event.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["queued", "running", "verifying"])
def test_a_token_works_while_its_run_is_not_final(client_a, run, status):
    token = issue(client_a, run)["token"]
    Run.objects.filter(pk=run.pk).update(status=status)
    assert post(token).status_code == 201


@pytest.mark.django_db
def test_a_finished_run_gets_no_new_token(client_a, run):
    Run.objects.filter(pk=run.pk).update(status="passed")
    response = client_a.post(f"/api/v1/runs/{run.pk}/token/", {}, format="json")
    assert response.status_code == 409 and f"run {run.pk} is finished" in response.json()["status"][0]
    assert not RunToken.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body,field", [({"nmae": "typo"}, "nmae"), ({"expires_in": 5}, "expires_in"),
                                        ({"expires_in": 8 * 24 * 3600}, "expires_in"),
                                        ({"expires_in": "soon"}, "expires_in")])
def test_a_bad_token_request_names_the_field_and_issues_nothing(client_a, run, body, field):
    response = client_a.post(f"/api/v1/runs/{run.pk}/token/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not RunToken.objects.exists()


@pytest.mark.django_db
def test_a_revoked_token_is_refused_and_listed_as_revoked(client_a, run):
    first, second = issue(client_a, run, name="ios"), issue(client_a, run, name="android")
    response = client_a.post(f"/api/v1/runs/{run.pk}/revoke-token/", {"token": first["id"]}, format="json")
    assert response.status_code == 200 and response.json()["revoked_at"] is not None
    refused = post(first["token"])
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert post(second["token"]).status_code == 201  # the other token is untouched
    listed = {t["id"]: t for t in client_a.get(f"/api/v1/runs/{run.pk}/tokens/").json()}
    assert listed[first["id"]]["revoked_at"] and listed[second["id"]]["revoked_at"] is None
    assert "token" not in listed[first["id"]] or listed[first["id"]]["token"] is None  # never shown again
    assert client_a.post(f"/api/v1/runs/{run.pk}/revoke-token/", {"token": 999999}, format="json").status_code == 404
    unknown = client_a.post(f"/api/v1/runs/{run.pk}/revoke-token/", {"token": second["id"], "all": True},
                            format="json")
    assert unknown.status_code == 400 and "all" in unknown.json()
    assert post(second["token"]).status_code == 200  # still works (the same batch again: a duplicate)


@pytest.mark.django_db
def test_tokens_of_one_run_cannot_be_revoked_through_another(client_a, project_a, run):
    other = f.RunFactory(project=project_a, status="running")
    token = issue(client_a, run)
    assert client_a.post(f"/api/v1/runs/{other.pk}/revoke-token/", {"token": token["id"]},
                         format="json").status_code == 404
    assert post(token["token"]).status_code == 201


@pytest.mark.django_db
def test_only_qa_and_admins_of_the_project_issue_and_revoke(client_a, run, make_member, project_a, member_b):
    token = issue(client_a, run)
    viewer = APIClient()
    viewer.force_authenticate(make_member(project_a, Role.VIEWER))
    assert viewer.post(f"/api/v1/runs/{run.pk}/token/", {}, format="json").status_code == 403
    assert viewer.post(f"/api/v1/runs/{run.pk}/revoke-token/", {"token": token["id"]},
                       format="json").status_code == 403
    assert viewer.get(f"/api/v1/runs/{run.pk}/tokens/").status_code == 200
    stranger = APIClient()
    stranger.force_authenticate(member_b)
    assert stranger.post(f"/api/v1/runs/{run.pk}/revoke-token/", {"token": token["id"]},
                         format="json").status_code == 404
    assert stranger.get(f"/api/v1/runs/{run.pk}/tokens/").status_code == 404
    assert RunToken.objects.count() == 1 and post(token["token"]).status_code == 201


@pytest.mark.django_db
def test_a_run_token_is_only_an_ingestion_token(client_a, run):
    token = issue(client_a, run)["token"]
    assert APIClient().get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    personal = client_a.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    assert post(personal).status_code == 401  # agent tokens: tests/integration/test_token_scope.py


# -- console: the run page issues, lists and revokes ---------------------------------------------------------------

@pytest.fixture
def console(client, member_a):
    client.force_login(member_a)
    return client


@pytest.mark.django_db
def test_the_run_page_issues_a_token_once_and_revokes_it(console, run, project_a):
    page = f"/p/{project_a.slug}/runs/{run.pk}/"
    shown = console.post(f"{page}tokens/", {"name": "ios bridge", "expires_in_hours": "2"})
    assert shown.status_code == 200
    token = RunToken.objects.get()
    plaintext = shown.context["token"]
    assert plaintext.startswith("trr_") and plaintext in shown.content.decode()
    assert timezone.now() + timedelta(minutes=110) < token.expires_at <= timezone.now() + timedelta(hours=2)
    listing = console.get(page).content.decode()
    assert token.hint in listing and plaintext not in listing and "ios bridge" in listing
    assert post(plaintext).status_code == 201
    console.post(f"{page}tokens/{token.pk}/revoke/")
    assert post(plaintext).status_code == 401
    assert "revoked" in console.get(page).content.decode()


@pytest.mark.django_db
def test_the_run_page_refuses_bad_hours_and_finished_runs_with_a_message(console, run, project_a):
    page = f"/p/{project_a.slug}/runs/{run.pk}/"
    answer = console.post(f"{page}tokens/", {"expires_in_hours": "999"}, follow=True)
    assert "expires in (hours) must be a whole number from 1 to 168" in answer.content.decode()
    Run.objects.filter(pk=run.pk).update(status="failed")
    answer = console.post(f"{page}tokens/", {}, follow=True)
    assert f"run {run.pk} is finished (failed)" in answer.content.decode()
    assert not RunToken.objects.exists()


@pytest.mark.django_db
def test_viewers_and_strangers_cannot_issue_or_revoke_in_the_console(client, run, project_a, make_member, member_b):
    token = RunToken.issue_for(run)
    page = f"/p/{project_a.slug}/runs/{run.pk}/"
    for user in (make_member(project_a, Role.VIEWER), member_b):
        client.force_login(user)
        assert client.post(f"{page}tokens/").status_code == 404
        assert client.post(f"{page}tokens/{token.pk}/revoke/").status_code == 404
    assert RunToken.objects.count() == 1 and RunToken.objects.get().revoked_at is None


@pytest.mark.django_db
def test_tokens_issued_before_expiry_existed_get_the_default_lifetime():
    import importlib
    from datetime import timedelta

    from django.apps import apps

    from automation.models import RunToken

    migration = importlib.import_module("automation.migrations.0008_run_token_expiry")
    token = RunToken.issue(run=f.RunFactory(status="running"), name="old")
    RunToken.objects.filter(pk=token.pk).update(expires_at=None)
    migration.expire_old_tokens(apps, None)
    token.refresh_from_db()
    assert token.expires_at == token.created_at + timedelta(days=1)
