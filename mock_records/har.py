"""HAR 1.2 in and out for mock records, as a pure module. Bodies are byte-exact both ways: text that is
valid UTF-8 is written as text, anything else as base64 (`"encoding": "base64"`, which HAR allows for
response content and which is read on request postData too, as mitmproxy and browsers' exporters do).
Reading checks every entry before anything is returned, so a caller imports all or nothing; errors name
the entry and the field."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

from sdk_bridge.wire import find_header
from trackreplay.values import string_problem

# Header names are JSON in the row (no column limit), but a name this long is no HTTP header any server takes.
MAX_HEADER_NAME = 256


MAX_DURATION_MS = 2**31 - 1  # what an exchange's duration column holds


class HarError(ValueError):
    """A HAR file that cannot be imported; the message names the entry and what is wrong."""


@dataclass
class ExchangeData:
    method: str
    scheme: str
    host: str
    port: int
    path: str
    query: str
    request_headers: list[list[str]]
    request_body: bytes
    status_code: int
    response_headers: list[list[str]]
    response_body: bytes
    started_at: datetime | None = None
    duration_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        default = {"http": 80, "https": 443}.get(self.scheme)
        netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}" + (f"?{self.query}" if self.query else "")


def _headers(items, where) -> list[list[str]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise HarError(f"{where} must be a list")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("value"), str):
            raise HarError(f"{where}[{index}] must be {{\"name\": str, \"value\": str}}")
        for key in ("name", "value"):
            problem = string_problem(item[key])
            if problem:
                raise HarError(f"{where}[{index}].{key} {problem}")
        if not item["name"] or len(item["name"]) > MAX_HEADER_NAME:
            raise HarError(f"{where}[{index}].name is {len(item['name'])} characters; a header name has 1 to "
                           f"{MAX_HEADER_NAME} (MAX_HEADER_NAME)")
        result.append([item["name"], item["value"]])
    return result


def _body(holder, where, *, text_key="text") -> bytes:
    if holder is None:
        return b""
    if not isinstance(holder, dict):
        raise HarError(f"{where} must be an object")
    text = holder.get(text_key)
    if text is None:
        return b""
    if not isinstance(text, str):
        raise HarError(f"{where}.{text_key} must be a string")
    encoding = holder.get("encoding") or holder.get("_encoding")
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HarError(f"{where}.{text_key} is not valid base64 ({exc})") from None
    if encoding not in (None, ""):
        raise HarError(f"{where}.encoding {encoding!r} is not supported (only base64)")
    # HAR text bodies are Unicode; lone surrogates stand for bytes that were not UTF-8 (surrogateescape).
    return text.encode("utf-8", "surrogateescape")


def _started(value, where) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise HarError(f"{where}.startedDateTime {value!r} is not an ISO 8601 time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)  # a time that is in year 0 or 10000 in UTC fits no column
    except OverflowError:
        raise HarError(f"{where}.startedDateTime {value!r} is outside the calendar in UTC") from None


def read_har(data: bytes, name: str = "HAR file", limits=None) -> list[ExchangeData]:
    """Every entry of a HAR file, checked. With limits (trackreplay.uploads.UploadLimits: an upload), nesting
    and the number of entries are bounded before any entry is read (UploadRefused naming the setting)."""
    if limits is not None:
        from trackreplay.uploads import UploadRefused, check_count, parse_json

        try:
            document = parse_json(data, limits, what=name)
        except UploadRefused as exc:
            if exc.limit is not None:
                raise
            raise HarError(f"{name}: not valid JSON, truncated or corrupt ({exc.reason})") from None
    else:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise HarError(f"{name}: not valid JSON, truncated or corrupt ({exc})") from None
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{name}: no log.entries list: not a HAR file")
    if limits is not None:
        check_count(len(entries), limits, f"entries in {name}")
    exchanges = []
    for index, entry in enumerate(entries):
        where = f"{name}: entry {index}"
        if not isinstance(entry, dict):
            raise HarError(f"{where} must be an object")
        request, response = entry.get("request"), entry.get("response")
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise HarError(f"{where} needs request and response objects")
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or not method:
            raise HarError(f"{where}: request.method is missing")
        for key, text in (("method", method), ("url", url)):
            problem = string_problem(text) if isinstance(text, str) else None
            if problem:
                raise HarError(f"{where}: request.{key} {problem}")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise HarError(f"{where}: request.url {url!r} is not an absolute http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise HarError(f"{where}: request.url {url!r} has a bad port") from None
        status = response.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 999:
            raise HarError(f"{where}: response.status {status!r} is not an HTTP status")
        content = response.get("content")
        body = _body(content, f"{where}: response.content")
        size = content.get("size") if isinstance(content, dict) else None
        if (isinstance(size, int) and size >= 0 and (content.get("encoding") == "base64")
                and size != len(body) and not content.get("compression")):
            raise HarError(f"{where}: response.content.size says {size} bytes, the base64 text holds {len(body)}")
        duration = entry.get("time")
        if isinstance(duration, (int, float)) and not duration < MAX_DURATION_MS:
            raise HarError(f"{where}: time {duration!r} is over {MAX_DURATION_MS} ms")
        for label, value, longest in (("request.method", method, 10), ("request.url host", parts.hostname, 255),
                                      ("request.url path", parts.path, 2000)):
            if len(value) > longest:
                raise HarError(f"{where}: {label} is {len(value)} characters, over {longest}")
        exchanges.append(ExchangeData(
            method=method.upper(), scheme=parts.scheme, host=parts.hostname.lower(), port=port,
            path=parts.path or "/", query=parts.query,
            request_headers=_headers(request.get("headers"), f"{where}: request.headers"),
            request_body=_body(request.get("postData"), f"{where}: request.postData"),
            status_code=status, response_headers=_headers(response.get("headers"), f"{where}: response.headers"),
            response_body=body, started_at=_started(entry.get("startedDateTime"), where),
            duration_ms=int(duration) if isinstance(duration, (int, float)) and duration >= 0 else None,
        ))
    return exchanges


def _content(data: bytes, mime: str) -> dict:
    try:
        return {"size": len(data), "mimeType": mime, "text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"size": len(data), "mimeType": mime, "text": base64.b64encode(data).decode("ascii"),
                "encoding": "base64"}


def write_har(exchanges: list[ExchangeData], creator: str = "trackreplay", version: str = "0") -> dict:
    entries = []
    for exchange in exchanges:
        request: dict[str, Any] = {
            "method": exchange.method, "url": exchange.url, "httpVersion": "HTTP/1.1",
            "cookies": [], "headers": [{"name": n, "value": v} for n, v in exchange.request_headers],
            "queryString": [{"name": n, "value": v} for n, v in _query_items(exchange.query)],
            "headersSize": -1, "bodySize": len(exchange.request_body),
        }
        if exchange.request_body:
            post = _content(exchange.request_body, find_header(exchange.request_headers, "content-type"))
            post.pop("size")
            request["postData"] = post
        entries.append({
            "startedDateTime": (exchange.started_at or datetime(1970, 1, 1, tzinfo=timezone.utc)).isoformat(),
            "time": exchange.duration_ms or 0,
            "request": request,
            "response": {"status": exchange.status_code, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": n, "value": v} for n, v in exchange.response_headers],
                         "content": _content(exchange.response_body, find_header(exchange.response_headers, "content-type")),
                         "redirectURL": "", "headersSize": -1, "bodySize": len(exchange.response_body)},
            "cache": {}, "timings": {"send": 0, "wait": exchange.duration_ms or 0, "receive": 0},
        })
    return {"log": {"version": "1.2", "creator": {"name": creator, "version": version}, "entries": entries}}


def _query_items(query: str):
    from urllib.parse import parse_qsl
    return parse_qsl(query, keep_blank_values=True)
