"""Every long-running command ends its children on SIGTERM and on SIGINT (Ctrl-C): `trackreplay proxy` its
mitmdump, `trackreplay up` its web server, worker and beat, `trackreplay agent` its Celery worker processes
(the other signal of `up` and `agent` is tested where they run whole: test_cli's demo walk, test_loop).
Each command is started for real, its whole process tree is read from /proc, the signal is sent, and every
process of the tree must be gone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from automation.models import AgentToken

from .. import factories as f

TRACKREPLAY = str(Path(sys.executable).with_name("trackreplay"))
SIGNALS = [signal.SIGTERM, signal.SIGINT]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != b"Z":
                tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _wait_for_tree(process, log_path, at_least: int, timeout: float = 90) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the command ended early:\n{log_path.read_text()[-3000:]}")
        tree = descendants(process.pid)
        if len(tree) >= at_least:
            time.sleep(1.0)  # let the last children finish starting
            return descendants(process.pid)
        time.sleep(0.3)
    pytest.fail(f"fewer than {at_least} child processes appeared:\n{log_path.read_text()[-3000:]}")


def _signal_and_check(process, tree: set[int], sig, log_path) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the command did not end on {sig.name}:\n{log_path.read_text()[-3000:]}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
        time.sleep(0.2)
    left = sorted(pid for pid in tree if _alive(pid))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"children outlived {sig.name}: {left}\n{log_path.read_text()[-3000:]}"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_proxy_ends_its_mitmdump(sig, tmp_path):
    log_path, port = tmp_path / "proxy.log", _free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([TRACKREPLAY, "proxy", "--port", str(port), "--confdir",
                                    str(tmp_path / "mitm"), "--mode", "record", "--out", str(tmp_path / "r.har")],
                                   stdout=log, stderr=subprocess.STDOUT)
        tree = _wait_for_tree(process, log_path, at_least=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # mitmdump is listening: fully started
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        _signal_and_check(process, tree | descendants(process.pid), sig, log_path)


# SIGINT (Ctrl-C) on `up --demo`, with all five children checked, is test_cli's walk of the demo.
@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=lambda s: s.name)
def test_up_ends_web_worker_and_beat(sig, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(TRACKREPLAY_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([TRACKREPLAY, "up", "--port", str(_free_port()), "--concurrency", "1"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        tree = _wait_for_tree(process, log_path, at_least=4)  # web, worker and its pool process, beat
        _signal_and_check(process, tree, sig, log_path)


# SIGTERM on an agent that is running a flow (its browser and proxy checked too) is tests/e2e/test_loop.py.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGINT], ids=lambda s: s.name)
def test_agent_ends_its_worker_processes(sig, tmp_path, live_server):
    agent = f.AgentFactory(project=f.ProjectFactory(), name="lab")
    env = {**os.environ, "TRACKREPLAY_AGENT_TOKEN": AgentToken.issue(agent=agent, name="t").token}
    log_path = tmp_path / "agent.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "trackreplay.cli", "agent", "--url", live_server.url,
                                    "--name", "lab", "--browsers", "1", "--state-dir", str(tmp_path / "state")],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        tree = _wait_for_tree(process, log_path, at_least=1)
        _signal_and_check(process, tree, sig, log_path)
