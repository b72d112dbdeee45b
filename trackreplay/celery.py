"""The Celery app. Queues are named once, here; task routes send each app's work to its queue."""

from __future__ import annotations

import os
from enum import StrEnum

from celery import Celery
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackreplay.settings")


class Queue(StrEnum):
    DEFAULT = "default"  # bookkeeping: scheduling task groups, housekeeping
    RUNS = "runs"  # device runs: long, one per device at a time
    VERIFY = "verify"  # verification of test records against scenarios (CPU-bound)
    NOTIFY = "notify"  # outbound webhooks and e-mail (I/O-bound, short timeouts)


app = Celery("trackreplay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [KombuQueue(q.value) for q in Queue]
app.conf.task_routes = {
    "automation.tasks.execute_run": {"queue": Queue.RUNS.value},
    "reports.tasks.*": {"queue": Queue.VERIFY.value},
    "notifications.tasks.*": {"queue": Queue.NOTIFY.value},
}
app.autodiscover_tasks()


@app.task(name="trackreplay.ping")
def ping(payload: str = "pong") -> str:
    """Round-trip check used by health checks and tests: proves broker and worker are connected."""
    return payload
