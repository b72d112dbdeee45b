"""API change detection as the platform runs it: replay a mock record's requests against the real API and
store a ChangeRecord for every JSON response whose structure drifted (mock_records/drift.py compares)."""

from __future__ import annotations

import json
import logging

import requests
from django.db import transaction
from django.utils import timezone

from .drift import compare, suggest
from .models import ChangeRecord, ChangeStatus, Exchange, MockRecord

log = logging.getLogger(__name__)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length", "host", "accept-encoding"}


def _json(data: bytes):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


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
        if live is None:
            continue
        changes = [c.to_dict() for c in compare(recorded, live)]
        if not changes:
            continue
        if ChangeRecord.objects.filter(exchange=exchange, status=ChangeStatus.OPEN, changes=changes).exists():
            continue
        found.append(ChangeRecord.objects.create(
            exchange=exchange, live_status=answer.status_code, changes=changes,
            suggested_body=json.dumps(suggest(recorded, live), ensure_ascii=False).encode()))
    return found


class ChangeError(ValueError):
    pass


@transaction.atomic
def apply_change(change: ChangeRecord, user=None) -> ChangeRecord:
    change = ChangeRecord.objects.select_for_update().get(pk=change.pk)
    if change.status != ChangeStatus.OPEN:
        raise ChangeError(f"the change is {change.status}, only open changes can be applied")
    exchange = Exchange.objects.select_for_update().get(pk=change.exchange_id)
    change.previous_body = exchange.response_body
    exchange.response_body = bytes(change.suggested_body)
    exchange.save()
    change.status, change.decided_by, change.decided_at = ChangeStatus.APPLIED, user, timezone.now()
    change.save()
    return change


@transaction.atomic
def withdraw_change(change: ChangeRecord, user=None) -> ChangeRecord:
    change = ChangeRecord.objects.select_for_update().get(pk=change.pk)
    if change.status != ChangeStatus.APPLIED:
        raise ChangeError(f"the change is {change.status}, only applied changes can be withdrawn")
    exchange = Exchange.objects.select_for_update().get(pk=change.exchange_id)
    exchange.response_body = bytes(change.previous_body or b"")
    exchange.save()
    change.status, change.decided_by, change.decided_at = ChangeStatus.WITHDRAWN, user, timezone.now()
    change.save()
    return change
