"""A real Celery worker process round-trips a task over the configured broker: the embedded filesystem broker
on the embedded defaults, Redis when REDIS_URL is set."""

import os
import subprocess
import sys
import uuid

from django.conf import settings

from trackreplay.celery import app


def test_a_worker_process_runs_a_task_sent_through_the_configured_broker(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"  # private queue: no other worker can take the message
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trackreplay", "worker", "-Q", queue, "--pool", "solo",
         "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        payload = uuid.uuid4().hex
        result = app.send_task("trackreplay.ping", args=[payload], queue=queue)
        assert result.get(timeout=60) == payload
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    if os.environ.get("REDIS_URL"):
        assert settings.CELERY_BROKER_URL.startswith("redis://")
        assert "transport:   redis://" in (tmp_path / "worker.log").read_text()
    else:  # kombu's filesystem transport, with acknowledgements that survive the worker
        assert settings.CELERY_BROKER_URL.startswith("filesystem://")
        assert "transport:   device_agent.broker:Transport://" in (tmp_path / "worker.log").read_text()
