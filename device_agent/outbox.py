"""The agent's outbox: everything a run captures is written to a SQLite file first and uploaded from it in
order, so a platform outage (or an agent restart) loses nothing; uploads resume where they stopped.

Every item is an idempotent request (event batches carry an id derived from their place in the run's
events file; steps, screenshots, the recording and the report replace themselves), so sending one again
after a lost answer is harmless. A refusal that retrying cannot fix (4xx other than 408/429) is moved to
`failed` with the platform's answer instead of blocking the queue; anything else (no connection, 5xx) is
retried with backoff, keeping the order."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("trackreplay.agent.outbox")
MAX_SERVER_ERRORS = 20  # 5xx answers to one item before it is set aside (about three minutes of backoff)

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB,
    body_file TEXT,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    server_errors INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS failed (
    id INTEGER PRIMARY KEY, run INTEGER, method TEXT, path TEXT, status INTEGER, answer TEXT, failed_at REAL
);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    folder TEXT NOT NULL,
    events_offset INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    -- running: on the device; uploading: its end is queued; done: the platform has its end
    state TEXT NOT NULL DEFAULT 'running',
    started_at REAL NOT NULL
);
"""


class Refused(Exception):
    """The platform refused an item for good (the status and answer say why)."""

    def __init__(self, status: int, answer: str):
        super().__init__(f"HTTP {status}: {answer}")
        self.status, self.answer = status, answer


