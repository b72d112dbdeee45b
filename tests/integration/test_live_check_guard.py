"""The live API check through the egress guard, end to end: a HAR imported through the API, check-live through
the API and the console, the check performed as the worker performs it, its outcome read back. Nothing the
check does not compare is dropped silently: each skipped or refused exchange is listed with its reason."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mock_records.live_check import run_live_check
from mock_records.models import ChangeRecord, Exchange, LiveCheck
from tests import factories as f
from tests.integration.test_egress import Internal

RECORDED = {"secret": "recorded", "extra": True}  # the live answer has items and no extra: a drift


def _har(entries) -> bytes:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "attacker", "version": "1"}, "entries": [
        {"startedDateTime": "2026-12-01T10:00:00.000Z", "time": 5,
         "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": headers,
                     "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1,
                     **({"postData": {"mimeType": "application/json", "text": "{}"}} if method != "GET" else {})},
         "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                      "headers": [{"name": "Content-Type", "value": "application/json"}], "cookies": [],
                      "content": {"size": 1, "mimeType": "application/json", "text": json.dumps(RECORDED)},
                      "redirectURL": "", "headersSize": -1, "bodySize": -1},
         "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0}}
        for method, url, headers in entries]}}).encode()


@pytest.fixture
def internal():
    service = Internal()
    yield service
    service.stop()


def _import(client, project, entries):
    answer = client.post("/api/v1/mock-records/import/", {
        "project": project.pk, "file": SimpleUploadedFile("attack.har", _har(entries)), "name": "attack"},
        format="multipart")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def _check(client, record_id) -> dict:
    """check-live through the API, performed as the worker would, read back through the API."""
    queued = client.post(f"/api/v1/mock-records/{record_id}/check-live/")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    run_live_check(LiveCheck.objects.get(pk=queued.json()["id"]))
    return client.get(f"/api/v1/live-checks/{queued.json()['id']}/").json()


def test_the_attackers_har_entry_for_a_loopback_service_is_refused_by_default(internal, client_a, project_a):
    record_id = _import(client_a, project_a, [("GET", internal.url("/internal"), [])])
    check = _check(client_a, record_id)
    assert internal.hits == []  # nothing reached the internal service
    assert ChangeRecord.objects.filter(exchange__mock_record_id=record_id).count() == 0
    assert check["status"] == "done" and check["checked"] == 0 and check["changes_found"] == 0
    [skipped] = check["skipped"]
    assert skipped["reason"] == "refused_address" and skipped["url"] == internal.url("/internal")
    assert "127.0.0.1, a loopback address" in skipped["detail"] and "allow private targets" in skipped["detail"]


def test_the_same_entry_is_checked_when_the_project_allows_private_targets(internal, client_a, project_a):
    assert client_a.patch(f"/api/v1/projects/{project_a.pk}/", {"allow_private_targets": True},
                          format="json").json()["allow_private_targets"] is True
    record_id = _import(client_a, project_a, [("GET", internal.url("/internal"), [])])
    check = _check(client_a, record_id)
    assert [hit["path"] for hit in internal.hits] == ["/internal"]
    assert check["checked"] == 1 and check["changes_found"] == 1 and check["skipped"] == []
    change = ChangeRecord.objects.get(exchange__mock_record_id=record_id)
    assert {(c["path"], c["kind"]) for c in change.changes} == {("items", "added"), ("extra", "removed")}


def test_unsafe_methods_are_re_sent_only_when_the_exchange_allows_it(internal, client_a, project_a):
    project_a.allow_private_targets = True
    project_a.save()
    record_id = _import(client_a, project_a, [(method, internal.url("/echo"), []) for method in
                                              ("POST", "PUT", "DELETE", "GET")])
    check = _check(client_a, record_id)
    assert [hit["method"] for hit in internal.hits] == ["GET"]
    assert [(s["method"], s["reason"]) for s in check["skipped"]] == [
        ("POST", "unsafe_method"), ("PUT", "unsafe_method"), ("DELETE", "unsafe_method")]
    assert "live_check_unsafe" in check["skipped"][0]["detail"]

    post = Exchange.objects.get(mock_record_id=record_id, method="POST")
    assert client_a.patch(f"/api/v1/exchanges/{post.pk}/", {"live_check_unsafe": True},
                          format="json").json()["live_check_unsafe"] is True
    internal.hits.clear()
    check = _check(client_a, record_id)
    assert sorted(hit["method"] for hit in internal.hits) == ["GET", "POST"]
    assert [s["method"] for s in check["skipped"]] == ["PUT", "DELETE"]


def test_recorded_credentials_are_sent_only_when_the_project_allows_it(internal, client_a, project_a):
    project_a.allow_private_targets = True
    project_a.save()
    secrets = [{"name": "Authorization", "value": "Bearer live-secret"}, {"name": "Cookie", "value": "sid=1"},
               {"name": "X-Api-Key", "value": "k"}, {"name": "X-Auth-Token", "value": "t"},
               {"name": "Accept", "value": "application/json"}]
    record_id = _import(client_a, project_a, [("GET", internal.url("/echo"), secrets)])
    _check(client_a, record_id)
    sent = {k.lower() for k in internal.hits[0]["headers"]}
    assert "accept" in sent and not sent & {"authorization", "cookie", "x-api-key", "x-auth-token"}

    project_a.live_check_credentials = True
    project_a.save()
    internal.hits.clear()
    _check(client_a, record_id)
    assert internal.hits[0]["headers"]["Authorization"] == "Bearer live-secret"
    assert internal.hits[0]["headers"]["Cookie"] == "sid=1"


def test_redirects_oversize_and_non_json_answers_are_reported_not_dropped(internal, client_a, project_a, settings):
    settings.TRACKREPLAY_EGRESS_MAX_BYTES = 64 * 1024
    project_a.allow_private_targets = True
    project_a.save()
    record_id = _import(client_a, project_a, [("GET", internal.url(p), []) for p in
                                              ("/redirect", "/big", "/nowhere-404", "/internal")])
    record = f.MockRecordFactory._meta.model.objects.get(pk=record_id)
    f.ExchangeFactory(mock_record=record, order=9, response_body_inline=b"<html>not json</html>")
    f.ExchangeFactory(mock_record=record, order=10, enabled=False)
    check = _check(client_a, record_id)
    assert [hit["path"] for hit in internal.hits] == ["/redirect", "/big", "/nowhere-404", "/internal"]
    assert [s["reason"] for s in check["skipped"]] == [
        "redirect_not_followed", "too_large", "recorded_not_json", "disabled"]
    assert check["checked"] == 2  # the 404's {} and /internal were compared
    assert "TRACKREPLAY_EGRESS_MAX_BYTES" in check["skipped"][1]["detail"]


def test_the_console_checks_the_live_api_and_shows_what_was_refused(internal, client_a, project_a, member_a):
    record_id = _import(client_a, project_a, [("GET", internal.url("/internal"), [])])
    browser = Client()
    browser.force_login(member_a)
    page = browser.get(f"/p/{project_a.slug}/mock-records/{record_id}/").content.decode()
    assert "Check the live API" in page
    answer = browser.post(f"/p/{project_a.slug}/mock-records/{record_id}/do/check-live/")
    check = LiveCheck.objects.get(mock_record_id=record_id)
    assert answer.status_code == 302 and answer["Location"] == f"/p/{project_a.slug}/live-checks/{check.pk}/"
    run_live_check(check)
    page = browser.get(answer["Location"]).content.decode()
    assert "refused_address" in page and "a loopback address" in page and internal.hits == []


def test_the_project_settings_and_the_exchange_form_carry_the_flags(project_a, member_a, make_member):
    from accounts.models import Role

    browser = Client()
    browser.force_login(member_a)
    page = browser.get(f"/p/{project_a.slug}/settings/").content.decode()
    assert 'name="allow_private_targets"' in page and 'name="live_check_credentials"' in page
    answer = browser.post(f"/p/{project_a.slug}/settings/", {
        "name": project_a.name, "description": "", "verify_upstream_tls": "on", "allow_private_targets": "on",
        "live_check_credentials": "on"})
    assert answer.status_code == 302
    project_a.refresh_from_db()
    assert project_a.allow_private_targets and project_a.live_check_credentials and not project_a.forward_tracking

    exchange = f.ExchangeFactory(mock_record=f.MockRecordFactory(project=project_a), method="POST")
    page = browser.get(f"/p/{project_a.slug}/exchanges/{exchange.pk}/edit/").content.decode()
    assert 'name="live_check_unsafe"' in page
    browser.post(f"/p/{project_a.slug}/exchanges/{exchange.pk}/edit/", {"enabled": "on", "live_check_unsafe": "on"})
    exchange.refresh_from_db()
    assert exchange.live_check_unsafe

    qa = Client()
    qa.force_login(make_member(project_a, Role.QA))
    assert qa.get(f"/p/{project_a.slug}/settings/").status_code == 404  # admins only


@pytest.mark.django_db
def test_the_daily_check_delivered_twice_queues_one_check_per_watched_record(project_a, django_capture_on_commit_callbacks, monkeypatch):
    """check_watched is at least once: the same message handed out again after its worker died must not send a
    second round of requests to the real API for records whose check is still queued or running."""
    from mock_records import tasks

    sent = []
    monkeypatch.setattr(tasks.check_live_task, "delay", lambda check_id: sent.append(check_id))
    watched = f.MockRecordFactory(project=project_a, watch_api=True)
    f.MockRecordFactory(project=project_a, watch_api=False)
    tasks.check_watched()
    tasks.check_watched()  # delivered again
    assert LiveCheck.objects.filter(mock_record=watched).count() == 1 and len(sent) == 1
    LiveCheck.objects.filter(mock_record=watched).update(status="done")
    tasks.check_watched()  # the next day's tick
    assert LiveCheck.objects.filter(mock_record=watched).count() == 2
