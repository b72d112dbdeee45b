"""The Celery app. Queues are named once, here; task routes send each app's work to its queue."""

from __future__ import annotations

import os
from enum import StrEnum

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackreplay.settings")


class Queue(StrEnum):
    DEFAULT = "default"  # bookkeeping: scheduling task groups, dispatching runs, leases
    # Runs themselves execute on the agents, each consuming its own queue (agent_queue).
    VERIFY = "verify"  # verification of test records against scenarios (CPU-bound)
    NOTIFY = "notify"  # outbound webhooks and e-mail (I/O-bound, short timeouts)


def queue_name(queue: Queue | str) -> str:
    """The broker queue for one of ours, with the installation's prefix (TRACKREPLAY_QUEUE_PREFIX)."""
    from django.conf import settings

    return f"{settings.TRACKREPLAY_QUEUE_PREFIX}{queue}"


def agent_queue(agent_id: int) -> str:
    """The queue only one agent consumes: the platform sends that agent's runs there by task name."""
    return queue_name(f"agent.{agent_id}")


app = Celery("trackreplay")
app.config_from_object("django.conf:settings", namespace="CELERY")
ROUTES = {
    "reports.tasks.": Queue.VERIFY,
    "automation.tasks.verify_run": Queue.VERIFY,
    "notifications.tasks.": Queue.NOTIFY,
}


def route(name, args, kwargs, options, task=None, **extra):
    """Each task to its queue, prefixed; a queue named by the caller (an agent's) is kept."""
    if options.get("queue"):
        return None
    for prefix, queue in ROUTES.items():
        if name == prefix or (prefix.endswith(".") and name.startswith(prefix)):
            return {"queue": queue_name(queue)}
    return {"queue": queue_name(Queue.DEFAULT)}


app.conf.task_routes = (route,)
app.autodiscover_tasks()


@app.task(name="trackreplay.ping", time_limit=60)
def ping(payload: str = "pong") -> str:
    """Round-trip check used by health checks and tests: proves broker and worker are connected."""
    return payload
