"""A tracking request as plain data, and the bounded primitives decoders build on: gunzip, base64, form
and JSON parsing that never crash on hostile input and raise DecodeError naming the limit they hit."""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from urllib.parse import parse_qsl, urlsplit

import orjson

from .limits import DecodeError, Limits

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class TrackingRequest:
    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    received_at: int | None = None  # ms since the epoch

    @cached_property
    def _parts(self):
        return urlsplit(self.url)

    @cached_property
    def host(self) -> str:
        return (self._parts.hostname or "").lower()

    @cached_property
    def path(self) -> str:
        return self._parts.path or "/"

    @cached_property
    def query(self) -> dict[str, str]:
        """Query parameters, last value wins (tracking SDKs never repeat a key)."""
        return dict(parse_qsl(self._parts.query, keep_blank_values=True))

    def header(self, name: str) -> str:
        return find_header(self.headers, name)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


def find_header(headers, name: str) -> str:
    """The first value of a header in a [(name, value), ...] list, by case-insensitive name; "" if absent."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return ""


def check_body(body: bytes, limits: Limits) -> None:
    if len(body) > limits.max_body_bytes:
        raise DecodeError(f"body of {len(body)} bytes is over max_body_bytes={limits.max_body_bytes}",
                          limit="max_body_bytes")


def gunzip(data: bytes, limits: Limits) -> bytes:
    """Decompress gzip (or zlib) data, stopping as soon as the output passes max_decompressed_bytes."""
    wbits = 16 + zlib.MAX_WBITS if data[:2] == GZIP_MAGIC else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limits.max_decompressed_bytes + 1)
    except zlib.error as exc:
        raise DecodeError(f"bad gzip data: {exc}") from None
    if len(out) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
        raise DecodeError(f"decompressed payload is over max_decompressed_bytes={limits.max_decompressed_bytes}",
                          limit="max_decompressed_bytes")
    if not inflater.eof:
        raise DecodeError("bad gzip data: truncated stream")
    return out


def maybe_gunzip(data: bytes, limits: Limits) -> bytes:
    return gunzip(data, limits) if data[:2] == GZIP_MAGIC else data


def b64decode(text: str | bytes, limits: Limits) -> bytes:
    """Standard or URL-safe base64, with or without padding, with whitespace and line breaks ignored."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise DecodeError("invalid base64: non-ASCII characters") from None
    compact = b"".join(text.split())
    if len(compact) * 3 // 4 > limits.max_decompressed_bytes:
        raise DecodeError(f"base64 payload is over max_decompressed_bytes={limits.max_decompressed_bytes}",
                          limit="max_decompressed_bytes")
    compact = compact.replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    if len(compact) % 4 == 1:
        raise DecodeError("invalid base64: truncated (length is 1 more than a multiple of 4)")
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"invalid base64: {exc}") from None


_NOT_SKELETON = bytes(range(256)).translate(None, b'[]{}"')  # every byte but brackets and quotes
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")
_STRING = re.compile(rb'"[^"]*"')


def json_depth(data: bytes, max_depth: int) -> int:
    """Nesting depth of valid JSON text, counted up to max_depth + 1, at C speed: drop escaped backslashes
    and quotes, keep only brackets and quotes, drop strings; then every `replace("[]", "")` pass strips
    exactly one level (replace does not rescan what it produced). Walking the parsed value instead visits
    every value of every event in Python and cost the decoders a third of their time."""
    if b"\\" in data:  # backslashes occur only inside strings: `\\` first, so `\\"` stays a closing quote
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(None, _NOT_SKELETON)
    # Two adjacent quotes are an empty string or the seam between two strings: dropping them keeps the
    # in-string / out-of-string alternation, and leaves only strings that held brackets for the regex.
    skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)
    skeleton = skeleton.translate(_ONE_BRACKET_KIND)
    depth = 0
    while skeleton and depth <= max_depth:
        skeleton = skeleton.replace(b"[]", b"")
        depth += 1
    return depth


def load_json(data: bytes | str, limits: Limits):
    """Parse untrusted JSON; nesting deeper than limits.max_depth is a DecodeError naming the limit."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            raise DecodeError(f"JSON nested deeper than max_depth={limits.max_depth}", limit="max_depth") from None
        raise DecodeError(f"invalid JSON: {exc}") from None
    if value.__class__ is dict or value.__class__ is list:
        # Depth d takes at least 2d characters, and at least d opening brackets (counted for short strings only).
        if len(data) > 2 * limits.max_depth and (
                data.__class__ is not str or data.count("{") + data.count("[") > limits.max_depth):
            check_json_depth(value, data, limits.max_depth)
    return value


def check_json_depth(value, text: bytes | str, max_depth: int) -> None:
    """Raise DecodeError when JSON (parsed as value from text) nests deeper than max_depth. Two ways, chosen
    by cost: the byte skeleton when the text has no escapes, else a walk of the parsed containers (escapes
    make the skeleton's string removal slow: JSON inside JSON, as Snowplow sends, is full of them)."""
    if text.__class__ is str:
        text = text.encode("utf-8", "surrogatepass")
    if b"\\" in text:
        level = [value]
        depth = 0
        while level and depth <= max_depth:
            level = [child for node in level for child in (node.values() if node.__class__ is dict else node)
                     if child.__class__ is dict or child.__class__ is list]
            depth += 1
    else:
        depth = json_depth(text, max_depth)
    if depth > max_depth:
        raise DecodeError(f"JSON nested deeper than max_depth={max_depth}", limit="max_depth")


def parse_form(data: bytes | str) -> dict[str, str]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"form body is not valid UTF-8: {exc}") from None
    try:
        return dict(parse_qsl(data, keep_blank_values=True, strict_parsing=False, max_num_fields=100_000))
    except ValueError as exc:
        raise DecodeError(f"bad form body: {exc}") from None


def looks_like_form(body: bytes) -> bool:
    head = body[:64].lstrip()
    return bool(head) and head[:1] not in (b"{", b"[") and b"=" in head


@lru_cache(maxsize=8192)
def text_to_ms(text: str) -> int | None:
    text = text.strip()
    if "-" in text[1:] or "T" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        ms = int(moment.timestamp() * 1000)
        return ms if 0 <= ms <= MAX_EPOCH_MS else None
    try:
        return to_ms(float(text))
    except ValueError:
        return None


def to_ms(value) -> int | None:
    """Epoch seconds, milliseconds or microseconds (numbers or digit strings), or ISO 8601 text, to ms."""
    kind = value.__class__
    if kind is str:
        if not value.isdigit():
            return text_to_ms(value)
        value, kind = int(value), int
    if kind is int:
        if 100_000_000_000 <= value <= 100_000_000_000_000:  # milliseconds, the common case
            return value
    elif kind is not float or value != value or value in _INFINITIES:  # bool, None, NaN, infinities
        return None
    if value < 1e11:  # seconds (until the year 5138)
        ms = int(value * 1000)
    elif value > 1e14:  # microseconds
        ms = int(value // 1000)
    else:
        ms = int(value)
    # A time outside the calendar is no time: the event keeps no client time rather than being refused.
    return ms if 0 <= ms <= MAX_EPOCH_MS else None


_INFINITIES = (float("inf"), float("-inf"))
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, as trackreplay.values (this module is Django-free)


def as_str(value) -> str | None:
    return value if value.__class__ is str or value is None else str(value)


def enforce_event_count(count: int, limits: Limits) -> None:
    if count > limits.max_events:
        raise DecodeError(f"{count} events in one request is over max_events={limits.max_events}", limit="max_events")
