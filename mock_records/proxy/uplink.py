"""The proxy's line to the platform: tracking events as ingestion batches and, at the end, the proxy report,
posted from a background thread (the proxy never waits for the platform) with a run token. A batch keeps
its id across retries, so a retry after a lost answer stores nothing twice. Standard library only: the
proxy process carries nothing it does not need."""

from __future__ import annotations

import gzip
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid


class Uplink:
    def __init__(self, platform: str, token: str, *, attempts: int = 5, timeout: float = 10.0):
        self.base = platform.rstrip("/")
        self.token = token
        self.attempts = attempts
        self.timeout = timeout
        self.queue: queue.Queue = queue.Queue()
        self.failed: list[tuple[str, dict, str]] = []
        self.thread = threading.Thread(target=self._work, name="trackreplay-uplink", daemon=True)
        self.thread.start()

    def send_events(self, events: list[dict]) -> None:
        self.queue.put(("/api/v1/ingest/events", {"batch_id": uuid.uuid4().hex, "events": events}))

    def send_report(self, report: dict) -> None:
        self.queue.put(("/api/v1/ingest/proxy-report", report))

    def send_recording(self, har: dict) -> None:
        """The recorded exchanges, to become a new mock record (gzipped: recordings are large)."""
        self.queue.put(("/api/v1/ingest/recording", har))

    def close(self, wait: float = 20.0) -> None:
        self.queue.put(None)
        self.thread.join(wait)

    def _post(self, path: str, payload: dict) -> None:
        data = json.dumps(payload).encode()
        if len(data) > 64 * 1024:
            data = gzip.compress(data, compresslevel=5)
        request = urllib.request.Request(self.base + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            answer.read()

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            path, payload = item
            for attempt in range(self.attempts):
                try:
                    self._post(path, payload)
                    break
                except urllib.error.HTTPError as exc:
                    if 400 <= exc.code < 500:  # refused for good: retrying the same bytes cannot help
                        self.failed.append((path, payload, f"HTTP {exc.code}: {exc.read()[:300]!r}"))
                        break
                    reason = f"HTTP {exc.code}"
                except (urllib.error.URLError, OSError) as exc:
                    reason = str(exc)
                time.sleep(min(0.5 * 2 ** attempt, 5))
            else:
                self.failed.append((path, payload, reason))
