"""A run's device log (browser console, logcat, syslog) split by step, for the run page.

A step's lines are those logged from its start until the next step starts: what the app says right after
a tap (a request failing, an exception) belongs to that tap even when it comes after the step was marked
done. Lines before the first step are the app starting; lines after the last step finished are its end.
Pure: lists of dicts in, no Django."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime

BEFORE, AFTER = "before", "after"


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def split_by_step(timeline: list[dict], logs: list[dict]) -> dict:
    """{step index | BEFORE | AFTER: [lines, in log order]}. Steps that never started get no lines."""
    started = sorted((_ms(step.get("started_at")), _ms(step.get("finished_at")), step["index"]) for step in timeline
                     if _ms(step.get("started_at")) is not None)
    starts = [start for start, _, _ in started]
    last_end = started[-1][1] if started else None  # None while the last step runs: its lines are its own
    buckets: dict = {}
    for line in logs:
        at = line["at"]
        if not starts or at < starts[0]:
            key = BEFORE
        elif last_end is not None and at > last_end:
            key = AFTER
        else:
            key = started[bisect_right(starts, at) - 1][2]
        buckets.setdefault(key, []).append(line)
    return buckets


def excerpt(lines: list[dict], keep: int) -> tuple[list[dict], list[dict], int]:
    """The first and last `keep` // 2 lines of a long list, and how many are left out between them."""
    if len(lines) <= keep:
        return lines, [], 0
    head = keep // 2
    return lines[:head], lines[-(keep - head):], len(lines) - keep
