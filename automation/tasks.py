"""Celery tasks of the automation app: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

import logging

from celery import shared_task

from .scheduling import enqueue_task_group

log = logging.getLogger(__name__)


@shared_task(name="automation.tasks.run_task_group", bind=True, ignore_result=True, time_limit=300)
def run_task_group(self, task_group_id: int) -> None:
    # The message's id keys the firing: delivered again (its worker died), it queues no second set of runs.
    runs = enqueue_task_group(task_group_id, fire_key=self.request.id or "")
    log.info("task group %s fired: %d runs queued", task_group_id, len(runs))


# Periodic: a tick that waited longer than the next one is dropped (expires), the next tick does its work.
@shared_task(name="automation.tasks.housekeeping", ignore_result=True, expires=60, time_limit=120)
def housekeeping() -> None:
    """Every 15 s on beat: runs of agents that stopped answering fail and free their devices; waiting runs
    get devices."""
    from .lifecycle import housekeeping as run_housekeeping

    result = run_housekeeping()
    if any(result.values()):
        log.info("housekeeping: leases expired %s, verification sent again %s, dispatched %s", result["expired"],
                 result["reverified"], result["dispatched"])


@shared_task(name="automation.tasks.verify_run", ignore_result=True, soft_time_limit=600, time_limit=660)
def verify_run(run_id: int) -> None:
    """A finished run's record verified into a report (at least once: verifying twice stores one report,
    the second delivery finds the run no longer verifying)."""
    from .lifecycle import verify_run as verify

    run = verify(run_id)
    if run is not None:
        log.info("run %s verified: %s %s", run_id, run.status, run.error)
