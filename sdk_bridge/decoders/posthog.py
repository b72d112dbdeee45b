"""PostHog: `/e`, `/i/v0/e`, `/batch`, `/capture`, `/track`; a single event, a list, or
`{"api_key", "batch": [...]}`; plain JSON, gzip (detected from the bytes, whatever `compression=` says),
or base64 in a `data=` form field."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, to_ms
from ._common import json_body_or_data_field, peek

NAME = "posthog"
_PATH = re.compile(r"/(e|i/v0/e|batch|capture)/?$")
_TRACK = re.compile(r"/track/?$")  # shared with Mixpanel: only PostHog's JSON body marks it as PostHog's


def matches(request: TrackingRequest) -> bool:
    if "posthog" in request.host:
        return True
    head = peek(request)
    json_marker = b'"api_key"' in head or b'"$lib"' in head
    if _TRACK.search(request.path):
        return json_marker
    if not _PATH.search(request.path):
        return False
    return json_marker or b'"token"' in head or head.startswith(b"data=") or "compression" in request.query


def _payload(request: TrackingRequest, limits: Limits):
    if request.query.get("compression") == "lz64":
        raise DecodeError("PostHog lz64 compression is not supported; configure the SDK for gzip or base64")
    return json_body_or_data_field(request, limits, "PostHog")


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    value = _payload(request, limits)
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        items = value["batch"]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    enforce_event_count(len(items), limits)
    events = []
    append = events.append
    for item in items:
        name = item.get("event") if item.__class__ is dict else None
        if name.__class__ is not str:
            raise DecodeError(f"PostHog item {len(events)} has no event name")
        properties = item.get("properties")
        if properties.__class__ is not dict:
            properties = {}
        user = item.get("distinct_id") or properties.get("distinct_id")
        append(CanonicalEvent(
            name, properties, to_ms(item.get("timestamp") or properties.get("$time")),
            as_str(user), None, NAME, None, None, item,
        ))
    return events
