"""Answering what people ask of this agent's devices from the console: an HTTPS-interception check or a
screenshot. The platform cannot call the agent, so each heartbeat answer lists the open requests,
`"requests": [{"id": 7, "device": 3, "kind": "https_check" | "screenshot"}]`, until they are answered
(automation/device_requests.py). The answers:

    POST /api/v1/agent/devices/{device}/https-check      {"request": id, "ok": bool, "detail": str}
    PUT  /api/v1/agent/devices/{device}/screenshot?request=id     (the PNG)
    POST /api/v1/agent/devices/{device}/request-failed   {"request": id, "error": str}   (could not do it)

The heartbeat thread must never wait on a phone (a check loads a page through the proxy, and heartbeats
late by that long would cost running runs their leases), so each device's requests are worked off by a
thread of that device, one after another: two checks never change one phone's proxy at once, while other
devices answer in parallel. The device's driver comes from `agent.driver_for(device_id)` (a started
driver, or None when the agent does not hold the device now) and stays the agent's: it is not closed here.
A check is `agent.https_check(device_id) -> (ok, detail)`.

A request is taken once: listed again while it is being answered, it is skipped; answered, it is forgotten
once the platform stops listing it. An answer the platform did not receive (unreachable, 5xx) is made again
at a later heartbeat; one it refused (the request timed out: 409) is not."""

from __future__ import annotations

import logging
import tempfile
import threading
import weakref
from collections import deque
from pathlib import Path

from .client import PlatformError
from .outbox import Refused

log = logging.getLogger("trackreplay.agent.requests")
ERROR_MAX = 2000  # the platform keeps this much of a reason


class CannotAnswer(Exception):
    """The agent cannot do what a request asks (the message says why, for the person who asked)."""


def handle_requests(agent, answer: dict) -> None:
    """Start answering the requests of a heartbeat answer that are not already taken; returns at once."""
    _desk(agent).take(answer.get("requests") or [])


def wait_idle(agent, timeout: float) -> bool:
    """Wait until every request taken so far is answered (or given up); False if the timeout came first."""
    return _desk(agent).wait_idle(timeout)


_desks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_desks_lock = threading.Lock()


def _desk(agent) -> "Desk":
    with _desks_lock:
        desk = _desks.get(agent)
        if desk is None:
            desk = _desks[agent] = Desk(agent)
        return desk


class Desk:
    """One agent's requests: who is answering what, per device."""

    def __init__(self, agent):
        self.agent = agent
        self.changed = threading.Condition()
        self.queues: dict[int, deque] = {}  # device id -> requests waiting; present while its thread runs
        self.taken: set[int] = set()  # request ids queued, being answered, or answered and still listed
        self.current: dict[int, int] = {}  # device id -> the request its thread is answering

    def take(self, requests: list) -> None:
        listed = set()
        with self.changed:
            for item in requests:
                if not _well_formed(item):
                    log.warning("the heartbeat answer lists a request that is not {id, device, kind} with whole "
                                "numbers for id and device; it cannot be answered: %r", item)
                    continue
                listed.add(item["id"])
                if item["id"] in self.taken:
                    continue
                self.taken.add(item["id"])
                queue = self.queues.get(item["device"])
                if queue is None:
                    queue = self.queues[item["device"]] = deque()
                    threading.Thread(target=self._work, args=(item["device"],), daemon=True,
                                     name=f"trackreplay-device-{item['device']}").start()
                queue.append(item)
            # Answered requests the platform no longer lists are done with; those still in hand stay taken.
            in_hand = {item["id"] for queue in self.queues.values() for item in queue}
            self.taken &= listed | in_hand | set(self.current.values())

    def _work(self, device_id: int) -> None:
        while True:
            with self.changed:
                queue = self.queues[device_id]
                if not queue or self.agent.stopping.is_set():
                    del self.queues[device_id]
                    self.changed.notify_all()
                    return
                item = queue.popleft()
                self.current[device_id] = item["id"]
            delivered = self._answer(item)
            with self.changed:
                del self.current[device_id]
                if not delivered:
                    self.taken.discard(item["id"])  # offered again by a later heartbeat: answered again then

    def wait_idle(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: not self.queues, timeout)

    # -- one request -------------------------------------------------------------------------------------------
    def _answer(self, item: dict) -> bool:
        """Do what the request asks and send the answer; False when the platform did not receive it."""
        device, request_id, kind = item["device"], item["id"], item["kind"]
        base = f"/api/v1/agent/devices/{device}"
        try:
            if kind == "https_check":
                ok, detail = self.agent.https_check(device)
                if not isinstance(ok, bool) or not isinstance(detail, str):
                    raise TypeError(f"https_check({device}) gave {ok!r}, {detail!r} instead of (bool, text)")
                send = lambda: self.agent.client.post_json(f"{base}/https-check", {  # noqa: E731
                    "request": request_id, "ok": ok, "detail": detail[:ERROR_MAX]})
            elif kind == "screenshot":
                png = self._screenshot(device)
                send = lambda: self.agent.client.request(  # noqa: E731
                    "PUT", f"{base}/screenshot?request={request_id}", png, "image/png")
            else:
                raise CannotAnswer(f"this agent does not know how to answer a {kind!r} request (is it older than "
                                   f"the platform?)")
        except Exception as exc:  # whatever broke, the person who asked reads why instead of waiting
            log.warning("device %s: the %s request %s could not be done: %s", device, kind, request_id, exc)
            reason = str(exc) if isinstance(exc, CannotAnswer) else f"{type(exc).__name__}: {exc}"
            send = lambda: self.agent.client.post_json(f"{base}/request-failed", {  # noqa: E731
                "request": request_id, "error": reason[:ERROR_MAX]})
        try:
            send()
        except Refused as exc:
            log.warning("device %s: the platform refused the answer to its %s request %s: %s", device, kind,
                        request_id, exc)
        except PlatformError as exc:
            log.warning("device %s: the answer to its %s request %s did not reach the platform (%s); it is "
                        "answered again at a later heartbeat", device, kind, request_id, exc)
            return False
        return True

    def _screenshot(self, device: int) -> bytes:
        driver = self.agent.driver_for(device)
        if driver is None:
            raise CannotAnswer(f"this agent holds no device {device} now (unplugged, or not one of its devices)")
        with tempfile.TemporaryDirectory(prefix="trackreplay-screenshot-") as folder:
            path = Path(folder) / "screen.png"
            driver.screenshot(str(path))
            return path.read_bytes()


def _well_formed(item) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("id"), int) and isinstance(item.get("device"), int)
            and isinstance(item.get("kind"), str))
