"""What answers a request in replay, in order: a global mock, then an enabled exchange of the mock record,
then the record's unmatched policy (pass through, 404, 502). Pure; the proxy addon calls it."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .matching import Matcher, Miss, Request


@dataclass
class CannedAnswer:
    """A global mock as plain data."""

    id: Any
    path: str
    host: str = "*"
    method: str = ""
    status_code: int = 200
    headers: list[list[str]] = field(default_factory=list)
    body: bytes = b""
    enabled: bool = True

    def matches(self, request: Request) -> bool:
        return (self.enabled and (not self.method or self.method.upper() == request.method.upper())
                and fnmatchcase(request.host.lower(), self.host.lower() or "*") and fnmatchcase(request.path, self.path))


@dataclass
class Answer:
    kind: str  # "global", "exchange" or "unmatched"
    global_mock: CannedAnswer | None = None
    exchange_id: Any = None
    policy: str | None = None  # for unmatched: "passthrough", "404" or "502"
    miss: Miss | None = None


class Resolver:
    def __init__(self, global_mocks: list[CannedAnswer], matcher: Matcher, unmatched_policy: str = "404"):
        if unmatched_policy not in ("passthrough", "404", "502"):
            raise ValueError(f"unmatched policy must be passthrough, 404 or 502, not {unmatched_policy!r}")
        self.global_mocks = [m for m in global_mocks if m.enabled]
        self.matcher = matcher
        self.policy = unmatched_policy

    def resolve(self, request: Request) -> Answer:
        for mock in self.global_mocks:
            if mock.matches(request):
                return Answer("global", global_mock=mock)
        exchange = self.matcher.match(request)
        if exchange is not None:
            return Answer("exchange", exchange_id=exchange.id)
        return Answer("unmatched", policy=self.policy, miss=self.matcher.explain(request))
