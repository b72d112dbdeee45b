"""Celery tasks of mock records: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

import logging

from celery import shared_task

from .live_check import run_live_check
from .models import LiveCheck, MockRecord

log = logging.getLogger(__name__)


# Named anew (it took a mock record id before): a message queued by an older version fails as unknown
# instead of being read as a LiveCheck id.
@shared_task(name="mock_records.tasks.run_live_check", ignore_result=True, time_limit=1800)
def check_live_task(live_check_id: int) -> None:
    check = LiveCheck.objects.filter(pk=live_check_id).select_related("mock_record__project", "capture").first()
    if check is None:
        return  # deleted since it was queued
    check = run_live_check(check)
    log.info("live check %s of mock record %s: %s, %d compared, %d changes, %d skipped", check.pk,
             check.mock_record_id, check.status, check.checked, check.changes_found, len(check.skipped))


def queue_live_check(record: MockRecord, *, capture: MockRecord | None = None, user=None) -> LiveCheck:
    """A LiveCheck row the caller can follow, and the task that performs it."""
    check = LiveCheck.objects.create(mock_record=record, capture=capture, requested_by=user)
    check_live_task.delay(check.pk)
    return check


@shared_task(name="mock_records.tasks.check_watched", ignore_result=True, time_limit=600)
def check_watched() -> None:
    """Daily (Celery beat): queue a live check for every mock record that watches its API, except those with a
    check still queued or running (so the message delivered again after its worker died queues no second
    round of requests to the real API)."""
    from .models import LiveCheckStatus

    pending = LiveCheck.objects.filter(status__in=[LiveCheckStatus.QUEUED, LiveCheckStatus.RUNNING], capture=None)
    for record in MockRecord.objects.filter(watch_api=True).exclude(pk__in=pending.values("mock_record")):
        queue_live_check(record)
