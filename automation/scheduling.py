"""What happens when a task group fires: one queued run per enabled task."""

from __future__ import annotations

from django.db import transaction

from .models import Run, RunStatus, RunTrigger, TaskGroup


def enqueue_task_group(task_group_id: int, *, trigger: str = RunTrigger.SCHEDULE, user=None,
                       fire_key: str = "") -> list[Run]:
    """fire_key names what fired the group (the scheduler message's id): the same key fires it once, so a
    message handed out again after its worker died starts no second set of runs."""
    from .lifecycle import request_dispatch

    with transaction.atomic():
        group = TaskGroup.objects.select_for_update().filter(pk=task_group_id).first()
        if group is None or (trigger == RunTrigger.SCHEDULE and not group.enabled):
            return []  # deleted or paused after beat read it: nothing to do
        if fire_key and (fired := list(group.runs.filter(fire_key=fire_key).order_by("pk"))):
            return fired
        runs = [
            Run.objects.create(project_id=group.project_id, task=task, task_group=group, trigger=trigger,
                               status=RunStatus.QUEUED, triggered_by=user, fire_key=fire_key)
            for task in group.tasks.filter(enabled=True).order_by("pk")
        ]
        request_dispatch(group.project_id)
        return runs
