"""Bounded readers for everything the platform accepts as a body or a file: one place that reads a stream
while counting its bytes, gunzips it in slices with a cap on the output, parses its JSON with a cap on the
nesting and counts its entries. Every path that takes an upload (ingestion, recordings, the agents' API,
HAR and flow import, tracking-plan import, the REST API's JSON bodies, multipart uploads, the CLI's input
files) goes through here, so a 1.6 MB gzip bomb costs what the limit allows and no more.

A refusal is an UploadRefused that names the limit's setting and value; byte-size limits answer 413, the
others 400. No Django import: the CLI's offline commands use these readers too (upload_http.py is the
Django side)."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024

# Defaults of the settings (trackreplay/settings.py reads them from the environment; the CLI too).
DEFAULTS = {
    "TRACKREPLAY_API_MAX_BODY_BYTES": 10 * 1024 * 1024,
    "TRACKREPLAY_UPLOAD_MAX_BYTES": 64 * 1024 * 1024,
    "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES": 128 * 1024 * 1024,
    "TRACKREPLAY_UPLOAD_MAX_DEPTH": 100,
    "TRACKREPLAY_UPLOAD_MAX_ENTRIES": 100_000,
    "TRACKREPLAY_RECORDING_MAX_BYTES": 64 * 1024 * 1024,
    "TRACKREPLAY_SCREENSHOT_MAX_BYTES": 10 * 1024 * 1024,
    "TRACKREPLAY_INGEST_MAX_BODY_BYTES": 10 * 1024 * 1024,
    "TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES": 50 * 1024 * 1024,
    "TRACKREPLAY_INGEST_MAX_DEPTH": 64,
    "TRACKREPLAY_INGEST_MAX_EVENTS": 5000,
}


@dataclass(frozen=True, slots=True)
class Limit:
    """One bound, with the setting it comes from (named in every refusal) and the status a refusal answers."""

    setting: str
    value: int
    status: int = 400

    def __str__(self) -> str:
        return f"{self.setting}={self.value}"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    body: Limit  # bytes as received
    decompressed: Limit  # bytes after gunzip
    depth: Limit  # nesting of JSON objects and arrays
    entries: Limit  # HAR entries, flows, events, plan events and properties, rules

    def decoder_limits(self):
        """The same bounds as the wire decoders' Limits (sdk_bridge), whose errors name its field names."""
        from sdk_bridge.limits import Limits

        return Limits(max_body_bytes=self.body.value, max_decompressed_bytes=self.decompressed.value,
                      max_depth=self.depth.value, max_events=self.entries.value)

    def by_field(self, field: str | None) -> Limit | None:
        return {"max_body_bytes": self.body, "max_decompressed_bytes": self.decompressed, "max_depth": self.depth,
                "max_events": self.entries}.get(field or "")


def make_limits(body: str, decompressed: str, depth: str, entries: str, value: Callable[[str], int]) -> UploadLimits:
    return UploadLimits(body=Limit(body, value(body), 413), decompressed=Limit(decompressed, value(decompressed), 413),
                        depth=Limit(depth, value(depth)), entries=Limit(entries, value(entries)))


def file_limits(value: Callable[[str], int], body: str = "TRACKREPLAY_UPLOAD_MAX_BYTES") -> UploadLimits:
    """Limits for uploaded files (HAR, flows, recordings, plans, scenarios); `value` reads a setting."""
    return make_limits(body, "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES", "TRACKREPLAY_UPLOAD_MAX_DEPTH",
                       "TRACKREPLAY_UPLOAD_MAX_ENTRIES", value)


def env_limits(body: str = "TRACKREPLAY_UPLOAD_MAX_BYTES") -> UploadLimits:
    """File limits from the environment, for the CLI's offline commands (no Django settings)."""
    from .env import env_int

    return file_limits(lambda name: env_int(name, DEFAULTS[name], minimum=1), body)


