"""Celery tasks of the automation app: thin wrappers that take ids and call plain functions."""

from __future__ import annotations

import logging

from celery import shared_task

from .scheduling import enqueue_task_group

log = logging.getLogger(__name__)


@shared_task(name="automation.tasks.run_task_group", ignore_result=True, expires=3600)
def run_task_group(task_group_id: int) -> None:
    runs = enqueue_task_group(task_group_id)
    log.info("task group %s fired: %d runs queued", task_group_id, len(runs))
