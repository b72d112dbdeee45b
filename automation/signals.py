from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import TaskGroup


@receiver(post_save, sender=TaskGroup)
def keep_beat_schedule_in_step(sender, instance: TaskGroup, raw: bool = False, **kwargs) -> None:
    if not raw:
        instance.sync_schedule()


@receiver(post_delete, sender=TaskGroup)
def drop_beat_schedule(sender, instance: TaskGroup, **kwargs) -> None:
    if instance.periodic_task_id:
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(pk=instance.periodic_task_id).delete()
