"""Which requests are tracking requests, and which decoder reads them: per-project endpoint rules first
(host and path glob patterns -> decoder, with options), then auto-detection."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import ModuleType

from .decoders import amplitude, ga4, generic, mixpanel, posthog, segment, sensorsdata, snowplow
from .events import CanonicalEvent
from .limits import DecodeError, Limits
from .wire import TrackingRequest, check_body

DECODERS: dict[str, ModuleType] = {
    module.NAME: module for module in (sensorsdata, segment, mixpanel, amplitude, ga4, snowplow, posthog, generic)
}
# Most specific first: GA4 and Snowplow are recognised by their paths alone; the shared paths
# (/batch, /track, /v1/...) are told apart by the shape of the body.
AUTO_ORDER = (ga4, snowplow, sensorsdata, amplitude, posthog, segment, mixpanel)


@dataclass(frozen=True)
class EndpointRule:
    """host and path are glob patterns ('*.sensorsdata.cn', '/sa*'); an empty host matches any host."""

    decoder: str
    host: str = ""
    path: str = "*"
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; known: {', '.join(sorted(DECODERS))}")

    def matches(self, request: TrackingRequest) -> bool:
        return (not self.host or fnmatchcase(request.host, self.host.lower())) and fnmatchcase(request.path, self.path)


def find_decoder(request: TrackingRequest, rules=(), *, auto_detect: bool = True):
    """(decoder module, options) for a tracking request, or None when it is not one."""
    for rule in rules:
        if rule.matches(request):
            return DECODERS[rule.decoder], rule.options
    if auto_detect:
        for module in AUTO_ORDER:
            if module.matches(request):
                return module, {}
    return None


def decode_request(request: TrackingRequest, rules=(), limits: Limits = Limits(), *,
                   auto_detect: bool = True) -> list[CanonicalEvent]:
    """Decode one request; raises DecodeError if it is not a tracking request or cannot be read."""
    found = find_decoder(request, rules, auto_detect=auto_detect)
    if found is None:
        raise DecodeError("not a tracking request of any known SDK")
    module, options = found
    check_body(request.body, limits)
    try:
        events = module.decode(request, limits, options)
    except (RecursionError, MemoryError) as exc:  # belt and braces: decoders bound their inputs
        raise DecodeError(f"{module.NAME}: payload too complex ({type(exc).__name__})") from None
    for event in events:
        if event.received_at is None:
            event.received_at = request.received_at
    return events


# What each SDK's backend answers a successful upload with: when the proxy answers tracking requests itself,
# the SDK must see success or it retries and sends every event again. (status, content type, body)
_GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")
SUCCESS_ANSWERS = {
    "sensorsdata": (200, "text/plain", b""),
    "segment": (200, "application/json", b'{"success": true}'),
    "mixpanel": (200, "text/plain", b"1"),
    "amplitude": (200, "application/json", b'{"code": 200}'),
    "ga4": (204, "", b""),
    "snowplow": (200, "image/gif", _GIF),
    "posthog": (200, "application/json", b'{"status": 1}'),
    "generic": (200, "application/json", b"{}"),
}
