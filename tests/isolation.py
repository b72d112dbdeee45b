"""Loaded before Django (pytest -p tests.isolation, see pyproject.toml): the test session's work never reaches
a developer's broker, and the session checks that it did not.

- Every queue the session uses carries a prefix of its own (TRACKREPLAY_QUEUE_PREFIX=test<pid>.), so no
  worker of the developer's installation can take the session's tasks, nor the session's workers theirs.
- On the embedded defaults the broker is a folder under the var directory; unless the caller named a var
  directory (CI does), the session gets a temporary one, removed at the end.
- At the end, the session's queues are emptied (Redis keys, broker files), and a message this session sent
  into any other queue (the developer's) fails the session, naming the queue and the task.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

PREFIX = os.environ.setdefault("TRACKREPLAY_QUEUE_PREFIX", f"test{os.getpid()}.")
_OWN_VAR_DIR = None
if not os.environ.get("TRACKREPLAY_VAR_DIR"):
    _OWN_VAR_DIR = tempfile.mkdtemp(prefix="trackreplay-tests-")
    os.environ["TRACKREPLAY_VAR_DIR"] = _OWN_VAR_DIR
# Under pytest-xdist (`make test` runs one worker per core) each worker inherits the controller's prefix and var
# directory: it gets its own below them, so workers share no queue, broker folder or proxy CA, and the process
# audit (tests/process_audit.py) of one worker does not count another's browsers and proxies as its own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER and not PREFIX.endswith(f"{_WORKER}."):
    PREFIX = f"{PREFIX}{_WORKER}."
    os.environ["TRACKREPLAY_QUEUE_PREFIX"] = PREFIX
    _worker_dir = Path(os.environ["TRACKREPLAY_VAR_DIR"]) / f"xdist-{_WORKER}"
    _worker_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TRACKREPLAY_VAR_DIR"] = str(_worker_dir)
# The folder a developer's `make run` uses for its broker, whatever this session uses.
DEVELOPER_BROKER = Path(__file__).resolve().parent.parent / "var" / "celery" / "broker"


def _redis():
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url)


def _ours(raw: bytes) -> str | None:
    """The task name of a broker message this very process sent (Celery stamps its origin), else None."""
    try:
        headers = json.loads(raw).get("headers") or {}
    except (ValueError, AttributeError):
        return None
    origin = str(headers.get("origin", ""))
    return str(headers.get("task")) if origin.startswith(f"gen{os.getpid()}@") else None


def developer_queues() -> list[str]:
    """Messages this session sent into queues that are not the session's own (Redis lists, or files in the
    developer's broker folder), as "queue: task"; they are removed as they are found. Only messages of this process count, so a developer's
    platform running alongside the tests does not trip the check."""
    found: list[str] = []
    client = _redis()
    if client is not None:
        for key in client.scan_iter(count=1000):
            name = key.decode(errors="replace")
            if name.startswith(PREFIX) or client.type(key) != b"list":
                continue
            for raw in client.lrange(key, 0, 999):
                if task := _ours(raw):
                    found.append(f"redis {name}: {task}")
                    client.lrem(key, 1, raw)  # reported, and taken back before any worker runs it
    # The developer's broker folder, and the session's own: a message in an unprefixed queue there would
    # reach any worker started on that folder.
    from django.conf import settings

    session_broker = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in") or DEVELOPER_BROKER)
    for folder in {DEVELOPER_BROKER, session_broker}:
        if not folder.is_dir():
            continue
        for entry in sorted(os.listdir(folder)):
            queue = entry.partition(".")[2].removesuffix(".msg")
            if entry.endswith(".msg") and not queue.startswith(PREFIX):
                try:
                    task = _ours((folder / entry).read_bytes())
                except OSError:
                    continue
                if task:
                    found.append(f"file {queue}: {task}")
                    (folder / entry).unlink(missing_ok=True)  # reported, and taken back
    return found


def remove_session_queues() -> None:
    client = _redis()
    if client is not None:
        for key in client.scan_iter(match=f"{PREFIX}*", count=1000):
            client.delete(key)
    if _OWN_VAR_DIR:
        shutil.rmtree(_OWN_VAR_DIR, ignore_errors=True)
        return
    from django.conf import settings

    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
    if folder.is_dir():
        for entry in os.listdir(folder):
            if entry.partition(".")[2].startswith(PREFIX):
                (folder / entry).unlink(missing_ok=True)


@pytest.hookimpl(trylast=True)  # after the test database (a file in the session's var dir) is torn down
def pytest_sessionfinish(session, exitstatus):
    stray = developer_queues()
    remove_session_queues()
    if stray:
        print("\nThe tests queued work into queues that are not the session's own:\n  " + "\n  ".join(stray))
        session.exitstatus = 1
