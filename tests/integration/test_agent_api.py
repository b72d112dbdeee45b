"""The agents' API and a run's life on the platform: devices come online by heartbeat, a queued run is
dispatched to one free matching device, started once, fed steps, screenshots, events, the recording and the
proxy report (each idempotent), finished and verified; a lost agent's lease expires and frees the device.
Broker messages are captured, not sent: the end-to-end test sends them for real."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from automation.lifecycle import dispatch_queued, expire_leases, verify_run
from automation.models import AgentToken, Device, Run, RunScreenshot
from mock_records.har import ExchangeData, write_har
from test_records.models import HealthFlag

from .. import factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
FLOW = "app: http://127.0.0.1:8765/\nsteps:\n  - launch\n  - tap: {id: tab-2}\n"


def agent_client(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='t').token}")
    return client


def beat(client, running=(), devices=None):
    devices = devices if devices is not None else [{"platform": "web", "name": "lab · Chromium 1",
                                                    "serial": "chromium-1", "labels": ["local"]}]
    return client.post("/api/v1/agent/heartbeat", {"hostname": "lab", "version": "0.1.0", "devices": devices,
                                                   "running": list(running)}, format="json")


@pytest.fixture
def lab(db, project_a):
    agent = f.AgentFactory(project=project_a, name="lab")
    client = agent_client(agent)
    assert beat(client).status_code == 200
    script = f.ScriptFactory(project=project_a, platform="web", path="browse.yaml", source=FLOW)
    task = f.TaskFactory(project=project_a, script=script, device_selector={"platform": "web", "labels": ["local"]})
    return agent, client, task


def step(index, outcome="passed", **extra):
    return {"index": index, "action": "tap", "label": f"step {index}", "outcome": outcome,
            "started_at": "2026-12-01T10:00:0%dZ" % index, "finished_at": "2026-12-01T10:00:0%dZ" % index,
            "error": "", "screenshot": None, **extra}


def dispatched(task, mode, django_capture_on_commit_callbacks):
    run = Run.objects.create(project=task.project, task=task, mode=mode)
    with django_capture_on_commit_callbacks() as sent:
        assert dispatch_queued() == [run]
    assert len(sent) == 1  # the message to the agent's queue, sent once the dispatch is committed
    run.refresh_from_db()
    return run


def test_heartbeat_registers_devices_and_names_the_agents_queue(lab, settings):
    agent, client, _ = lab
    answer = beat(client).json()
    device = Device.objects.get(agent=agent)
    assert device.status == "online" and device.platform == "web" and device.labels == ["local"]
    assert answer["devices"] == [{"id": device.pk}]
    assert answer["queue"] == f"{settings.TRACKREPLAY_QUEUE_PREFIX}agent.{agent.pk}"
    assert answer["broker"]["url"] == settings.CELERY_BROKER_URL
    beat(client)
    assert Device.objects.filter(agent=agent).count() == 1  # known again, not added twice


def test_a_run_goes_to_one_free_matching_device_and_starts_once(lab, django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    device = Device.objects.get(agent=agent)
    assert run.device == device and run.lease_expires_at is not None
    device.refresh_from_db()
    assert device.status == "busy"
    # The only device is busy: a second run waits.
    second = Run.objects.create(project=task.project, task=task, mode="record")
    assert dispatch_queued() == [] and Run.objects.get(pk=second.pk).device is None

    bundle = client.post(f"/api/v1/agent/runs/{run.pk}/start").json()
    assert bundle["mode"] == "record" and bundle["flow"] == {"entry": "browse.yaml", "files": {"browse.yaml": FLOW}}
    assert bundle["scope"] == [] and bundle["time_cap"] == task.time_cap
    assert Run.objects.get(pk=run.pk).status == "running"
    again = client.post(f"/api/v1/agent/runs/{run.pk}/start")
    assert again.status_code == 409 and "is running" in again.json()["error"]


def test_devices_that_do_not_match_the_selector_are_not_used(lab, django_capture_on_commit_callbacks):
    agent, client, task = lab
    task.device_selector = {"platform": "web", "labels": ["local", "gpu"]}
    task.save()
    Run.objects.create(project=task.project, task=task, mode="record")
    assert dispatch_queued() == []
    android = f.TaskFactory(project=task.project)  # its script is an android flow
    Run.objects.create(project=task.project, task=android, mode="record")
    assert dispatch_queued() == []


def test_a_replay_without_a_mock_record_fails_with_the_reason(lab):
    _, _, task = lab
    run = Run.objects.create(project=task.project, task=task, mode="replay")
    dispatch_queued()
    run.refresh_from_db()
    assert run.status == "error" and "has no mock record (record it first)" in run.error


def test_another_agents_run_is_not_found_and_people_cannot_use_the_agent_api(lab, project_a, client_a,
                                                                             django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    other = agent_client(f.AgentFactory(project=project_a, name="other"))
    for method, path in [("post", "start"), ("post", "steps"), ("put", "screenshots/1"), ("post", "events"),
                         ("post", "recording"), ("post", "proxy-report"), ("post", "logs"), ("post", "finish"),
                         ("get", "mock.har")]:
        assert getattr(other, method)(f"/api/v1/agent/runs/{run.pk}/{path}").status_code == 404, path
        assert getattr(client_a, method)(f"/api/v1/agent/runs/{run.pk}/{path}").status_code == 403, path
    assert client_a.post("/api/v1/agent/heartbeat", {}, format="json").status_code == 403
    assert APIClient().post("/api/v1/agent/heartbeat", {}, format="json").status_code == 401


def test_unknown_fields_are_refused_by_name(lab):
    _, client, _ = lab
    answer = client.post("/api/v1/agent/heartbeat", {"hostname": "", "version": "", "devices": [], "running": [],
                                                     "battery": 80}, format="json")
    assert answer.status_code == 400 and "battery" in answer.json()


def test_a_record_run_from_start_to_learned_scenario(lab, django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    base = f"/api/v1/agent/runs/{run.pk}"
    client.post(f"{base}/start")
    assert client.post(f"{base}/steps", {"steps": [step(1, "running")], "step_count": 2}, format="json").status_code == 200
    client.post(f"{base}/steps", {"steps": [step(1, screenshot="screenshots/001.png")]}, format="json")
    client.post(f"{base}/steps", {"steps": [step(1, screenshot="screenshots/001.png")]}, format="json")  # resent
    client.post(f"{base}/steps", {"steps": [step(2)]}, format="json")
    run.refresh_from_db()
    assert [s["index"] for s in run.timeline] == [1, 2] and run.timeline[0]["outcome"] == "passed"
    assert run.step_count == 2

    assert client.put(f"{base}/screenshots/1", PNG, content_type="image/png").status_code == 200
    assert client.put(f"{base}/screenshots/1", PNG + b"2", content_type="image/png").status_code == 200
    assert RunScreenshot.objects.get(run=run, step=1).image.read() == PNG + b"2"
    bad = client.put(f"{base}/screenshots/2", b"GIF89a", content_type="image/png")
    assert bad.status_code == 400 and "not a PNG" in bad.json()["error"]

    events = [{"event": "tab_click", "properties": {"tab_id": tab, "tab_name": name}, "time": 1, "step": 2,
               "distinct_id": "u1", "sdk": "sensorsdata"} for tab, name in [(1, "Recommended"), (2, "Fresh")] * 2]
    batch = {"batch_id": "run-1-events-0", "events": events}
    assert client.post(f"{base}/events", batch, format="json").status_code == 201
    repeat = client.post(f"{base}/events", batch, format="json")
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True

    har = write_har([ExchangeData("GET", "http", "127.0.0.1", 8765, "/api/home", "", [], b"", 200,
                                  [("Content-Type", "application/json")],
                                  json.dumps({"tabs": [{"tab_id": 1, "tab_name": "Recommended"},
                                                       {"tab_id": 2, "tab_name": "Fresh"}]}).encode())])
    first = client.post(f"{base}/recording", har, format="json")
    assert first.status_code == 201
    again = client.post(f"{base}/recording", har, format="json")
    assert again.json() == {"mock_record": first.json()["mock_record"], "exchanges": 1, "duplicate": True}

    report = {"mode": "record", "served": 0, "global": 0, "misses": [], "tracking_requests": 4, "events": 4,
              "decode_errors": [], "recorded": 1, "scope": "api", "passed_through": 3, "passed_through_urls": []}
    assert client.post(f"{base}/proxy-report", report, format="json").status_code == 200
    unknown = client.post(f"{base}/proxy-report", {**report, "servd": 1}, format="json")
    assert unknown.status_code == 400 and "servd" in unknown.json()["error"]

    with django_capture_on_commit_callbacks() as queued:
        done = client.post(f"{base}/finish", {"outcome": "passed", "error": "", "steps": [step(1), step(2)],
                                              "step_count": 2, "logs": [{"at": 1, "level": "log", "text": "hi"}]},
                           format="json")
    # Two messages once committed: the verification, and a dispatch for the device just freed.
    assert done.json()["status"] == "verifying" and len(queued) == 2
    device = Device.objects.get(agent=agent)
    assert device.status == "online"  # freed as soon as the device is done

    run = verify_run(run.pk)
    assert run.status == "passed", run.error
    task.refresh_from_db()
    record = run.test_records.get()
    assert task.mock_record_id == first.json()["mock_record"] and task.baseline_record == record
    assert record.is_baseline and record.events.count() == 4 and run.logs[0]["text"] == "hi"
    assert task.scenario is not None and task.scenario.current_version.rules.filter(event="tab_click").exists()
    assert [s["step"] for s in record.steps] == [1, 2]
    assert verify_run(run.pk).status == "passed"  # a second delivery changes nothing
    assert task.scenario.versions.count() == 1


def test_a_replay_is_verified_into_a_report_with_health_flags(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    mock = f.MockRecordFactory(project=task.project)
    scenario = f.ScenarioFactory(project=task.project)
    f.RuleFactory(version=scenario.current_version, kind="required", event="tab_click", property_path="tab_name")
    task.mock_record, task.scenario = mock, scenario
    task.save()
    run = dispatched(task, "replay", django_capture_on_commit_callbacks)
    base = f"/api/v1/agent/runs/{run.pk}"
    bundle = client.post(f"{base}/start").json()
    assert bundle["mock"]["har"] == f"{base}/mock.har" and client.get(bundle["mock"]["har"]).status_code == 200
    client.post(f"{base}/events", {"batch_id": "b", "events": [{"event": "tab_click", "properties": {}}]},
                format="json")
    client.post(f"{base}/proxy-report", {"mode": "replay", "served": 0, "global": 0, "tracking_requests": 3,
                                         "events": 3}, format="json")
    client.post(f"{base}/finish", {"outcome": "passed", "error": "", "steps": [step(1)], "step_count": 2},
                format="json")
    run = verify_run(run.pk)
    record = run.test_records.get()
    assert set(record.health_flags) >= {HealthFlag.MOCK_NOT_ENABLED, HealthFlag.COUNT_MISMATCH,
                                        HealthFlag.RUN_CRASHED}
    report = run.reports.get()
    assert report.strong_anomalies == 1 and run.status == "failed"
    assert "1 strong anomalies" in run.error and "The mock record never served a response" in run.error


def test_a_lost_agents_lease_expires_the_run_fails_and_the_device_is_freed(lab, django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    client.post(f"/api/v1/agent/runs/{run.pk}/steps", {"steps": [step(1), step(2, "running")]}, format="json")
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    beat(client, running=[run.pk])  # alive: the lease moves on
    assert expire_leases() == []
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_leases() == [run.pk]
    run.refresh_from_db()
    assert run.status == "error" and "the agent stopped answering at step 2" in run.error
    assert Device.objects.get(agent=agent).status == "online"  # the agent itself still heartbeats
    # What the agent uploads afterwards is kept on the failed run.
    client.post(f"/api/v1/agent/runs/{run.pk}/events", {"batch_id": "late", "events": [{"event": "x"}]},
                format="json")
    finished = client.post(f"/api/v1/agent/runs/{run.pk}/finish", {"outcome": "error", "error": "killed",
                                                                  "steps": [step(1)], "step_count": 2}, format="json")
    assert finished.json()["status"] == "error" and run.test_records.get().events.count() == 1


def test_an_agent_that_restarted_fails_the_runs_it_no_longer_runs(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    Run.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=5))
    beat(client, running=[run.pk])
    assert Run.objects.get(pk=run.pk).status == "running"
    beat(client, running=[])
    run.refresh_from_db()
    assert run.status == "error" and "the agent restarted during the run" in run.error


def test_devices_unseen_for_a_while_go_offline(lab, settings):
    agent, _, _ = lab
    Device.objects.filter(agent=agent).update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.TRACKREPLAY_DEVICE_OFFLINE_SECONDS + 1))
    expire_leases()
    assert Device.objects.get(agent=agent).status == "offline"


def test_agent_tokens_cannot_change_devices_or_runs_through_the_general_api(lab, project_b,
                                                                             django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    device = Device.objects.get(agent=agent)
    other = f.DeviceFactory(project=task.project, agent=f.AgentFactory(project=task.project, name="b"))
    # Another agent's device is not even visible to this agent's token (tests/integration/test_token_scope.py).
    assert client.patch(f"/api/v1/devices/{other.pk}/", {"agent": agent.pk, "status": "online"},
                        format="json").status_code == 404
    assert client.delete(f"/api/v1/runs/{run.pk}/").status_code == 403
    assert client.get(f"/api/v1/runs/{run.pk}/").status_code == 200  # reading its project is fine
    stranger = agent_client(f.AgentFactory(project=project_b))
    assert stranger.get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert stranger.post(f"/api/v1/agent/runs/{run.pk}/start").status_code == 404
    device.refresh_from_db()
    assert device.status == "busy" and Run.objects.get(pk=run.pk).status == "queued"


def test_people_cannot_rewrite_a_run_or_a_devices_state(lab, client_a, django_capture_on_commit_callbacks):
    agent, _, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    assert client_a.patch(f"/api/v1/runs/{run.pk}/", {"mode": "replay"}, format="json").status_code == 405
    device = Device.objects.get(agent=agent)
    client_a.patch(f"/api/v1/devices/{device.pk}/", {"status": "online", "labels": ["cn"]}, format="json")
    device.refresh_from_db()
    assert device.status == "busy" and device.labels == ["cn"]  # status is the platform's, labels people's
    refused = client_a.delete(f"/api/v1/runs/{run.pk}/")
    assert refused.status_code == 400 and "cancel it first" in refused.json()["status"][0]


def test_a_cancelled_run_frees_its_device_and_its_agent_is_told_to_stop(lab, client_a,
                                                                        django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    client.post(f"/api/v1/agent/runs/{run.pk}/steps", {"steps": [step(1, "running")]}, format="json")
    answer = client_a.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert Device.objects.get(agent=agent).status == "online"
    assert Run.objects.get(pk=run.pk).timeline[0]["outcome"] == "failed"
    assert beat(client, running=[run.pk]).json()["cancel"] == [run.pk]
    assert client_a.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 400  # ended already
    # What the agent still sends is kept; the run stays cancelled.
    finished = client.post(f"/api/v1/agent/runs/{run.pk}/finish", {"outcome": "error", "error": "cancelled",
                                                                  "steps": [step(1, "failed")], "step_count": 1},
                           format="json")
    assert finished.json()["status"] == "cancelled"


def test_a_run_with_its_report_takes_no_more_uploads(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    Run.objects.filter(pk=run.pk).update(status="passed")
    late = client.post(f"/api/v1/agent/runs/{run.pk}/events", {"batch_id": "x", "events": [{"event": "e"}]},
                       format="json")
    assert late.status_code == 409 and "takes no more uploads" in late.json()["error"]
    assert not run.test_records.exists()


def test_step_times_must_be_times(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    bad = client.post(f"/api/v1/agent/runs/{run.pk}/steps", {"steps": [step(1, started_at="yesterday")]},
                      format="json")
    assert bad.status_code == 400 and "not an ISO 8601 time" in json.dumps(bad.json())


def test_a_run_its_agent_never_starts_fails_and_frees_the_device(lab, django_capture_on_commit_callbacks):
    agent, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    beat(client)  # alive, but it never takes the run (its message was lost)
    Run.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    beat(client)
    assert expire_leases() == [run.pk]
    run.refresh_from_db()
    assert run.status == "error" and "did not start the run within 120 s" in run.error
    assert Device.objects.get(agent=agent).status == "online"


def test_a_run_past_its_time_cap_is_not_kept_alive_by_heartbeats(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    long_ago = timezone.now() - timedelta(seconds=task.time_cap + 301)
    Run.objects.filter(pk=run.pk).update(started_at=long_ago, lease_expires_at=timezone.now() - timedelta(seconds=1))
    beat(client, running=[run.pk])
    assert expire_leases() == [run.pk]


def test_a_verification_whose_message_was_lost_is_sent_again(lab, django_capture_on_commit_callbacks):
    from automation.lifecycle import REVERIFY_SECONDS, reverify_stuck

    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    client.post(f"/api/v1/agent/runs/{run.pk}/finish", {"outcome": "passed", "error": "", "steps": [],
                                                       "step_count": 0}, format="json")
    with django_capture_on_commit_callbacks() as resent:  # the agent sends finish again after an error answer
        again = client.post(f"/api/v1/agent/runs/{run.pk}/finish", {"outcome": "passed", "error": "", "steps": [],
                                                                   "step_count": 0}, format="json")
    assert again.json()["status"] == "verifying" and len(resent) == 2
    assert reverify_stuck() == []
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(seconds=REVERIFY_SECONDS + 1))
    with django_capture_on_commit_callbacks() as sent:
        assert reverify_stuck() == [run.pk]
    assert len(sent) == 1


def test_too_few_events_is_judged_on_the_devices_own_step_times(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    task.mock_record = f.MockRecordFactory(project=task.project)
    task.save()
    run = dispatched(task, "replay", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    client.post(f"/api/v1/agent/runs/{run.pk}/events", {"batch_id": "b", "events": [{"event": "e"}] * 3},
                format="json")
    steps = [step(1, started_at="2026-12-01T10:00:00Z", finished_at="2026-12-01T10:00:02Z"),
             step(2, started_at="2026-12-01T10:00:02Z", finished_at="2026-12-01T10:00:10Z")]
    client.post(f"/api/v1/agent/runs/{run.pk}/finish", {"outcome": "passed", "error": "", "steps": steps,
                                                       "step_count": 2}, format="json")
    run = verify_run(run.pk)
    assert "too_few_events" in run.test_records.get().health_flags  # 3 events in 10 s


def test_log_lines_arrive_as_the_run_goes_and_a_resent_batch_lands_on_the_same_lines(
        lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    client.post(f"/api/v1/agent/runs/{run.pk}/start")
    line = lambda n: {"at": n, "level": "log", "text": f"line {n}"}  # noqa: E731
    for batch in ({"start": 0, "lines": [line(0), line(1)]}, {"start": 2, "lines": [line(2)]},
                  {"start": 2, "lines": [line(2)]}):
        assert client.post(f"/api/v1/agent/runs/{run.pk}/logs", batch, format="json").status_code == 200
    assert [entry["text"] for entry in Run.objects.get(pk=run.pk).logs] == ["line 0", "line 1", "line 2"]


def test_a_run_whose_flow_cannot_be_read_fails_at_its_start_with_the_reason(lab, django_capture_on_commit_callbacks):
    _, client, task = lab
    script = task.script
    Script = type(script)
    Script.objects.filter(pk=script.pk).update(source=FLOW + "  - run_flow: gone.yaml\n")
    run = dispatched(task, "record", django_capture_on_commit_callbacks)
    answer = client.post(f"/api/v1/agent/runs/{run.pk}/start")
    assert answer.status_code == 409 and "gone.yaml" in answer.json()["error"]
    run.refresh_from_db()
    assert run.status == "error" and "the flow cannot run: browse.yaml:5: run_flow: no flow 'gone.yaml'" in run.error
