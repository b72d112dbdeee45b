"""What happens when a task group fires: one queued run per enabled task."""

from __future__ import annotations

from django.db import transaction

from .models import Run, RunStatus, RunTrigger, TaskGroup


def enqueue_task_group(task_group_id: int, *, trigger: str = RunTrigger.SCHEDULE, user=None) -> list[Run]:
    group = TaskGroup.objects.filter(pk=task_group_id).first()
    if group is None or (trigger == RunTrigger.SCHEDULE and not group.enabled):
        return []  # deleted or paused after beat read it: nothing to do
    from .lifecycle import request_dispatch

    with transaction.atomic():
        runs = [
            Run.objects.create(project_id=group.project_id, task=task, task_group=group, trigger=trigger,
                               status=RunStatus.QUEUED, triggered_by=user)
            for task in group.tasks.filter(enabled=True).order_by("pk")
        ]
        request_dispatch(group.project_id)
        return runs