class Outbox:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._pid = None
        self._connection = None
        self._guard = None
        self._wake = threading.Event()
        with self._lock:
            self._db.executescript(SCHEMA)

    def _open(self) -> None:
        # One connection and lock per process: the agent's worker forks a process per device, and neither a
        # SQLite connection nor a lock some other thread held at the fork may cross it. WAL lets the runs'
        # processes write while the main process uploads.
        self._connection = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                           timeout=30)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._guard = threading.Lock()
        self._pid = os.getpid()

    @property
    def _lock(self) -> threading.Lock:
        if self._pid != os.getpid():
            self._open()
        return self._guard

    @property
    def _db(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._open()
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
                self._connection = None

    # -- putting ----------------------------------------------------------------------------------------------
    def put(self, run: int, method: str, path: str, *, json_body=None, body: bytes | None = None,
            body_file: str | None = None, content_type: str = "application/json") -> None:
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
        with self._lock:
            self._db.execute("INSERT INTO items (run, method, path, content_type, body, body_file, created_at) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", (run, method, path, content_type, body, body_file,
                                                              time.time()))
        self._wake.set()

    def put_events(self, run: int, path: str, lines: list[bytes], offset: int, new_offset: int) -> None:
        """A batch of event lines and the run's new read offset, in one transaction: after a restart the
        events file is read on from exactly where the last stored batch ended."""
        events = [json.loads(line) for line in lines]
        body = json.dumps({"batch_id": f"run-{run}-events-{offset}", "events": events}, ensure_ascii=False).encode()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO items (run, method, path, content_type, body, created_at) "
                                 "VALUES (?, 'POST', ?, 'application/json', ?, ?)", (run, path, body, time.time()))
                self._db.execute("UPDATE runs SET events_offset = ? WHERE run = ?", (new_offset, run))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._wake.set()

    # -- runs in progress ---------------------------------------------------------------------------------------
    def begin_run(self, run: int, folder: Path) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO runs (run, folder, started_at) VALUES (?, ?, ?)",
                             (run, str(folder), time.time()))

    def events_offset(self, run: int) -> int:
        with self._lock:
            row = self._db.execute("SELECT events_offset FROM runs WHERE run = ?", (run,)).fetchone()
        return row[0] if row else 0

    def end_run(self, run: int) -> None:
        """The device is done with the run; its last upload (finish) is queued."""
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'uploading' WHERE run = ? AND state = 'running'", (run,))

    def _done(self, run: int) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state = 'done' WHERE run = ?", (run,))

    def running(self) -> list[int]:
        """Runs the platform must still consider alive: on the device, or with uploads not yet done."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT run FROM runs WHERE state != 'done' ORDER BY run")]

    def last_step(self, run: int) -> int:
        with self._lock:
            row = self._db.execute("SELECT step FROM runs WHERE run = ?", (run,)).fetchone()
        return row[0] if row else 0

    def set_step(self, run: int, step: int) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET step = ? WHERE run = ?", (step, run))

    def forget_run(self, run: int) -> None:
        """A run the platform would not let this agent start: nothing of it to report."""
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE run = ?", (run,))

    def unfinished_runs(self) -> list[tuple[int, Path]]:
        with self._lock:
            rows = self._db.execute("SELECT run, folder FROM runs WHERE state = 'running' ORDER BY run").fetchall()
        return [(run, Path(folder)) for run, folder in rows]

    # -- sending ------------------------------------------------------------------------------------------------
    def pending(self, run: int | None = None) -> int:
        with self._lock:
            if run is None:
                return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM items WHERE run = ?", (run,)).fetchone()[0]

    def failures(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT run, method, path, status, answer FROM failed ORDER BY id").fetchall()
        return [{"run": r[0], "method": r[1], "path": r[2], "status": r[3], "answer": r[4]} for r in rows]

    def _next(self):
        with self._lock:
            return self._db.execute("SELECT id, run, method, path, content_type, body, body_file FROM items "
                                    "ORDER BY id LIMIT 1").fetchone()

    def send_one(self, send: Callable[[str, str, bytes, str], None]) -> bool:
        """Upload the oldest item; True when one was sent (or refused for good), False when empty.
        Transient failures raise (the item stays first in line)."""
        row = self._next()
        if row is None:
            return False
        item_id, run, method, path, content_type, body, body_file = row
        if body_file:
            try:
                body = Path(body_file).read_bytes()
            except OSError as exc:
                self._fail(item_id, run, method, path, 0, f"the file to upload is gone: {exc}")
                return True
        try:
            send(method, path, body or b"", content_type)
        except Refused as exc:
            log.error("the platform refused %s %s for run %s: %s", method, path, run, exc)
            self._fail(item_id, run, method, path, exc.status, exc.answer)
            if path.endswith("/finish"):
                self._done(run)
            return True
        except Exception as exc:
            status = getattr(exc, "status", None)
            with self._lock:
                self._db.execute("UPDATE items SET attempts = attempts + 1, server_errors = server_errors + ?, "
                                 "last_error = ? WHERE id = ?", (status is not None, str(exc)[:500], item_id))
                attempts = self._db.execute("SELECT server_errors FROM items WHERE id = ?", (item_id,)).fetchone()[0]
            if status is not None and attempts >= MAX_SERVER_ERRORS:
                # The platform answers, and keeps failing on this one item: set it aside (with its answer)
                # rather than hold back every upload behind it. An unreachable platform is waited for.
                log.error("the platform failed %s %s for run %s %d times; set aside: %s", method, path, run,
                          attempts, exc)
                self._fail(item_id, run, method, path, status, str(exc))
                if path.endswith("/finish"):
                    self._done(run)
                return True
            raise
        with self._lock:
            self._db.execute("DELETE FROM items WHERE id = ?", (item_id,))
        if path.endswith("/finish"):
            self._done(run)  # from now on the platform knows the run ended
        return True

    def _fail(self, item_id, run, method, path, status, answer) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO failed (run, method, path, status, answer, failed_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (run, method, path, status, answer[:2000], time.time()))
            self._db.execute("DELETE FROM items WHERE id = ?", (item_id,))
            self._db.execute("COMMIT")

    def drain(self, send, stop: threading.Event, *, max_backoff: float = 10.0) -> None:
        """Upload until stopped: the uploader thread's loop."""
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.send_one(send):
                    backoff = 0.5
                    continue
            except Exception as exc:
                log.warning("upload failed, retrying in %.1f s: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff)
                continue
            self._wake.wait(0.5)
            self._wake.clear()

    def flush(self, send, timeout: float) -> bool:
        """Try to empty the outbox within the timeout (at shutdown); True when empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self.send_one(send):
                    return True
            except Exception:
                time.sleep(0.5)
        return self.pending() == 0
