"""A task only the at-least-once tests load into their workers (celery worker --include tests.worker_tasks):
it notes each attempt, and its first attempt waits long enough to be killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.worker_tasks.slow_once", ignore_result=True, time_limit=300)
def slow_once(folder: str) -> None:
    folder_path = Path(folder)
    attempts = folder_path / "attempts"
    with attempts.open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    if len(attempts.read_text().split()) == 1:
        time.sleep(120)  # the test kills this attempt
    (folder_path / "done").write_text(str(os.getpid()))
