"""Start the platform's processes together and stop them together (used by `trackreplay up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from device_agent.lifeline import tethered


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict | None = None  # added to this process's environment
    process: subprocess.Popen | None = None


def supervise(children: list[Child], *, grace_seconds: float = 10.0) -> int:
    """Run every child until Ctrl-C/SIGTERM or until one of them exits; then stop the rest.

    Each child gets its own process group so a terminal's Ctrl-C reaches us once. We then send SIGTERM to
    each child's leader only (the Celery worker stops its own pool warmly), and SIGKILL the whole group of
    any child still running after grace_seconds.
    """
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        for child in children:
            env = {**os.environ, **child.env} if child.env else None
            # Tethered: killed outright, `up` still takes its web, worker, beat, shop and agent with it.
            argv, preexec = tethered(child.argv)
            child.process = subprocess.Popen(argv, start_new_session=True, env=env, preexec_fn=preexec)
            print(f"[trackreplay] started {child.name} (pid {child.process.pid})", flush=True)
        while not stopping:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    print(f"[trackreplay] {child.name} exited with {code}; stopping the others", flush=True)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.process and child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + grace_seconds
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            print(f"[trackreplay] stopped {child.name}", flush=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


def platform_children(host: str, port: int, *, concurrency: int = 2) -> list[Child]:
    python = sys.executable
    from .celery import Queue, queue_name  # the names carry TRACKREPLAY_QUEUE_PREFIX

    queues = ",".join(queue_name(q) for q in Queue)
    return [
        Child("web", [python, "-m", "django", "runserver", f"{host}:{port}", "--noreload",
                      "--settings", os.environ.get("DJANGO_SETTINGS_MODULE", "trackreplay.settings")]),
        Child("worker", [python, "-m", "celery", "-A", "trackreplay", "worker", "-Q", queues,
                         "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-mingle",
                         "--without-gossip"]),
        Child("beat", [python, "-m", "celery", "-A", "trackreplay", "beat", "--loglevel", "INFO",
                       "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]),
    ]
