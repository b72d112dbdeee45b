"""The proxy process reports to the platform (a live Django server) with a run token: tracking events land in
the run's test record with their steps, and a replay whose mock never answered anything is flagged."""

import json

import pytest

from automation.models import RunToken
from test_records.models import TestRecord
from tests import factories as f
from tests.integration.test_proxy_process import Api, Proxy


@pytest.fixture
def platform(live_server, transactional_db, project_a):
    run = f.RunFactory(project=project_a, mode="replay")
    token = RunToken.issue(run=run, name="proxy").token
    return live_server.url, run, token


def test_events_and_the_report_reach_the_run(platform, tmp_path):
    url, run, token = platform
    api = Api()
    har = tmp_path / "r.har"
    recorder = Proxy(tmp_path, "--mode", "record", "--out", har)
    recorder.session().get(f"{api.url}/api/feed?tab=2")
    recorder.stop()

    proxy = Proxy(tmp_path, "--mode", "replay", "--har", har, "--platform", url, "--run-token", token)
    client = proxy.session()
    assert client.get(f"{api.url}/api/feed?tab=2").status_code == 200
    client.get("http://trackreplay.control/step/4")
    client.post("http://api.segment.io/v1/batch", json={"batch": [
        {"type": "track", "event": "add_to_cart", "properties": {"sku": "P1"}, "userId": "u1"},
        {"type": "track", "event": "checkout", "properties": {"total": 3}, "userId": "u1"}]})
    proxy.stop()
    api.stop()
    record = TestRecord.objects.get(run=run)
    assert [(e.name, e.step, e.seq) for e in record.events.order_by("seq")] == [("add_to_cart", 4, 0), ("checkout", 4, 1)]
    assert record.proxy_report["served"] == 1 and record.proxy_report["mode"] == "replay"
    assert record.health_flags == []


def test_a_replay_that_served_nothing_is_flagged_mock_not_enabled(platform, tmp_path):
    url, run, token = platform
    empty = tmp_path / "empty.har"
    empty.write_text(json.dumps({"log": {"version": "1.2", "entries": []}}))
    proxy = Proxy(tmp_path, "--mode", "replay", "--har", empty, "--unmatched", "404", "--platform", url,
                  "--run-token", token)
    proxy.session().get("http://api.shop.test/api/home")
    proxy.stop()
    record = TestRecord.objects.get(run=run)
    assert record.health_flags == ["mock_not_enabled"]
    assert record.proxy_report["misses"][0]["reasons"] == ["nothing was recorded for host api.shop.test"]


def test_a_bad_token_is_refused_and_said_so_in_the_stats(platform, tmp_path):
    url, run, _ = platform
    stats = tmp_path / "stats.json"
    proxy = Proxy(tmp_path, "--mode", "capture", "--platform", url, "--run-token", "trr_wrong", "--stats", stats)
    proxy.session().post("http://api.segment.io/v1/t", json={"type": "track", "event": "e", "userId": "u"})
    proxy.stop()
    failures = json.loads(stats.read_text())["uplink_failures"]
    assert failures and all("HTTP 401" in failure or "HTTP 403" in failure for failure in failures)
    assert not TestRecord.objects.filter(run=run).exists()


def test_a_recording_becomes_a_new_mock_record_of_the_run(live_server, transactional_db, project_a, tmp_path):
    from mock_records.models import MockRecord

    run = f.RunFactory(project=project_a, mode="record")
    token = RunToken.issue(run=run, name="proxy").token
    api = Api()
    proxy = Proxy(tmp_path, "--mode", "record", "--platform", live_server.url, "--run-token", token)
    client = proxy.session()
    feed = client.get(f"{api.url}/api/feed?tab=2").content
    image = client.get(f"{api.url}/img").content
    client.post("http://api.segment.io/v1/t", json={"type": "track", "event": "view", "userId": "u"})
    proxy.stop()
    api.stop()
    record = TestRecord.objects.get(run=run)
    mock = MockRecord.objects.get(pk=record.mock_record_id)
    assert mock.project == project_a and mock.source == "recorded" and mock.name == f"Recorded by run #{run.pk}"
    bodies = [e.response_body for e in mock.exchanges.order_by("order")]
    assert bodies == [feed, image]  # byte-exact; the tracking request is an event, not an exchange
    assert [e.name for e in record.events.all()] == ["view"]
