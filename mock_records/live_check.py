"""API change detection as the platform runs it: replay a mock record's requests against the real API and
store a ChangeRecord for every JSON response whose structure drifted (mock_records/drift.py compares).

The requests go through the egress guard (trackreplay/egress.py) with the project's choices: only GET and
HEAD are re-sent unless a person opted the exchange in (`Exchange.live_check_unsafe`), recorded credentials
only when the project allows it (`Project.live_check_credentials`), private addresses only when the project
allows them (`Project.allow_private_targets`). Every exchange not compared is reported with the reason."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from trackreplay import egress

from .drift import compare, suggest
from .matching import IgnoreRules, Matcher, Recorded, request_of
from .models import ChangeRecord, ChangeStatus, Exchange, LiveCheck, LiveCheckStatus, MockRecord

log = logging.getLogger(__name__)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length", "host", "accept-encoding"}
SAFE_METHODS = {"GET", "HEAD"}
CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key", "api-key", "apikey",
                      "x-auth-token", "x-access-token", "x-csrf-token", "x-xsrf-token", "x-session-id",
                      "x-amz-security-token"}
CREDENTIAL_WORDS = ("auth", "token", "secret", "api-key", "apikey", "api_key", "password", "session", "cookie",
                    "signature")


class Skip:
    """Reason codes of exchanges a check did not compare (the egress guard's codes are used as they are)."""

    DISABLED = "disabled"
    RECORDED_NOT_JSON = "recorded_not_json"
    UNSAFE_METHOD = "unsafe_method"
    REDIRECT = "redirect_not_followed"
    LIVE_NOT_JSON = "live_not_json"
    NOT_CAPTURED = "not_captured"


def is_credential_header(name: str) -> bool:
    name = name.lower()
    return name in CREDENTIAL_HEADERS or any(word in name for word in CREDENTIAL_WORDS)


@dataclass
class Outcome:
    """What one check did: the new change records, how many exchanges it compared, and what it skipped."""

    changes: list[ChangeRecord] = field(default_factory=list)
    checked: int = 0
    skipped: list[dict] = field(default_factory=list)

    def skip(self, exchange: Exchange, reason: str, detail: str) -> None:
        self.skipped.append({"exchange": exchange.pk, "method": exchange.method, "url": exchange.url,
                             "reason": reason, "detail": detail})


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


def live_request_headers(exchange: Exchange, *, credentials: bool) -> tuple[list[tuple[str, str]], list[str]]:
    """The recorded request headers to re-send, and the names of the credentials left out."""
    sent, withheld = [], []
    for name, value in exchange.request_headers:
        if name.lower() in HOP_BY_HOP:
            continue
        if not credentials and is_credential_header(name):
            withheld.append(name)
            continue
        sent.append((name, value))
    return sent, withheld


def check_live(record: MockRecord, *, policy: egress.EgressPolicy | None = None) -> Outcome:
    """One guarded request per enabled exchange with a JSON response; returns the new change records and
    every exchange not compared with the reason. An exchange that already has an open change with the same
    key diff gets no second one."""
    project = record.project
    policy = policy or egress.policy_for_project(project)
    outcome = Outcome()
    for exchange in record.exchanges.order_by("order"):
        if not exchange.enabled:
            outcome.skip(exchange, Skip.DISABLED, "the exchange is disabled")
            continue
        recorded = _json(exchange.response_body)
        if recorded is None:
            outcome.skip(exchange, Skip.RECORDED_NOT_JSON, "the recorded response is not JSON: nothing to compare")
            continue
        method = exchange.method.upper()
        if method not in SAFE_METHODS and not exchange.live_check_unsafe:
            outcome.skip(exchange, Skip.UNSAFE_METHOD, f"{method} may change data on the real API: only GET and "
                         "HEAD are re-sent unless the exchange allows live re-sending (live_check_unsafe)")
            continue
        headers, withheld = live_request_headers(exchange, credentials=project.live_check_credentials)
        note = (f" (recorded credentials left out: {', '.join(withheld)}; the project may allow them with "
                "live_check_credentials)") if withheld else ""
        try:
            answer = egress.request(method, exchange.url, policy=policy, headers=headers,
                                    body=exchange.request_body or None)
        except egress.EgressError as exc:
            outcome.skip(exchange, exc.reason, str(exc))
            continue
        if answer.is_redirect:
            outcome.skip(exchange, Skip.REDIRECT, f"the API answered {answer.status} to {answer.header('location')}; "
                         f"redirects are not followed{note}")
            continue
        live = _json(answer.body)
        if live is None:
            outcome.skip(exchange, Skip.LIVE_NOT_JSON, f"the API answered {answer.status} with a body that is not "
                         f"JSON{note}")
            continue
        outcome.checked += 1
        if change := _note_change(exchange, recorded, live, answer.status):
            outcome.changes.append(change)
    return outcome


def check_against_capture(record: MockRecord, capture: MockRecord) -> Outcome:
    """The live answers read from a capture (or later recording) run instead of calling the API: each of the
    record's exchanges is paired with the capture's answer to the same request (the replay matcher, with the
    record's ignore lists), and compared by structure."""
    captured = {e.pk: e for e in capture.exchanges.order_by("order")}
    matcher = Matcher([Recorded(pk, request_of(e)) for pk, e in captured.items()],
                      IgnoreRules.from_dict(record.project.mock_ignore, record.ignore), repeat="once")
    outcome = Outcome()
    for exchange in record.exchanges.order_by("order"):
        if not exchange.enabled:
            outcome.skip(exchange, Skip.DISABLED, "the exchange is disabled")
            continue
        recorded = _json(exchange.response_body)
        if recorded is None:
            outcome.skip(exchange, Skip.RECORDED_NOT_JSON, "the recorded response is not JSON: nothing to compare")
            continue
        twin = matcher.match(request_of(exchange))
        if twin is None:
            outcome.skip(exchange, Skip.NOT_CAPTURED, f"the capture record #{capture.pk} has no answer to this request")
            continue
        live = _json(captured[twin.id].response_body)
        if live is None:
            outcome.skip(exchange, Skip.LIVE_NOT_JSON, "the captured answer is not JSON")
            continue
        outcome.checked += 1
        if change := _note_change(exchange, recorded, live, captured[twin.id].status_code):
            outcome.changes.append(change)
    return outcome


def run_live_check(check: LiveCheck) -> LiveCheck:
    """Perform a queued LiveCheck and store its outcome on it (the Celery task and the tests call this)."""
    # A message delivered again after its worker died finds the check running and runs it again (an open change
    # is never recorded twice); one delivered again after the check ended does nothing.
    if LiveCheck.objects.filter(pk=check.pk, status__in=[LiveCheckStatus.QUEUED, LiveCheckStatus.RUNNING]).update(
            status=LiveCheckStatus.RUNNING) != 1:
        return check
    record = check.mock_record
    try:
        outcome = check_against_capture(record, check.capture) if check.capture_id else check_live(record)
    except Exception as exc:  # recorded on the check for the person who asked, then raised for the worker's log
        LiveCheck.objects.filter(pk=check.pk).update(status=LiveCheckStatus.FAILED, error=str(exc)[:2000],
                                                     finished_at=timezone.now())
        raise
    check.status, check.finished_at = LiveCheckStatus.DONE, timezone.now()
    check.checked, check.changes_found, check.skipped = outcome.checked, len(outcome.changes), outcome.skipped
    check.save(update_fields=["status", "finished_at", "checked", "changes_found", "skipped"])
    return check


class ChangeError(ValueError):
    pass


@transaction.atomic
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
