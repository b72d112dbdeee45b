"""Celery tasks of mock records: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

import logging

from celery import shared_task

from .live_check import check_against_capture, check_live
from .models import MockRecord

log = logging.getLogger(__name__)


@shared_task(name="mock_records.tasks.check_live", ignore_result=True, time_limit=1800)
def check_live_task(mock_record_id: int, capture_id: int | None = None) -> None:
    record = MockRecord.objects.filter(pk=mock_record_id).select_related("project").first()
    if record is None:
        return  # deleted since it was queued
    if capture_id is not None:
        capture = MockRecord.objects.filter(pk=capture_id, project_id=record.project_id).first()
        if capture is None:
            return
        found = check_against_capture(record, capture)
    else:
        found = check_live(record)
    log.info("live check of mock record %s: %d changes", mock_record_id, len(found))


@shared_task(name="mock_records.tasks.check_watched", ignore_result=True, time_limit=600)
def check_watched() -> None:
    """Daily (Celery beat): queue a live check for every mock record that watches its API."""
    for record_id in MockRecord.objects.filter(watch_api=True).values_list("pk", flat=True):
        check_live_task.delay(record_id)
