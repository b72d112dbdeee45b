from __future__ import annotations

import zlib

from ..limits import DecodeError, Limits
from ..wire import GZIP_MAGIC, TrackingRequest, b64decode, gunzip, load_json, looks_like_form, maybe_gunzip, parse_form

PEEK_BYTES = 4096


def peek(request: TrackingRequest) -> bytes:
    """The first few KB of the body, decompressed if gzipped: enough to tell SDKs apart, bounded by design.
    Kept on the request, since every decoder's matches() asks for it during auto-detection."""
    head = request.__dict__.get("_peek")
    if head is None:
        body = request.body
        if body[:2] != GZIP_MAGIC:
            head = body[:PEEK_BYTES]
        else:
            try:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, PEEK_BYTES)
            except zlib.error:
                head = b""
        request.__dict__["_peek"] = head
    return head


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


def json_body_or_data_field(request: TrackingRequest, limits: Limits, sdk: str):
    """A raw JSON body, or a `data` field (form body or query) holding JSON or base64 of (gzipped) JSON:
    the shapes Mixpanel and PostHog clients send."""
    body = body_bytes(request, limits)
    stripped = body.lstrip()
    if stripped[:1] in (b"{", b"["):
        return load_json(stripped, limits)
    data = params(request, body).get("data")
    if data is None:
        raise DecodeError(f"{sdk} request has neither a JSON body nor a data field")
    text = data.strip()
    if text[:1] in ("{", "["):
        return load_json(text.encode("utf-8"), limits)
    return load_json(maybe_gunzip(b64decode(text, limits), limits), limits)
