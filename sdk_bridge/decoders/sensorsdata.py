"""Sensors Data (神策): Android/iOS `data_list` (base64 of a gzipped JSON array, gzip=1, or plain with
gzip=0), JS `data=` base64 of JSON (image GET, ajax POST, beacon) with `ext=crc=…`, batch `data_list`.
The gzip flag is not trusted: payloads are gunzipped when their bytes say so."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, b64decode, enforce_event_count, load_json, maybe_gunzip, to_ms
from ._common import body_bytes, params, peek

NAME = "sensorsdata"
_PATH = re.compile(r"/(sa|sa\.gif|sa\.php|sensors?)/?$", re.I)


def matches(request: TrackingRequest) -> bool:
    if "sensorsdata" in request.host or _PATH.search(request.path):
        return True
    query = request.query
    if "data_list" in query or ("data" in query and ("ext" in query or "crc" in query or "gzip" in query)):
        return True
    head = peek(request)
    return head.startswith((b"data_list=", b"crc=", b"gzip=")) or (head.startswith(b"data=") and b"gzip=" in head)


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    fields = params(request, body_bytes(request, limits))
    payload = fields.get("data_list") or fields.get("data")
    if not payload:
        raise DecodeError("Sensors Data request has no data_list or data field")
    value = load_json(maybe_gunzip(b64decode(payload, limits), limits), limits)
    items = value if isinstance(value, list) else [value]
    enforce_event_count(len(items), limits)
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise DecodeError(f"Sensors Data item {index} is not a JSON object")
        name = item.get("event") or item.get("type")
        if not isinstance(name, str) or not name:
            raise DecodeError(f"Sensors Data item {index} has neither event nor type")
        properties = item.get("properties")
        events.append(CanonicalEvent(
            event=name,
            properties=properties if isinstance(properties, dict) else {},
            time=to_ms(item.get("time")),
            distinct_id=as_str(item.get("distinct_id")),
            sdk=NAME,
            raw=item,
        ))
    return events
