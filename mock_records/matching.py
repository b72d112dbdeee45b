"""Request matching for replay, as a pure module (no Django, no mitmproxy): which recorded exchange answers
an incoming request.

A request's key is method, scheme, host, port and path, plus its parameters compared as data rather than
bytes: query parameters in any order, JSON bodies canonically (key order and whitespace do not matter),
form bodies by field, and a chosen set of headers; volatile fields named in the ignore lists (query, form,
JSON paths, headers) are left out. The index maps keys to the recorded exchanges, so a lookup is one hash
of the request and one dict access. Identical requests get the identical exchanges in recorded order; when
they run out, the last one is repeated (or the first again, with `repeat="cycle"`, or none with
`repeat="once"`). A miss comes with the closest recorded candidate and why it did not match."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from scenarios.paths import EACH, PathError, parse
from sdk_bridge.wire import find_header

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(slots=True)
class Request:
    method: str
    scheme: str
    host: str
    port: int
    path: str
    query: str = ""  # raw, without '?'
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str:
        return find_header(self.headers, name)


def request_of(exchange) -> Request:
    """The request side of a recorded exchange: a stored Exchange or har.ExchangeData (same field names)."""
    return Request(exchange.method, exchange.scheme, exchange.host, exchange.port, exchange.path, exchange.query,
                   [tuple(h) for h in exchange.request_headers], exchange.request_body)


@dataclass(slots=True)
class Recorded:
    """A recorded exchange as far as matching cares: its request and an id to answer with."""

    id: Any
    request: Request
    enabled: bool = True


@dataclass
class IgnoreRules:
    query: set[str] = field(default_factory=set)
    form: set[str] = field(default_factory=set)
    json: list[tuple] = field(default_factory=list)  # parsed JSON paths
    headers: set[str] = field(default_factory=set)  # lower case
    match_headers: list[str] = field(default_factory=list)  # headers that take part in matching (lower case)

    @classmethod
    def from_dict(cls, *documents: dict | None) -> IgnoreRules:
        """Merge ignore lists (the record's and the project's): {"query", "form", "json", "headers",
        "match_headers"}. A bad JSON path raises ValueError naming it."""
        rules = cls()
        for document in documents:
            if not document:
                continue
            rules.query |= set(document.get("query") or ())
            rules.form |= set(document.get("form") or ())
            rules.headers |= {h.lower() for h in document.get("headers") or ()}
            for header in document.get("match_headers") or ():
                if header.lower() not in rules.match_headers:
                    rules.match_headers.append(header.lower())
            for path in document.get("json") or ():
                try:
                    rules.json.append(parse(path.removeprefix("$.")))
                except PathError as exc:
                    raise ValueError(f"ignore.json: {exc}") from None
        return rules


def _drop_json_path(node, segments, position=0):
    if position == len(segments) - 1:
        last = segments[position]
        if last is EACH:
            return
        if node.__class__ is dict:
            node.pop(last, None)
        return
    segment = segments[position]
    if segment is EACH:
        if node.__class__ is list:
            for element in node:
                _drop_json_path(element, segments, position + 1)
    elif node.__class__ is dict and segment in node:
        _drop_json_path(node[segment], segments, position + 1)


def _body_key(request: Request, ignore: IgnoreRules):
    body = request.body
    if not body:
        return None
    if body[:2] == GZIP_MAGIC:
        return ("bytes", hashlib.blake2b(body, digest_size=16).digest())
    content_type = request.header("content-type").split(";")[0].strip().lower()
    head = body.lstrip()[:1]
    if "json" in content_type or head in (b"{", b"["):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            for segments in ignore.json:
                _drop_json_path(value, segments)
            return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    if content_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pass
        else:
            return ("form", tuple(sorted(f for f in fields if f[0] not in ignore.form)))
    return ("bytes", hashlib.blake2b(body, digest_size=16).digest())


def request_key(request: Request, ignore: IgnoreRules) -> tuple:
    query = tuple(sorted(item for item in parse_qsl(request.query, keep_blank_values=True)
                         if item[0] not in ignore.query))
    headers = tuple((name, request.header(name)) for name in ignore.match_headers if name not in ignore.headers)
    return (request.method.upper(), request.scheme.lower(), request.host.lower(), int(request.port), request.path,
            query, _body_key(request, ignore), headers)


@dataclass
class Miss:
    candidate: Any  # the closest recorded exchange's id, or None when nothing shares the host and path
    reasons: list[str]


_PARTS = ("method", "scheme", "host", "port", "path", "query", "body", "headers")


class Matcher:
    def __init__(self, exchanges: list[Recorded], ignore: IgnoreRules | None = None, *, repeat: str = "last"):
        if repeat not in ("last", "cycle", "once"):
            raise ValueError(f"repeat must be last, cycle or once, not {repeat!r}")
        self.ignore = ignore or IgnoreRules()
        self.repeat = repeat
        self.index: dict[tuple, list[Recorded]] = {}
        self.by_place: dict[tuple, list[tuple[tuple, Recorded]]] = {}
        for exchange in exchanges:
            if not exchange.enabled:
                continue
            key = request_key(exchange.request, self.ignore)
            self.index.setdefault(key, []).append(exchange)
            self.by_place.setdefault((key[2], key[4]), []).append((key, exchange))
        self.served: dict[tuple, int] = {}

    def match(self, request: Request) -> Recorded | None:
        key = request_key(request, self.ignore)
        candidates = self.index.get(key)
        if not candidates:
            return None
        served = self.served.get(key, 0)
        self.served[key] = served + 1
        if served < len(candidates):
            return candidates[served]
        if self.repeat == "last":
            return candidates[-1]
        if self.repeat == "cycle":
            return candidates[served % len(candidates)]
        return None

    def explain(self, request: Request) -> Miss:
        """The closest recorded request (same host and path first) and what differs."""
        key = request_key(request, self.ignore)
        pool = self.by_place.get((key[2], key[4]))
        if not pool:
            same_host = [(k, e) for (host, _), items in self.by_place.items() if host == key[2] for k, e in items]
            if not same_host:
                return Miss(None, [f"nothing was recorded for host {request.host}"])
            pool = same_host
        best = min(pool, key=lambda item: (sum(a != b for a, b in zip(item[0], key)), str(item[1].id)))
        recorded_key, exchange = best
        reasons = []
        for name, recorded, got in zip(_PARTS, recorded_key, key):
            if recorded == got:
                continue
            if name == "query":
                reasons.extend(_dict_differences("query parameter", dict(recorded), dict(got)))
            elif name == "body":
                reasons.append(_body_difference(recorded, got))
            elif name == "headers":
                reasons.extend(_dict_differences("header", dict(recorded), dict(got)))
            else:
                reasons.append(f"{name} differs: recorded {recorded!r}, got {got!r}")
        if not reasons and self.repeat == "once":
            reasons.append("every recorded answer to this request was already served (repeat=once)")
        return Miss(exchange.id, reasons)


def _dict_differences(label: str, recorded: dict, got: dict) -> list[str]:
    found = []
    for name in sorted(set(recorded) | set(got)):
        if name not in got:
            found.append(f"{label} {name} missing (recorded {recorded[name]!r})")
        elif name not in recorded:
            found.append(f"{label} {name}={got[name]!r} was not recorded")
        elif recorded[name] != got[name]:
            found.append(f"{label} {name} differs: recorded {recorded[name]!r}, got {got[name]!r}")
    return found


def _body_difference(recorded, got) -> str:
    if recorded is None or got is None:
        return "body: " + ("none recorded" if recorded is None else "none sent")
    if recorded[0] == got[0] == "json":
        old, new = orjson.loads(recorded[1]), orjson.loads(got[1])
        if old.__class__ is dict and new.__class__ is dict:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            return f"JSON body fields differ: {', '.join(changed[:5])}"
        return "JSON body differs"
    if recorded[0] == got[0] == "form":
        parts = _dict_differences("form field", dict(recorded[1]), dict(got[1]))
        return "; ".join(parts[:5]) or "form body differs"
    return f"body differs ({recorded[0]} recorded, {got[0]} sent)"
