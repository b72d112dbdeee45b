"""Which browser, proxy, worker and platform processes exist now (by reading /proc): tests compare before and
after, and the whole session checks that it leaves none behind."""

from __future__ import annotations

import os

MARKERS = (b"mitmdump", b"chromium", b"chrome-headless", b"playwright/driver/node")
# Long-running commands of our own, recognised by their arguments: Celery workers and beat, gunicorn, and the
# trackreplay commands that stay up (up, agent, proxy).
COMMANDS = ({b"celery", b"worker"}, {b"celery", b"beat"}, {b"gunicorn"}, {b"trackreplay", b"up"},
            {b"trackreplay", b"agent"}, {b"trackreplay", b"proxy"})


def _ours(command: bytes) -> bool:
    if any(marker in command for marker in MARKERS):
        return True
    words = {arg.rsplit(b"/", 1)[-1] for arg in command.split(b"\0") if arg}
    return any(needed <= words for needed in COMMANDS)


def _of_this_session(pid: str) -> bool:
    """Started by this test session: it inherited the session's queue prefix (tests/isolation.py), which
    tells the session's processes from a developer's platform or another session running alongside."""
    marker = f"TRACKREPLAY_QUEUE_PREFIX={os.environ.get('TRACKREPLAY_QUEUE_PREFIX', '')}".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return any(entry.startswith(marker) for entry in fh.read().split(b"\0"))
    except OSError:
        return False


def long_running_pids() -> set[int]:
    """Browser, proxy, worker and platform processes this test session started that are still running."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                command = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and _ours(command) and _of_this_session(entry):
            found.add(int(entry))
    return found


def describe(pids) -> str:
    lines = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ")[:200].decode(errors="replace")
            lines.append(f"{pid}: {command}")
        except OSError:
            pass
    return "\n".join(lines)


def command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
