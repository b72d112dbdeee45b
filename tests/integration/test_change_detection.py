"""API change detection against a real HTTP API: an added, a removed and a retyped key are found, values
and order are not; applying a change rewrites the exchange, withdrawing restores it."""

import json

import pytest

from accounts.models import Role
from mock_records.live_check import check_live
from mock_records.models import ChangeRecord, Exchange
from tests import factories as f
from tests.integration.test_proxy_process import Api

RECORDED = {"code": 0, "data": {"items": [{"id": "P1", "name": "Green tea", "price": 12.5}],
                                "banner": {"url": "https://x"}}}


@pytest.fixture
def drifted(project_a):
    project_a.allow_private_targets = True  # the API under test listens on 127.0.0.1; the guard refuses it otherwise
    project_a.save()
    api = Api()  # answers /api/feed... with {"items": [{"id", "name"}], "path"}
    record = f.MockRecordFactory(project=project_a)
    feed = f.ExchangeFactory(mock_record=record, order=0, method="GET", scheme="http", host="127.0.0.1",
                             port=api.server.server_port, path="/api/feed", query="tab=2",
                             response_body_inline=json.dumps({"items": [{"id": "P0", "name": "Old", "price": 1}],
                                                              "path": 3}).encode())
    same = f.ExchangeFactory(mock_record=record, order=1, method="GET", scheme="http", host="127.0.0.1",
                             port=api.server.server_port, path="/api/feed", query="tab=3",
                             response_body_inline=json.dumps({"items": [{"id": "P9", "name": "Other"}],
                                                              "path": "/x"}).encode())
    yield record, feed, same
    api.stop()


def test_added_removed_and_retyped_keys_become_change_records(drifted):
    record, feed, same = drifted
    found = check_live(record).changes
    assert [c.exchange_id for c in found] == [feed.pk]  # the other one only differs in values
    change = found[0]
    assert {(c["path"], c["kind"]) for c in change.changes} == {("items[].price", "removed"), ("path", "retyped")}
    suggested = json.loads(bytes(change.suggested_body))
    assert suggested == {"items": [{"id": "P0", "name": "Old"}], "path": "/api/feed?tab=2"}
    assert check_live(record).changes == []  # the same open change is not recorded twice


def test_apply_and_withdraw_through_the_api(drifted, client_a, project_a, make_member, api_client):
    record, feed, _ = drifted
    [change] = check_live(record).changes
    original = Exchange.objects.get(pk=feed.pk).response_body
    listed = client_a.get(f"/api/v1/change-records/?exchange__mock_record={record.pk}").json()["results"]
    assert listed[0]["id"] == change.pk and listed[0]["status"] == "open"

    viewer = make_member(project_a, Role.VIEWER)
    api_client.force_authenticate(viewer)
    assert api_client.post(f"/api/v1/change-records/{change.pk}/apply/").status_code == 403

    applied = client_a.post(f"/api/v1/change-records/{change.pk}/apply/")
    assert applied.status_code == 200 and applied.json()["status"] == "applied"
    assert json.loads(Exchange.objects.get(pk=feed.pk).response_body)["path"] == "/api/feed?tab=2"
    assert client_a.post(f"/api/v1/change-records/{change.pk}/apply/").status_code == 400
    withdrawn = client_a.post(f"/api/v1/change-records/{change.pk}/withdraw/")
    assert withdrawn.json()["status"] == "withdrawn"
    assert Exchange.objects.get(pk=feed.pk).response_body == original
    assert ChangeRecord.objects.get(pk=change.pk).decided_by is not None


def test_check_live_is_queued_for_a_worker(drifted, client_a):
    record, _, _ = drifted
    answer = client_a.post(f"/api/v1/mock-records/{record.pk}/check-live/")
    assert answer.status_code == 202
    assert {k: answer.json()[k] for k in ("mock_record", "capture", "status")} == {
        "mock_record": record.pk, "capture": None, "status": "queued"}
    assert client_a.get(f"/api/v1/live-checks/{answer.json()['id']}/").json()["status"] == "queued"
    other = f.MockRecordFactory()
    assert client_a.post(f"/api/v1/mock-records/{record.pk}/check-live/", {"capture": other.pk},
                         format="json").status_code == 400


def test_apply_and_withdraw_from_the_console(drifted, project_a, member_a):
    from django.test import Client

    record, feed, _ = drifted
    [change] = check_live(record).changes
    client = Client()
    client.force_login(member_a)
    page = client.get(f"/p/{project_a.slug}/api-changes/{change.pk}/").content.decode()
    assert "items[].price" in page and "Apply: answer with the suggested response" in page
    client.post(f"/p/{project_a.slug}/api-changes/{change.pk}/apply/")
    page = client.get(f"/p/{project_a.slug}/api-changes/{change.pk}/").content.decode()
    assert "Applied: the exchange now answers" in page and "Withdraw" in page
    client.post(f"/p/{project_a.slug}/api-changes/{change.pk}/withdraw/")
    assert ChangeRecord.objects.get(pk=change.pk).status == "withdrawn"
    assert client.post(f"/p/{project_a.slug}/api-changes/{change.pk}/explode/").status_code == 404


def test_live_answers_can_come_from_a_capture_run(project_a):
    from mock_records.live_check import check_against_capture

    record = f.MockRecordFactory(project=project_a, ignore={"query": ["ts"]})
    home = f.ExchangeFactory(mock_record=record, path="/api/home", query="ts=1",
                             response_body_inline=json.dumps({"tabs": [{"id": 1}], "ad": None}).encode())
    f.ExchangeFactory(mock_record=record, path="/api/cart", response_body_inline=b'{"n": 1}')
    capture = f.MockRecordFactory(project=project_a)
    f.ExchangeFactory(mock_record=capture, path="/api/home", query="ts=999",
                      response_body_inline=json.dumps({"tabs": [{"id": "1", "title": "x"}]}).encode())
    [change] = check_against_capture(record, capture).changes  # /api/cart was not captured: nothing to say about it
    assert change.exchange_id == home.pk
    assert {(c["path"], c["kind"]) for c in change.changes} == {
        ("tabs[].id", "retyped"), ("tabs[].title", "added"), ("ad", "removed")}
