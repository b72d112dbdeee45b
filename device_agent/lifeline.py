"""Child processes that die with their parent. The kernel's parent-death signal (PR_SET_PDEATHSIG) is set in
the child before it runs its program: through util-linux's `setpriv --pdeathsig` where it exists (every
Debian), so no Python runs between fork and exec in a process with threads; with a preexec function
otherwise. Survives exec; cleared by nothing we run. Linux only: elsewhere the parents' own signal handling
still stops their children."""

from __future__ import annotations

import ctypes
import shutil
import signal

_SETPRIV = shutil.which("setpriv")
try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux
    _LIBC = None


def tethered(argv: list[str], sig: signal.Signals = signal.SIGTERM) -> tuple[list[str], object]:
    """(argv, preexec_fn) for subprocess.Popen so that the child gets `sig` when this process dies."""
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", sig.name.removeprefix("SIG"), "--", *argv], None
    if _LIBC is None:
        return list(argv), None

    def preexec() -> None:
        _LIBC.prctl(1, int(sig))  # PR_SET_PDEATHSIG

    return list(argv), preexec


def tether_this_process(sig: signal.Signals = signal.SIGKILL) -> None:
    """For a process that is itself a child (a worker forked by Celery): die when the parent does."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(sig))
