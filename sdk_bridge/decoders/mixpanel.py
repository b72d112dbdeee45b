"""Mixpanel: `/track`, `/import` (events), `/engage` and `/groups` (profile updates); `data=` as JSON or
base64 of JSON (form body or query), or a raw JSON body; single objects or arrays; gzip."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, to_ms
from ._common import json_body_or_data_field, peek

NAME = "mixpanel"
_PATH = re.compile(r"/(track|import|engage|groups)/?$")
_PROFILE_OPS = ("$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete")


def matches(request: TrackingRequest) -> bool:
    if "mixpanel" in request.host:
        return True
    if not _PATH.search(request.path):
        return False
    if "data" in request.query:
        return True
    head = peek(request)
    # A data= form field, or the raw JSON body of the HTTP /import and /track APIs.
    return head.startswith(b"data=") or b"&data=" in head or (
        head.lstrip()[:1] in (b"[", b"{") and b'"event"' in head and b'"properties"' in head)


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    value = json_body_or_data_field(request, limits, "Mixpanel")
    items = value if isinstance(value, list) else [value]
    enforce_event_count(len(items), limits)
    profile = bool(re.search(r"/(engage|groups)/?$", request.path))
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DecodeError(f"Mixpanel item {index} is not a JSON object")
        if profile or "event" not in item:
            operation = next((op for op in _PROFILE_OPS if op in item), None)
            if operation is None:
                raise DecodeError(f"Mixpanel item {index} has no event and no profile operation")
            value = item[operation]
            events.append(CanonicalEvent(
                event=operation,
                properties=value if isinstance(value, dict) else {"value": value},
                time=to_ms(item.get("$time")),
                distinct_id=as_str(item.get("$distinct_id") or item.get("$group_id")),
                sdk=NAME, raw=item,
            ))
            continue
        properties = item.get("properties")
        if properties.__class__ is not dict:
            properties = {}
        name = item.get("event")
        if name.__class__ is not str or not name:
            raise DecodeError(f"Mixpanel item {index} has no event name")
        user = properties.get("distinct_id")
        events.append(CanonicalEvent(
            name, properties, to_ms(properties.get("time")),
            as_str(user), None, NAME, None, None, item,
        ))
    return events
