"""API change detection as the platform runs it: replay a mock record's requests against the real API and
store a ChangeRecord for every JSON response whose structure drifted (mock_records/drift.py compares)."""

from __future__ import annotations

import json
import logging

import requests
from django.utils import timezone

from trackreplay.stored_files import atomic_files

from .drift import compare, suggest
from .matching import IgnoreRules, Matcher, Recorded, request_of
from .models import ChangeRecord, ChangeStatus, Exchange, MockRecord

log = logging.getLogger(__name__)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length", "host", "accept-encoding"}


def _json(data: bytes):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _note_change(exchange: Exchange, recorded, live, live_status: int) -> ChangeRecord | None:
    changes = [c.to_dict() for c in compare(recorded, live)]
    if not changes or ChangeRecord.objects.filter(exchange=exchange, status=ChangeStatus.OPEN, changes=changes).exists():
        return None  # nothing drifted, or this very drift is already open
    return ChangeRecord.objects.create(exchange=exchange, live_status=live_status, changes=changes,
                                       suggested_body=json.dumps(suggest(recorded, live), ensure_ascii=False).encode())


def check_live(record: MockRecord, *, timeout: float = 10.0, session: requests.Session | None = None) -> list[ChangeRecord]:
    """One request per enabled exchange with a JSON response; returns the new change records. An exchange
    that already has an open change with the same key diff gets no second one."""
    session = session or requests.Session()
    session.trust_env = False
    verify = record.project.verify_upstream_tls
    found = []
    for exchange in record.exchanges.filter(enabled=True).order_by("order"):
        recorded = _json(exchange.response_body)
        if recorded is None:
            continue
        headers = {k: v for k, v in exchange.request_headers if k.lower() not in HOP_BY_HOP}
        try:
            answer = session.request(exchange.method, exchange.url, headers=headers, data=exchange.request_body or None,
                                     timeout=timeout, allow_redirects=False, verify=verify)
        except requests.RequestException as exc:
            log.warning("live check of %s %s failed: %s", exchange.method, exchange.url, exc)
            continue
        live = _json(answer.content)
        if live is not None and (change := _note_change(exchange, recorded, live, answer.status_code)):
            found.append(change)
    return found


def check_against_capture(record: MockRecord, capture: MockRecord) -> list[ChangeRecord]:
    """The live answers read from a capture (or later recording) run instead of calling the API: each of the
    record's exchanges is paired with the capture's answer to the same request (the replay matcher, with the
    record's ignore lists), and compared by structure."""
    captured = {e.pk: e for e in capture.exchanges.order_by("order")}
    matcher = Matcher([Recorded(pk, request_of(e)) for pk, e in captured.items()],
                      IgnoreRules.from_dict(record.project.mock_ignore, record.ignore), repeat="once")
    found = []
    for exchange in record.exchanges.filter(enabled=True).order_by("order"):
        recorded = _json(exchange.response_body)
        twin = matcher.match(request_of(exchange)) if recorded is not None else None
        live = _json(captured[twin.id].response_body) if twin is not None else None
        if live is not None and (change := _note_change(exchange, recorded, live, captured[twin.id].status_code)):
            found.append(change)
    return found


class ChangeError(ValueError):
    pass


@atomic_files()  # the new response body may be a file: a rollback deletes it again
def _decide(change: ChangeRecord, user, *, from_status: str, to_status: str, verb: str, body) -> ChangeRecord:
    """Move a change from one status to the next, rewriting its exchange's response with body(change, exchange)."""
    change = ChangeRecord.objects.select_for_update().get(pk=change.pk)
    if change.status != from_status:
        raise ChangeError(f"the change is {change.status}, only {from_status} changes can be {verb}")
    exchange = Exchange.objects.select_for_update().get(pk=change.exchange_id)
    new_body = body(change, exchange)
    exchange.response_body = new_body
    exchange.save()
    change.status, change.decided_by, change.decided_at = to_status, user, timezone.now()
    change.save()
    return change


def apply_change(change: ChangeRecord, user=None) -> ChangeRecord:
    def suggested(change, exchange):
        change.previous_body = exchange.response_body  # kept, so withdrawing can restore it
        return bytes(change.suggested_body)
    return _decide(change, user, from_status=ChangeStatus.OPEN, to_status=ChangeStatus.APPLIED, verb="applied",
                   body=suggested)


def withdraw_change(change: ChangeRecord, user=None) -> ChangeRecord:
    return _decide(change, user, from_status=ChangeStatus.APPLIED, to_status=ChangeStatus.WITHDRAWN, verb="withdrawn",
                   body=lambda change, exchange: bytes(change.previous_body or b""))
