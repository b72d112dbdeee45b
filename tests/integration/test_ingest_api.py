"""POST /api/v1/ingest/events: an in-app SDK bridge pushes what it tracked into the run's test record."""

import gzip
import json

import pytest
import requests
from rest_framework.test import APIClient

from sdk_bridge.models import IngestBatch
from test_records.models import Event, TestRecord

from .. import factories as f

URL = "/api/v1/ingest/events"


@pytest.fixture
def run(project_a):
    return f.RunFactory(project=project_a, mode="replay")


@pytest.fixture
def run_token(client_a, run):
    response = client_a.post(f"/api/v1/runs/{run.pk}/token/", {"name": "demo app"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["token"].startswith("trr_")
    return response.json()["token"]


def post(token, body, **headers):
    client = APIClient()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.generic("POST", URL, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
                          **headers)


def batch(batch_id, names, count=None):
    return {"batch_id": batch_id, "device_event_count": count,
            "events": [{"event": name, "properties": {"i": i}, "time": 1732147200000 + i, "step": 1,
                        "distinct_id": "d1"} for i, name in enumerate(names)]}


@pytest.mark.django_db
def test_batches_land_in_the_runs_record_in_client_order(run, run_token):
    first = post(run_token, batch("b1", ["app_start", "home_exposure", "tab_click"], count=3))
    assert first.status_code == 201, first.content
    assert first.json()["stored"] == 3 and first.json()["first_seq"] == 0 and not first.json()["duplicate"]
    second = post(run_token, batch("b2", ["add_to_cart"], count=4))
    assert second.json()["first_seq"] == 3
    record = TestRecord.objects.get(run=run)
    assert record.source == "replayed" and record.name == f"Run #{run.pk}"
    assert list(record.events.values_list("seq", "name")) == [
        (0, "app_start"), (1, "home_exposure"), (2, "tab_click"), (3, "add_to_cart")]
    event = record.events.get(seq=1)
    assert event.properties == {"i": 1} and event.client_time == 1732147200001 and event.sdk == "bridge"
    assert record.device_event_count == 4


@pytest.mark.django_db
def test_a_retried_batch_is_stored_once(run, run_token):
    body = batch("retry-me", ["a", "b"])
    assert post(run_token, body).status_code == 201
    again = post(run_token, body)
    assert again.status_code == 200 and again.json() == {**again.json(), "duplicate": True, "stored": 0}
    assert Event.objects.count() == 2 and IngestBatch.objects.count() == 1


@pytest.mark.django_db
def test_gzip_bodies_are_accepted(run, run_token):
    response = post(run_token, gzip.compress(json.dumps(batch("z", ["a"])).encode()), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201 and Event.objects.get().name == "a"


@pytest.mark.django_db
@pytest.mark.parametrize("body,where", [
    ({"batch_id": "x", "events": [{"event": "ok"}, {"event": ""}]}, "events[1].event"),
    ({"batch_id": "x", "events": [{"event": "a", "properties": [1]}]}, "events[0].properties"),
    ({"batch_id": "x", "events": [{"event": "a", "time": "today"}]}, "events[0].time"),
    ({"batch_id": "x", "events": [{"event": "a", "colour": "red"}]}, "unknown fields ['colour']"),
    ({"events": []}, "batch_id"),
    ({"batch_id": "x", "events": [], "device_event_count": -1}, "device_event_count"),
    ([1, 2], "body"),
])
def test_a_bad_batch_names_what_is_wrong_and_stores_nothing(run, run_token, body, where):
    response = post(run_token, body)
    assert response.status_code == 400
    assert where in response.json()["error"]
    assert not Event.objects.exists() and not IngestBatch.objects.exists()


@pytest.mark.django_db
def test_limits_answer_413_or_400_naming_the_limit(run, run_token, settings):
    settings.TRACKREPLAY_INGEST_MAX_EVENTS = 3
    settings.TRACKREPLAY_INGEST_MAX_BODY_BYTES = 4096
    settings.TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES = 8192
    too_many = post(run_token, batch("m", ["a"] * 4))
    assert too_many.status_code == 400 and too_many.json()["limit"] == "TRACKREPLAY_INGEST_MAX_EVENTS"
    too_big = post(run_token, b"{" + b" " * 5000 + b"}")
    assert too_big.status_code == 413 and too_big.json()["limit"] == "TRACKREPLAY_INGEST_MAX_BODY_BYTES"
    bomb = gzip.compress(b'{"batch_id": "b", "events": []' + b" " * 100_000 + b"}")
    assert len(bomb) < 4096
    response = post(run_token, bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413 and response.json()["limit"] == "TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES"
    deep = post(run_token, b'{"batch_id": "d", "events": [' + b"[" * 100 + b"]" * 100 + b"]}")
    assert deep.status_code == 400 and deep.json()["limit"] == "TRACKREPLAY_INGEST_MAX_DEPTH"
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_only_a_valid_run_token_may_post(run, run_token, client_a):
    assert post("trr_forged", batch("a", ["x"])).status_code == 401
    personal = client_a.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    assert post(personal, batch("a", ["x"])).status_code == 401
    from automation.models import RunToken

    RunToken.objects.get().revoke()
    response = post(run_token, batch("a", ["x"]))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


@pytest.mark.django_db
def test_members_of_other_projects_cannot_issue_tokens_for_the_run(run, member_b):
    client = APIClient()
    client.force_authenticate(member_b)
    assert client.post(f"/api/v1/runs/{run.pk}/token/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_real_http_client_posts_gzip_batches(live_server, project_a, member_a):
    run = f.RunFactory(project=project_a)
    from automation.models import RunToken

    token = RunToken.issue(run=run, name="app").token
    body = gzip.compress(json.dumps(batch("live", ["a", "b"], count=2)).encode())
    response = requests.post(f"{live_server.url}{URL}", data=body, timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip",
                                      "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert list(Event.objects.filter(test_record__run=run).values_list("name", flat=True)) == ["a", "b"]