class UploadRefused(ValueError):
    """An upload over a limit, or unreadable. `limit` is the bound it passed (None: malformed input)."""

    def __init__(self, reason: str, limit: Limit | None = None, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
        self._status = status

    @property
    def status(self) -> int:
        return self._status or (self.limit.status if self.limit is not None else 400)

    def as_dict(self) -> dict:
        return {"error": self.reason, "limit": self.limit.setting if self.limit else None,
                "max": self.limit.value if self.limit else None}


def _over(what: str, size: int | str, limit: Limit) -> UploadRefused:
    return UploadRefused(f"{what} of {size} bytes is over {limit}", limit)


# -- reading --------------------------------------------------------------------------------------------

def check_size(size: int | None, limits: UploadLimits, *, what: str = "body") -> None:
    """Refuse by a declared size (Content-Length, a file's size) before reading anything."""
    if size is not None and size > limits.body.value:
        raise _over(what, size, limits.body)


def chunks_of(read: Callable[[int], bytes], limits: UploadLimits, *, what: str = "body",
              content_length: int | None = None) -> Iterator[bytes]:
    """The stream in slices, refused by its declared length before anything is read and by the bytes counted
    while reading (a chunked body, or a stream that holds more than it said)."""
    check_size(content_length, limits, what=what)
    total = 0
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        total += len(chunk)
        if total > limits.body.value:
            raise _over(what, f"more than {limits.body.value}", limits.body)
        yield chunk


def inflate(chunks: Iterable[bytes], limits: UploadLimits, *, what: str = "body") -> bytes:
    """Gunzip slices of a gzip stream (several members allowed), never holding more than the decompressed
    limit: each step asks zlib for at most CHUNK bytes and keeps the rest of the input for the next step."""
    cap = limits.decompressed
    out: list[bytes] = []
    total = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    try:
        for data in chunks:
            while data:
                if inflater.eof:  # a new gzip member follows the last one
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                started = True
                piece = inflater.decompress(data, CHUNK)
                total += len(piece)
                if total > cap.value:
                    raise UploadRefused(f"{what} decompresses to more than {cap}", cap)
                out.append(piece)
                data = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
        while not inflater.eof and started:  # output still held back after the last input
            piece = inflater.decompress(b"", CHUNK)
            if not piece:
                break
            total += len(piece)
            if total > cap.value:
                raise UploadRefused(f"{what} decompresses to more than {cap}", cap)
            out.append(piece)
    except zlib.error as exc:
        raise UploadRefused(f"{what}: bad gzip data ({exc})") from None
    if not inflater.eof:
        raise UploadRefused(f"{what}: bad gzip data (truncated stream)")
    return b"".join(out)


def read_stream(read: Callable[[int], bytes], limits: UploadLimits, *, what: str = "body",
                content_length: int | None = None, content_encoding: str = "") -> bytes:
    """A whole body, bounded as received and, when gzipped (by its bytes or its Content-Encoding), bounded
    again while it is decompressed."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise UploadRefused(f"{what}: Content-Encoding {content_encoding!r} is not supported (use gzip or none)")
    stream = chunks_of(read, limits, what=what, content_length=content_length)
    first = b""
    for first in stream:
        break
    if first[:2] == GZIP_MAGIC or encoding in ("gzip", "x-gzip"):
        return inflate(_prepend(first, stream), limits, what=what)
    parts = [first]
    size = len(first)
    for chunk in stream:
        size += len(chunk)
        if size > limits.decompressed.value:
            raise _over(what, f"more than {limits.decompressed.value}", limits.decompressed)
        parts.append(chunk)
    if size > limits.decompressed.value:
        raise _over(what, size, limits.decompressed)
    return b"".join(parts)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def read_file(file, limits: UploadLimits, *, what: str | None = None) -> bytes:
    """An open binary file or a path, bounded (its size is checked before reading) and gunzipped if it is."""
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        with path.open("rb") as handle:
            return read_file(handle, limits, what=what or str(path))
    size = getattr(file, "size", None)
    if size is None:
        try:
            size = os.fstat(file.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            size = None
    return read_stream(file.read, limits, what=what or getattr(file, "name", None) or "file", content_length=size)


# -- parsing --------------------------------------------------------------------------------------------

def parse_json(data: bytes | str, limits: UploadLimits, *, what: str = "body"):
    """Untrusted JSON, its nesting bounded (by the wire decoders' skeleton count, at C speed)."""
    from sdk_bridge.limits import DecodeError
    from sdk_bridge.wire import load_json

    try:
        return load_json(data, limits.decoder_limits())
    except DecodeError as exc:
        raise refusal_from(exc, limits, what) from None
    except RecursionError:
        raise UploadRefused(f"{what}: JSON nested deeper than {limits.depth}", limits.depth) from None


def refusal_from(exc, limits: UploadLimits, what: str = "body") -> UploadRefused:
    """A wire decoder's DecodeError as an UploadRefused naming the setting behind the field it names."""
    field = getattr(exc, "limit", None)
    limit = limits.by_field(field)
    reason = getattr(exc, "reason", str(exc))
    if limit is not None:
        # The decoders name their Limits field ("over max_events=5000"); people set the setting.
        reason = re.sub(rf"\b{field}=\d+", str(limit), reason)
    return UploadRefused(f"{what}: {reason}", limit)


def check_count(count: int, limits: UploadLimits, what: str) -> None:
    """Refuse a file with more entries (HAR entries, flows, events, rules...) than the entries limit."""
    if count > limits.entries.value:
        raise UploadRefused(f"{count} {what} is over {limits.entries}", limits.entries)
