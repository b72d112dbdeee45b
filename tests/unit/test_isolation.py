"""The session's own guards (tests/isolation.py, tests/process_audit.py) see what they are meant to see: a
message this session sends into a queue that is not its own, and a worker-like process it leaves running."""

import signal
import subprocess
import sys
import time
import uuid

from tests import isolation
from tests.process_audit import long_running_pids


def test_a_message_sent_into_a_queue_not_the_sessions_is_reported_and_taken_back():
    from trackreplay.celery import app

    queue = f"not-the-sessions-{uuid.uuid4().hex[:8]}"
    app.send_task("trackreplay.ping", queue=queue)
    found = isolation.developer_queues()
    assert [line for line in found if queue in line and "trackreplay.ping" in line], found
    assert not [line for line in isolation.developer_queues() if queue in line]  # taken back at once


def test_a_message_in_the_sessions_own_queue_is_not_reported():
    from trackreplay.celery import app

    queue = f"{isolation.PREFIX}own-{uuid.uuid4().hex[:8]}"
    app.send_task("trackreplay.ping", queue=queue)
    assert not [line for line in isolation.developer_queues() if queue in line]


def test_a_worker_left_running_is_seen_and_one_that_ended_is_not():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "celery", "worker"])
    try:
        deadline = time.monotonic() + 10
        while process.pid not in long_running_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.pid in long_running_pids()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.pid not in long_running_pids()
