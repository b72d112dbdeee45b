"""Bounds on untrusted payloads, and the error a decoder raises when a request is unusable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 20 * 1024 * 1024  # the request body as received
    max_decompressed_bytes: int = 50 * 1024 * 1024  # after gunzip / base64, per payload
    max_depth: int = 64  # nesting of JSON objects and arrays
    max_events: int = 10_000  # events in one request


class DecodeError(ValueError):
    """A tracking request that cannot be decoded. `limit` names the Limits field that was exceeded, if any."""

    def __init__(self, reason: str, *, limit: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
