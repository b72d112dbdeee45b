"""The canonical tracking event every decoder produces (see docs/sdks.md), as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CanonicalEvent:
    event: str
    properties: dict[str, Any]
    time: int | None = None  # client time, ms since the epoch
    distinct_id: str | None = None
    step: int | None = None
    sdk: str = ""
    received_at: int | None = None  # ms since the epoch, set by whoever received the request
    seq: int | None = None
    raw: Any = field(default=None, repr=False)  # the fragment of the request this event came from

    def to_dict(self, *, with_raw: bool = True) -> dict[str, Any]:
        data = {
            "event": self.event,
            "properties": self.properties,
            "time": self.time,
            "distinct_id": self.distinct_id,
            "step": self.step,
            "sdk": self.sdk,
            "received_at": self.received_at,
            "seq": self.seq,
        }
        if with_raw:
            data["raw"] = self.raw
        return data
