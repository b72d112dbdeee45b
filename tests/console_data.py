"""The demo project as it looks after its loop has run: what a record run and a replay leave behind (a mock
record with a JSON and a binary exchange, an API change, a baseline and a replay with a wrong tab name, a
learned scenario, a red report, the agent's device, a run, a fault). The end-to-end tests make these for
real; console tests need one of each without a browser, so they are built here the same way."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from automation.models import Device, Run, RunMode, RunStatus
from mock_records.drift import compare, suggest
from mock_records.models import ChangeRecord, Exchange, LiveCheck, LiveCheckStatus, MockRecord, MockRecordSource
from reports.verification import verify_record
from scenarios.learning import infer_version
from scenarios.models import Scenario
from test_records.models import Event, RecordSource, TestRecord
from tracking_plan.models import Fault
from trackreplay.demo import seed_demo

HOME_FEED = {"code": 0, "data": {"tabs": [{"tab_id": 1, "tab_name": "Recommended"}, {"tab_id": 2, "tab_name": "Fresh"}],
                                 "items": [{"product_id": "P2002", "name": "草莓 Strawberries 500 g", "price": 29.9}]}}


def recorded_demo(admin):
    project = seed_demo(admin)
    if project.mock_records.exists():
        return project
    now = timezone.now()
    task = project.tasks.get()
    device = Device.objects.create(project=project, agent=project.agents.get(name="local"),
                                   name="local · Chromium 1", serial="chromium-1", platform="web",
                                   model="Chromium (headless)", os_version="Chromium 156", labels=["web", "local"],
                                   status="online", last_seen_at=now)
    recording = Run.objects.create(project=project, task=task, mode=RunMode.RECORD, device=device,
                                   status=RunStatus.PASSED, started_at=now - timedelta(minutes=6),
                                   finished_at=now - timedelta(minutes=5), triggered_by=admin, step_count=2,
                                   timeline=[{"index": 1, "action": "launch", "label": "launch", "outcome": "passed",
                                              "started_at": "2026-12-01T10:00:00.000Z",
                                              "finished_at": "2026-12-01T10:00:01.000Z", "error": "",
                                              "screenshot": None},
                                             {"index": 2, "action": "tap", "label": "Fresh tab",
                                              "outcome": "passed", "started_at": "2026-12-01T10:00:01.000Z",
                                              "finished_at": "2026-12-01T10:00:02.000Z", "error": "",
                                              "screenshot": None}])
    mock = MockRecord.objects.create(project=project, name=f"Recorded by run #{recording.pk}",
                                     source=MockRecordSource.RECORDED, ignore={"headers": ["x-request-id"]})
    for order, (path, body, content_type) in enumerate([
        ("/api/home", json.dumps(HOME_FEED).encode(), "application/json"),
        ("/static/banner.png", bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(256)), "image/png"),
    ]):
        exchange = Exchange(mock_record=mock, order=order, method="GET", scheme="http", host="127.0.0.1", port=8765,
                            path=path, status_code=200, request_headers=[["Host", "127.0.0.1:8765"]],
                            response_headers=[["Content-Type", content_type]], started_at=now, duration_ms=12)
        exchange.response_body = body
        exchange.save()
    home = mock.exchanges.get(path="/api/home")
    live = {**HOME_FEED, "experiment": {"id": "feed_v2", "bucket": "B"}}
    ChangeRecord.objects.create(exchange=home, live_status=200, changes=[c.to_dict() for c in compare(HOME_FEED, live)],
                                suggested_body=json.dumps(suggest(HOME_FEED, live)).encode())
    LiveCheck.objects.create(mock_record=mock, status=LiveCheckStatus.DONE, checked=1, changes_found=1, skipped=[
        {"exchange": home.pk, "method": "POST", "url": home.url, "reason": "unsafe_method",
         "detail": "POST may change data on the real API"}])

    def record(name, source, run, tab_names):
        test_record = TestRecord.objects.create(project=project, name=name, source=source, mock_record=mock, run=run,
                                                is_baseline=source == RecordSource.RECORDED,
                                                steps=[{"step": 1, "action": "launch"},
                                                       {"step": 2, "action": "Fresh tab"}])
        events = [("page_view", 1, {"page": "home"}),
                  ("tab_click", 2, {"tab_id": 2, "tab_name": tab_names[0]}),
                  ("tab_click", 2, {"tab_id": 1, "tab_name": tab_names[1]})]
        base = int(now.timestamp() * 1000)
        Event.objects.bulk_create([
            Event(test_record=test_record, seq=seq, name=event, properties=props, distinct_id="demo-user-1",
                  client_time=base + seq * 900, received_at=now, step=step, sdk="sensorsdata")
            for seq, (event, step, props) in enumerate(events)])
        return test_record

    baseline = record("Run #1 · baseline", RecordSource.RECORDED, recording, ["Fresh", "Recommended"])
    scenario = Scenario.objects.create(project=project, name=task.name)
    version = infer_version(scenario, [baseline])
    task.mock_record, task.baseline_record, task.scenario = mock, baseline, scenario
    task.save()
    replay_run = Run.objects.create(project=project, task=task, mode=RunMode.REPLAY, device=device,
                                    status=RunStatus.FAILED, started_at=now - timedelta(minutes=2),
                                    finished_at=now - timedelta(minutes=1), triggered_by=admin,
                                    error="2 strong anomalies")
    replay = record("Run #2 · replay with a regression", RecordSource.REPLAYED, replay_run, ["Recommended", "Fresh"])
    verify_record(replay, version, baseline=baseline, run=replay_run)
    Fault.objects.create(project=project, title="tab_click sends the previous tab's name",
                         description="Seen in the replay of run #2.", event_name="tab_click", assignee=admin,
                         reporter=admin, due_at=now + timedelta(days=3))
    return project
