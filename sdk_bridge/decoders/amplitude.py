"""Amplitude: HTTP V2 `/2/httpapi` and `/batch` (`{"api_key", "events": [...]}`), and the legacy form
upload (`client=<api key>&e=<JSON array>`) used by older mobile and JS SDKs."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, load_json, to_ms
from ._common import body_bytes, params, peek

NAME = "amplitude"
_PATH = re.compile(r"/(2/httpapi|batch)/?$")


def matches(request: TrackingRequest) -> bool:
    if "amplitude" in request.host:
        return True
    head = peek(request)
    if _PATH.search(request.path):
        return b'"events"' in head and b'"api_key"' in head
    return head.startswith((b"client=", b"v=2&client=", b"e=")) or (b"&e=" in head and b"client=" in head)


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    body = body_bytes(request, limits)
    if body.lstrip()[:1] == b"{":
        value = load_json(body, limits)
        items = value.get("events") if isinstance(value, dict) else None
        if not isinstance(items, list):
            raise DecodeError("Amplitude payload has no events list")
    else:
        encoded = params(request, body).get("e")
        if encoded is None:
            raise DecodeError("Amplitude upload has no e field")
        items = load_json(encoded.encode("utf-8"), limits)
        items = items if isinstance(items, list) else [items]
    enforce_event_count(len(items), limits)
    events = []
    append = events.append
    for item in items:
        name = item.get("event_type") if item.__class__ is dict else None
        if name.__class__ is not str:
            raise DecodeError(f"Amplitude event {len(events)} has no event_type")
        properties = item.get("event_properties")
        user = item.get("user_id") or item.get("device_id")
        append(CanonicalEvent(
            name, properties if properties.__class__ is dict else {},
            to_ms(item.get("time") or item.get("timestamp")),
            as_str(user), None, NAME, None, None, item,
        ))
    return events
