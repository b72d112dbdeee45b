"""Files under MEDIA_ROOT written by a transaction that then rolls back are deleted again: a refused upload
stores nothing, files included (exchange bodies over TRACKREPLAY_INLINE_BODY_MAX are files).

Django has no rollback hook, so the block that writes files says so: `with atomic_files():` is
transaction.atomic that also owns the files save_file() creates inside it. A block that fails deletes the
files it created that no row references any more; a nested block that succeeds hands its files to the
enclosing one, which alone knows whether they were committed. The outermost transaction of a path that
writes files must therefore be an atomic_files block (import_har, store_recording)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

_frames: ContextVar[list | None] = ContextVar("atomic_files_frame", default=None)


@contextmanager
def atomic_files(using: str | None = None):
    parent = _frames.get()
    created: list[tuple] = []
    token = _frames.set(created)
    try:
        with transaction.atomic(using=using):
            yield
    except BaseException:
        _frames.reset(token)
        _discard(created)
        raise
    _frames.reset(token)
    if parent is not None:
        parent.extend(created)


def _discard(created: list[tuple]) -> None:
    # After the rollback the database shows what is still committed (or still pending in an enclosing
    # transaction): a content-addressed file another row uses stays.
    for storage, name, referenced in created:
        try:
            if not referenced(name):
                storage.delete(name)
        except Exception:  # never hide the error that rolled the transaction back
            pass


def save_file(storage, name: str, content, referenced: Callable[[str], bool]) -> str:
    """storage.save, remembered by the enclosing atomic_files block (if any) so a rollback deletes the file.
    `referenced(name)` tells whether a row still points at the file after the rollback."""
    saved = storage.save(name, content)
    frame = _frames.get()
    if frame is not None:
        frame.append((storage, saved, referenced))
    return saved
