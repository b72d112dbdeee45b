"""Segment and RudderStack (same wire shape): analytics.js `/v1/t|p|i|a|g|s` single messages and `/v1/b`,
mobile and server `/v1/b` and `/v1/batch` with `{"batch": [...]}`, gzipped `/v1/import`.

RudderStack's SDKs are forks that send the very same bytes (its Python SDK even names itself
analytics-python), so events are labelled rudderstack only when the host is a RudderStack data plane,
the library name says so, or an endpoint rule sets options {"sdk": "rudderstack"}."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, load_json, text_to_ms, to_ms
from ._common import body_bytes, peek

NAME = "segment"
RUDDERSTACK = "rudderstack"
_PATH = re.compile(r"/v1/(t|p|i|a|g|s|b|batch|import|track|page|identify|alias|group|screen)/?$")
_SHORT = {"t": "track", "p": "page", "i": "identify", "a": "alias", "g": "group", "s": "screen",
          "track": "track", "page": "page", "identify": "identify", "alias": "alias", "group": "group",
          "screen": "screen"}


def matches(request: TrackingRequest) -> bool:
    host = request.host
    if "segment.io" in host or "segment.com" in host or "rudder" in host:
        return True
    if not _PATH.search(request.path):
        return False
    head = peek(request)
    return b'"type"' in head or b'"batch"' in head or b'"event"' in head


def _library_says_rudder(message: dict) -> bool:
    context = message.get("context")
    library = context.get("library") if context.__class__ is dict else None
    return library.__class__ is dict and "rudder" in str(library.get("name", "")).lower()


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    body = body_bytes(request, limits)
    value = load_json(body, limits)
    match = _PATH.search(request.path)
    default_type = _SHORT.get(match.group(1)) if match else None
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        messages = value["batch"]
    elif isinstance(value, list):
        messages = value
    elif isinstance(value, dict):
        messages = [value]
    else:
        raise DecodeError("Segment payload is neither a message nor a batch")
    enforce_event_count(len(messages), limits)
    forced_sdk = (options or {}).get("sdk") or (RUDDERSTACK if "rudder" in request.host else None)
    if forced_sdk is None and b"rudder" not in body.lower():
        forced_sdk = NAME  # no message can name a RudderStack library: skip asking each one
    events = []
    append = events.append
    for index, message in enumerate(messages):
        if message.__class__ is not dict:
            raise DecodeError(f"Segment message {index} is not a JSON object")
        get = message.get
        kind = get("type") or default_type
        if kind == "track":
            name = get("event")
            properties = get("properties")
        elif kind in ("page", "screen"):
            name = kind
            properties = dict(get("properties") or {})
            if get("name") is not None:
                properties.setdefault("name", message["name"])
        elif kind in ("identify", "group"):
            name, properties = kind, get("traits")
        elif kind == "alias":
            name, properties = kind, {"previousId": get("previousId")}
        else:
            raise DecodeError(f"Segment message {index} has an unknown type {kind!r}")
        if name.__class__ is not str or not name:
            raise DecodeError(f"Segment track message {index} has no event name")
        stamp = get("timestamp") or get("originalTimestamp") or get("sentAt")
        user = get("userId") or get("anonymousId")
        append(CanonicalEvent(
            name,
            properties if properties.__class__ is dict else {},
            text_to_ms(stamp) if stamp.__class__ is str else to_ms(stamp),
            user if user.__class__ is str else as_str(user),
            None,
            forced_sdk or (RUDDERSTACK if _library_says_rudder(message) else NAME),
            None,
            None,
            message,
        ))
    return events
