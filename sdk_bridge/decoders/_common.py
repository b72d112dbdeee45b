from __future__ import annotations

import re
import zlib

from ..limits import Limits
from ..wire import GZIP_MAGIC, TrackingRequest, gunzip, looks_like_form, parse_form

PEEK_BYTES = 4096


def peek(request: TrackingRequest) -> bytes:
    """The first few KB of the body, decompressed if gzipped: enough to tell SDKs apart, bounded by design."""
    body = request.body
    if body[:2] != GZIP_MAGIC:
        return body[:PEEK_BYTES]
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, PEEK_BYTES)
    except zlib.error:
        return b""


def body_bytes(request: TrackingRequest, limits: Limits) -> bytes:
    """The body with any gzip content-encoding removed (detected from the bytes, not trusted from headers)."""
    body = request.body
    if body[:2] == GZIP_MAGIC:
        return gunzip(body, limits)
    if request.header("content-encoding").lower() in ("deflate",) and body:
        return gunzip(body, limits)
    return body


def params(request: TrackingRequest, body: bytes) -> dict[str, str]:
    """Query parameters merged with form-encoded body fields (body wins)."""
    merged = dict(request.query)
    if body and (request.content_type == "application/x-www-form-urlencoded" or looks_like_form(body)):
        merged.update(parse_form(body))
    return merged


def path_is(request: TrackingRequest, pattern: re.Pattern) -> re.Match | None:
    return pattern.search(request.path)
