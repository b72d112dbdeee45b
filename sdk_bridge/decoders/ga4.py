"""Google Analytics 4 gtag.js `/g/collect`: parameters shared by the batch in the URL, one event per body
line (gtag joins them with CRLF; lines are split on LF and trimmed, so LF-only bodies work too), or a single
event in the URL when the body is empty. `en` is the name, `ep.*` string and `epn.*` number parameters,
`up.*`/`upn.*` user properties, `pr1..prN` items (`id`, `nm`, ... separated by `~`)."""

from __future__ import annotations

import re

from ..events import CanonicalEvent
from ..limits import DecodeError, Limits
from ..wire import TrackingRequest, as_str, enforce_event_count, parse_form
from ._common import body_bytes

NAME = "ga4"
_ITEM = re.compile(r"^pr(\d{1,3})$")
_ITEM_KEYS = {
    "id": "item_id", "nm": "item_name", "br": "item_brand", "ca": "item_category", "c2": "item_category2",
    "c3": "item_category3", "c4": "item_category4", "c5": "item_category5", "pr": "price", "qt": "quantity",
    "va": "item_variant", "cp": "coupon", "ds": "discount", "ln": "item_list_name", "li": "item_list_id",
    "lp": "index", "af": "affiliation", "lo": "location_id", "cn": "creative_name", "cs": "creative_slot",
    "pi": "promotion_id", "pn": "promotion_name",
}
_NUMERIC_ITEM_KEYS = {"price", "quantity", "discount", "index"}
_PAGE_KEYS = {"dl": "page_location", "dt": "page_title", "dr": "page_referrer"}


def matches(request: TrackingRequest) -> bool:
    path = request.path
    if path.endswith("/g/collect"):
        return True
    return path.endswith("/collect") and request.query.get("v") == "2" and request.query.get("tid", "").startswith("G-")


def _number(text: str):
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _item(text: str) -> dict:
    item, custom_keys, custom_values = {}, {}, {}
    for part in text.split("~"):
        if len(part) < 2:
            continue
        key, value = part[:2], part[2:]
        if key[0] == "k" and key[1:].isdigit():
            custom_keys[key[1:]] = value
        elif key[0] == "v" and key[1:].isdigit():
            custom_values[key[1:]] = value
        else:
            name = _ITEM_KEYS.get(key, key)
            item[name] = _number(value) if name in _NUMERIC_ITEM_KEYS else value
    for index, key in custom_keys.items():
        item[key] = custom_values.get(index)
    return item


def _event(fields: dict[str, str], raw: str) -> CanonicalEvent | None:
    name = fields.get("en")
    if not name:
        return None
    properties, user_properties, items = {}, {}, []
    for key, value in fields.items():
        if key.startswith("ep."):
            properties[key[3:]] = value
        elif key.startswith("epn."):
            properties[key[4:]] = _number(value)
        elif key.startswith("up."):
            user_properties[key[3:]] = value
        elif key.startswith("upn."):
            user_properties[key[4:]] = _number(value)
        else:
            match = _ITEM.match(key)
            if match:
                items.append((int(match.group(1)), _item(value)))
    for key, name_ in _PAGE_KEYS.items():
        if key in fields:
            properties.setdefault(name_, fields[key])
    if items:
        properties["items"] = [item for _, item in sorted(items, key=lambda pair: pair[0])]
    if user_properties:
        properties["user_properties"] = user_properties
    if fields.get("uid"):
        properties.setdefault("user_id", fields["uid"])
    return CanonicalEvent(event=name, properties=properties, time=None, distinct_id=as_str(fields.get("cid")),
                          sdk=NAME, raw=raw)


def decode(request: TrackingRequest, limits: Limits, options: dict | None = None) -> list[CanonicalEvent]:
    shared = request.query
    body = body_bytes(request, limits)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"GA4 body is not valid UTF-8: {exc}") from None
    lines = [line.strip() for line in text.split("\n") if line.strip()] or [""]
    enforce_event_count(len(lines), limits)
    events = []
    for line in lines:
        fields = {**shared, **parse_form(line)} if line else dict(shared)
        event = _event(fields, line or request.url)
        if event is not None:
            events.append(event)
    if not events:
        raise DecodeError("GA4 request carries no event name (en)")
    return events
