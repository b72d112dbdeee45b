"""A JSON decoder configured per endpoint rule, for in-house SDKs: dotted paths to the event list, and
within each event to the name, properties, time and distinct id.

options: {"events": "data.list" (or "" for the body itself), "name": "event", "properties": "props",
          "time": "ts", "distinct_id": "user.id"}"""

from __future__ import annotations

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, load_json, to_ms
from ._common import body_bytes

NAME = "generic"
_MISSING = object()


def matches(request: TrackingRequest) -> bool:
    return False  # only ever chosen by an endpoint rule


def _get(value, path: str):
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    options = options or {}
    name_path = options.get("name", "event")
    value = _get(load_json(body_bytes(request, limits), limits), options.get("events", ""))
    if value is _MISSING:
        raise DecodeError(f"generic decoder: no value at events path {options.get('events')!r}")
    items = value if isinstance(value, list) else [value]
    enforce_event_count(len(items), limits)
    events = []
    for index, item in enumerate(items):
        name = _get(item, name_path)
        if not isinstance(name, str) or not name:
            raise DecodeError(f"generic decoder: event {index} has no string at name path {name_path!r}")
        properties = _get(item, options.get("properties", "properties"))
        time = _get(item, options.get("time", "time"))
        distinct = _get(item, options.get("distinct_id", "distinct_id"))
        events.append(CanonicalEvent(
            event=name,
            properties=properties if isinstance(properties, dict) else {},
            time=None if time is _MISSING else to_ms(time),
            distinct_id=None if distinct is _MISSING else as_str(distinct),
            sdk=NAME, raw=item,
        ))
    return events
