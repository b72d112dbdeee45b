"""API rate limits per caller (DRF throttling), rates in settings.TRACKREPLAY_THROTTLE_RATES:

- ``agent``: agent tokens (tra_) and run tokens (trr_): heartbeats, steps, screenshots, event batches and
  ingestion, per token, so one busy device host does not slow another;
- ``user``: personal tokens (trp_) per token, console sessions per user;
- ``anon``: everyone else, per client address.

Over the rate, the API answers 429 with Retry-After (DRF's Throttled). The counts live in Django's cache,
which is per process with the default local-memory cache: each web worker counts on its own."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from accounts.lockout import client_ip


class CallerThrottle(SimpleRateThrottle):
    cache_format = "throttle:%(scope)s:%(ident)s"

    def __init__(self):
        pass  # the rate depends on the caller: chosen in allow_request

    def get_rate(self):
        return settings.TRACKREPLAY_THROTTLE_RATES[self.scope]

    def _caller(self, request) -> tuple[str, str]:
        token = request.auth
        kind = type(token).__name__
        if kind in ("AgentToken", "RunToken"):
            return "agent", f"{kind}:{token.pk}"
        if kind == "PersonalToken":
            return "user", f"{kind}:{token.pk}"
        user = request.user
        if getattr(user, "is_authenticated", False) and getattr(user, "pk", None):
            return "user", f"user:{user.pk}"
        return "anon", f"ip:{client_ip(request)}"

    def allow_request(self, request, view):
        self.scope, self.ident = self._caller(request)
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident}
