"""Work is at least once: a task whose worker dies mid-task (its pool process killed, or the whole worker
killed as when a machine is lost) is done again, on the configured broker (Redis, or the embedded filesystem
broker with device_agent/broker.py). Every task is acknowledged late, bounded in time below Redis's visibility
timeout, and idempotent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from trackreplay.celery import app

REDIS = bool(os.environ.get("REDIS_URL"))


def test_every_task_is_acknowledged_late_and_bounded_below_the_visibility_timeout():
    import tests.worker_tasks  # noqa: F401 - registered too, and held to the same rules

    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 4 * 3600)
    if not REDIS:
        visibility = 4 * 3600  # the rule holds for the Redis deployment whatever broker runs the tests
    periodic = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert len(ours) >= 6, ours
    for name in ours:
        task = app.tasks[name]
        assert task.acks_late, f"{name} is acknowledged before it has run"
        assert task.reject_on_worker_lost, f"{name} is dropped when its worker process dies"
        assert task.time_limit, f"{name} has no time limit"
        assert task.time_limit < visibility, f"{name} may run longer than Redis's visibility timeout"
        if task.expires is not None:  # only periodic tasks may expire: the next tick does their work
            assert name in periodic and periodic[name] < task.expires, f"{name} expires and is not periodic"


def test_the_agents_runs_are_acknowledged_late_and_bounded(tmp_path, monkeypatch):
    from automation import lifecycle
    from automation.models import MAX_TIME_CAP
    from device_agent.celery_app import make_app

    agent_app = make_app("filesystem://", {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}, None)
    assert agent_app.conf.task_acks_late and agent_app.conf.task_reject_on_worker_lost
    assert agent_app.conf.broker_transport == "device_agent.broker:Transport"
    # The limits a run message of the longest allowed run is actually sent with stay below the visibility
    # timeout of the Redis deployment (the message is captured at the broker's door, not sent).
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **options: sent.append(options))
    lifecycle.send_to_agent(1, 1, MAX_TIME_CAP)
    (options,) = sent
    assert options["soft_time_limit"] < options["time_limit"] < 4 * 3600
    if REDIS:
        assert options["time_limit"] < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]


class Worker:
    """A real Celery worker process of the platform, on a queue of its own, with the test task loaded."""

    def __init__(self, queue: str, log, *, pool: str, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "trackreplay", "worker", "-Q", queue, "--pool", pool,
             "--concurrency", "1", "--include", "tests.worker_tasks", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "--loglevel", "INFO"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_all(self) -> None:
        """Machine lost: the worker and its pool processes die at once, nothing is acknowledged or put back."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()
            except ProcessLookupError:
                pass


def _wait(check, timeout, what, log_path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n--- worker log ---\n{log_path.read_text()[-4000:]}")


def _attempts(folder):
    path = folder / "attempts"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


@pytest.fixture
def env():
    environment = dict(os.environ)
    if REDIS:
        # A Redis database of its own: the short visibility timeout below would otherwise hand out again
        # whatever another installation's workers hold in database 0.
        base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
        environment["REDIS_URL"] = f"{base}/13"
        environment["TRACKREPLAY_REDIS_VISIBILITY_TIMEOUT"] = "2"
    yield environment
    if REDIS:  # nothing of the test's is left in its database
        import redis

        client = redis.Redis.from_url(environment["REDIS_URL"])
        for key in client.scan_iter(match=f"{settings.TRACKREPLAY_QUEUE_PREFIX}*"):
            client.delete(key)


def _send(queue: str, folder, env: dict) -> None:
    # Sent by a process of its own, so that it uses the same broker settings as the workers.
    subprocess.run([sys.executable, "-c", "import sys; from trackreplay.celery import app; "
                    "app.send_task('tests.worker_tasks.slow_once', args=[sys.argv[1]], queue=sys.argv[2])",
                    str(folder), queue], env=env, check=True, timeout=60)


def test_a_task_whose_pool_process_is_killed_is_done_again(tmp_path, env):
    queue = f"{settings.TRACKREPLAY_QUEUE_PREFIX}alo-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = Worker(queue, log, pool="prefork", env=env)
        try:
            _send(queue, tmp_path, env)
            first = _wait(lambda: _attempts(tmp_path), 60, "the first attempt", log_path)[0]
            assert first != worker.process.pid  # the pool process, not the worker itself
            os.kill(first, signal.SIGKILL)
            _wait(lambda: (tmp_path / "done").exists(), 60, "the task to be done again", log_path)
        finally:
            worker.stop()
    attempts = _attempts(tmp_path)
    assert len(attempts) == 2 and attempts[1] != first
    assert "WorkerLostError" in log_path.read_text()


def test_a_task_whose_whole_worker_is_lost_is_done_by_the_next_worker(tmp_path, env):
    queue = f"{settings.TRACKREPLAY_QUEUE_PREFIX}alo-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        lost = Worker(queue, log, pool="solo", env=env)
        try:
            _send(queue, tmp_path, env)
            _wait(lambda: _attempts(tmp_path), 60, "the first attempt", log_path)
        finally:
            lost.kill_all()
        assert not (tmp_path / "done").exists()
        if REDIS:
            time.sleep(3)  # past the (shortened) visibility timeout
        successor = Worker(queue, log, pool="solo", env=env)
        try:
            _wait(lambda: (tmp_path / "done").exists(), 90, "the next worker to do the task", log_path)
        finally:
            successor.stop()
    assert len(_attempts(tmp_path)) == 2
