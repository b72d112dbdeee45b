"""Snowplow tracker protocol: GET `/i?e=…` and POST `/com.snowplowanalytics.snowplow/tp2` with a
payload_data envelope. Self-describing events (`ue_pr` JSON or `ue_px` base64, standard or URL-safe) are
unwrapped: the event name is the schema's name, the properties its data, and `$schema` keeps the Iglu URI.
Contexts (`co`/`cx`) go to `$contexts`. Page views, page pings and structured events get fixed names."""

from __future__ import annotations

import re
from functools import lru_cache

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, b64decode, enforce_event_count, load_json, to_ms
from ._common import body_bytes

NAME = "snowplow"
_POST_PATH = re.compile(r"/com\.snowplowanalytics\.snowplow/tp2/?$")
_GET_PATH = re.compile(r"/i/?$")
_IGLU_NAME = re.compile(r"^iglu:[^/]+/([^/]+)/")


def matches(request: TrackingRequest) -> bool:
    if _POST_PATH.search(request.path):
        return True
    query = request.query
    return bool(_GET_PATH.search(request.path)) and "e" in query and ("tv" in query or "aid" in query or "p" in query)


def _json_field(payload: dict, plain: str, encoded: str, limits: Limits):
    text = payload.get(plain)
    if text:
        if text.__class__ is not str:
            raise DecodeError(f"Snowplow {plain} is not a string")
        return load_json(text, limits)
    text = payload.get(encoded)
    if text:
        if text.__class__ is not str:
            raise DecodeError(f"Snowplow {encoded} is not a string")
        return load_json(b64decode(text, limits), limits)
    return None


@lru_cache(maxsize=4096)
def _event_name(schema: str) -> str:
    match = _IGLU_NAME.match(schema)
    return match.group(1) if match else schema


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _event(payload: dict, limits: Limits) -> CanonicalEvent:
    kind = as_str(payload.get("e"))
    properties: dict = {}
    if kind == "ue":
        envelope = _json_field(payload, "ue_pr", "ue_px", limits)
        inner = envelope.get("data") if envelope.__class__ is dict else None
        schema = inner.get("schema") if inner.__class__ is dict else None
        if schema.__class__ is not str:
            raise DecodeError("Snowplow self-describing event has no inner schema")
        name = _event_name(schema)
        data = inner.get("data")
        # The inner dict was parsed for this event alone: it is ours to extend, no copy needed.
        properties = data if data.__class__ is dict else {"data": data}
        properties["$schema"] = schema
    elif kind == "se":
        name = as_str(payload.get("se_ac")) or "structured_event"
        properties = {key: payload[field] for key, field in (
            ("category", "se_ca"), ("action", "se_ac"), ("label", "se_la"), ("property", "se_pr")) if field in payload}
        if "se_va" in payload:
            properties["value"] = _float(payload["se_va"])
    elif kind == "pv":
        name = "page_view"
        properties = {key: payload[field] for key, field in (("url", "url"), ("page_title", "page"),
                                                             ("referrer", "refr")) if field in payload}
    elif kind == "pp":
        name = "page_ping"
        properties = {key: payload[field] for key, field in (("url", "url"), ("page_title", "page")) if field in payload}
    elif isinstance(kind, str) and kind:
        name = kind
    else:
        raise DecodeError("Snowplow payload has no event type (e)")
    if "co" in payload or "cx" in payload:
        contexts = _json_field(payload, "co", "cx", limits)
        if contexts.__class__ is dict and contexts.get("data").__class__ is list:
            properties["$contexts"] = contexts["data"]
    get = payload.get
    return CanonicalEvent(name, properties, to_ms(get("dtm") or get("ttm") or get("stm")),
                          as_str(get("uid") or get("duid") or get("tnuid")), None, NAME, None, None, payload)


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    if request.method.upper() == "GET" or not request.body:
        payloads = [request.query]
    else:
        envelope = load_json(body_bytes(request, limits), limits)
        payloads = envelope.get("data") if isinstance(envelope, dict) else None
        if not isinstance(payloads, list):
            raise DecodeError("Snowplow POST body has no payload_data list")
    enforce_event_count(len(payloads), limits)
    events = []
    for index, payload in enumerate(payloads):
        if payload.__class__ is not dict:
            raise DecodeError(f"Snowplow payload {index} is not a JSON object")
        events.append(_event(payload, limits))
    return events
