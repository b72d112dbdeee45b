"""The embedded default takes concurrent work: on SQLite (WAL, a busy timeout, transactions that take the
write lock when they begin and decode outside it), 20 agents uploading at once through the real HTTP server
all succeed and lose nothing."""

from __future__ import annotations

import gzip
import json
import threading

import pytest
import requests
from django.db import connection

from automation.models import AgentToken, Run, RunScreenshot
from test_records.models import Event

from .. import factories as f

AGENTS = 20
BATCHES = 5
EVENTS_PER_BATCH = 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded default only")


def test_the_database_runs_in_wal_mode_with_a_busy_timeout(db):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 10_000


def _event(run_id: int, batch: int, index: int) -> dict:
    return {"event": "item_exposure", "time": 1_733_000_000_000 + index,
            "properties": {"run": run_id, "batch": batch, "index": index, "page": "home",
                           "items": [{"id": f"sku-{n}", "pos": n, "price": n * 1.5} for n in range(8)]}}


def _agent_work(url: str, token: str, run_id: int, failures: list, start: threading.Barrier) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = f"{url}/api/v1/agent/runs/{run_id}"
    start.wait()
    try:
        answers = [session.post(f"{url}/api/v1/agent/heartbeat", json={
            "hostname": f"lab-{run_id}", "version": "0.1.0", "running": [run_id],
            "devices": [{"platform": "web", "name": "Chromium", "serial": "chromium-1", "labels": []}]}, timeout=60)]
        for batch in range(BATCHES):
            body = {"batch_id": f"{run_id}-{batch}",
                    "events": [_event(run_id, batch, i) for i in range(EVENTS_PER_BATCH)]}
            answers.append(session.post(f"{base}/events", data=gzip.compress(json.dumps(body).encode()), timeout=60,
                                        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}))
            answers.append(session.post(f"{base}/steps", json={"steps": [{
                "index": batch + 1, "action": "tap", "label": f"step {batch}", "outcome": "passed",
                "started_at": "2026-12-01T10:00:00Z", "finished_at": "2026-12-01T10:00:01Z", "error": "",
                "screenshot": None}], "step_count": BATCHES}, timeout=60))
            answers.append(session.put(f"{base}/screenshots/{batch + 1}", data=PNG, timeout=60,
                                       headers={"Content-Type": "image/png"}))
        failures.extend(f"run {run_id}: {a.request.method} {a.url} -> {a.status_code} {a.text[:300]}"
                        for a in answers if a.status_code >= 300)
    except requests.RequestException as exc:
        failures.append(f"run {run_id}: {exc}")
    finally:
        session.close()


@pytest.mark.django_db(transaction=True)
def test_twenty_agents_uploading_at_once_all_succeed(live_server):
    project = f.ProjectFactory()
    runs = []
    for n in range(AGENTS):
        agent = f.AgentFactory(project=project, name=f"lab-{n}")
        device = f.DeviceFactory(project=project, agent=agent, platform="web", serial="chromium-1",
                                 name="Chromium", status="busy")
        run = f.RunFactory(project=project, device=device, status="running")
        runs.append((AgentToken.issue(agent=agent, name="t").token, run.pk))

    failures: list[str] = []
    start = threading.Barrier(AGENTS)
    threads = [threading.Thread(target=_agent_work, args=(live_server.url, token, run_id, failures, start))
               for token, run_id in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, "\n".join(failures[:10])
    for _, run_id in runs:
        run = Run.objects.get(pk=run_id)
        assert Event.objects.filter(test_record__run=run).count() == BATCHES * EVENTS_PER_BATCH, run_id
        assert len(run.timeline) == BATCHES
        assert RunScreenshot.objects.filter(run=run).count() == BATCHES
