"""Ingestion throughput into PostgreSQL: gunicorn with two workers, batches of 500 events posted over real
HTTP by four client threads, against a baseline measured in the same run: the same events written straight
with Django's bulk_create (no HTTP, no validation). Needs PostgreSQL: BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/trackreplay_bench (created if missing)."""

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trackreplay_bench")
BATCHES, PER_BATCH, CLIENTS = 60, 500, 4

SETUP = r'''
import django, json, sys, time
django.setup()
from accounts.models import Project
from automation.models import Run, RunToken, Script, Task
from test_records.models import Event, TestRecord
project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "bench"})
script = Script.objects.create(project=project, name="s", platform="web")
task = Task.objects.create(project=project, name="t", script=script)
run = Run.objects.create(project=project, task=task)
token = RunToken.issue(run=run, name="bench").token
# Baseline: the same number of events written directly, in batches of the same size.
events = json.loads(sys.stdin.read())
record = TestRecord.objects.create(project=project, name="baseline")
started = time.perf_counter()
for b in range(int(sys.argv[1])):
    Event.objects.bulk_create([Event(test_record=record, seq=b * len(events) + i, name=e["event"],
                                     properties=e["properties"], client_time=e["time"], step=e["step"])
                               for i, e in enumerate(events)])
print(json.dumps({"token": token, "run": run.pk, "baseline_seconds": time.perf_counter() - started}))
'''


def _events():
    return [{"event": f"product_exposure_{i % 7}", "time": 1732147200000 + i, "step": i % 10,
             "distinct_id": f"user-{i % 50}",
             "properties": {"product_id": f"P{i:05d}", "position": i % 20, "price": 12.5, "tab_name": "Fresh",
                            "tags": ["tea", "green"], "session_id": "s-1"}} for i in range(PER_BATCH)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ingestion_throughput_into_postgresql(tmp_path):
    parts = urlsplit(URL)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        name = parts.path.lstrip("/")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": URL, "DJANGO_SETTINGS_MODULE": "trackreplay.settings", "DEBUG": "0",
           "SECRET_KEY": "b" * 50, "ALLOWED_HOSTS": "127.0.0.1", "TRACKREPLAY_VAR_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    events = _events()
    setup = subprocess.run([sys.executable, "-c", SETUP, str(BATCHES)], cwd=ROOT, env=env, check=True,
                           input=json.dumps(events), capture_output=True, text=True)
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    port = _free_port()
    server = subprocess.Popen([str(BIN / "gunicorn"), "trackreplay.wsgi:application", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
        bodies = [json.dumps({"batch_id": f"b{n}", "events": events}).encode() for n in range(BATCHES)]
        session_per_thread = {}

        def post(body):
            import threading

            session = session_per_thread.setdefault(threading.get_ident(), requests.Session())
            response = session.post(f"{base}/api/v1/ingest/events", data=body, headers=headers, timeout=60)
            assert response.status_code == 201, response.text

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(post, bodies))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    total = BATCHES * PER_BATCH
    api_rate, baseline_rate = total / seconds, total / info["baseline_seconds"]
    print(f"\nbaseline bulk_create (1 process, no HTTP): {baseline_rate:,.0f} events/s")
    print(f"POST /api/v1/ingest/events (gunicorn x2, {CLIENTS} clients, batches of {PER_BATCH}): "
          f"{api_rate:,.0f} events/s = {api_rate / baseline_rate:.2f} x baseline")
    assert api_rate >= 10_000, f"ingestion at {api_rate:,.0f} events/s is under the 10,000 events/s target"
