"""Keep MockRecord.missing_interfaces current when exchanges or the project's required interfaces change."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Exchange, MockRecord, RequiredInterface, refresh_missing_interfaces


_deferred: ContextVar[bool] = ContextVar("missing_interfaces_deferred", default=False)


@contextmanager
def refresh_once(record: MockRecord):
    """Bulk work on a record's exchanges (an import): refresh once at the end, not once per exchange."""
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)
    refresh_missing_interfaces(record)


@receiver([post_save, post_delete], sender=Exchange)
def exchange_changed(sender, instance: Exchange, **kwargs):
    if _deferred.get():
        return
    record = MockRecord.objects.filter(pk=instance.mock_record_id).first()
    if record is not None:
        refresh_missing_interfaces(record)


@receiver([post_save, post_delete], sender=RequiredInterface)
def requirement_changed(sender, instance: RequiredInterface, **kwargs):
    for record in MockRecord.objects.filter(project_id=instance.project_id):
        refresh_missing_interfaces(record)


@receiver(post_save, sender=MockRecord)
def record_saved(sender, instance: MockRecord, created: bool, **kwargs):
    if created and not _deferred.get():
        refresh_missing_interfaces(instance)
