"""Verification as the platform runs it: a stored test record against a stored scenario version (with the
project's global scenario merged in and the mock record's API responses), written as a Report with its
Anomaly rows. The work is the pure engine's; this module only loads and stores."""

from __future__ import annotations

import logging

import orjson
from django.db import transaction
from django.utils import timezone

from scenarios.engine import MISSING, ApiResponse, Verifier
from scenarios.models import Rule, Scenario, ScenarioVersion
from scenarios.rulebook import RuleSpec, merge_global
from test_records.models import TestRecord

from .diff import EventDiff, compare_records
from .models import Anomaly, Report, ReportStatus

log = logging.getLogger(__name__)


def global_version_for(version: ScenarioVersion) -> ScenarioVersion | None:
    """The global scenario's version merged into a verification against `version` now (its current one), or
    None (no global scenario, or `version` is the global scenario's own)."""
    scenario = version.scenario
    if scenario.is_global:
        return None
    global_scenario = (Scenario.objects.filter(project_id=scenario.project_id, is_global=True)
                       .select_related("current_version").first())
    return global_scenario.current_version if global_scenario is not None else None


def rules_for(version: ScenarioVersion, global_version: ScenarioVersion | None = None) -> list[RuleSpec]:
    own = [rule.to_spec() for rule in version.rules.all()]
    if global_version is None:
        return own
    return merge_global([rule.to_spec() for rule in global_version.rules.all()], own)


def record_events(record: TestRecord) -> list[dict]:
    events = []
    for event in record.events.order_by("seq").iterator(chunk_size=2000):
        events.append({"event": event.name, "properties": event.properties if isinstance(event.properties, dict) else {},
                       "time": event.client_time, "distinct_id": event.distinct_id or None, "step": event.step,
                       "sdk": event.sdk, "seq": event.seq})
    return events


def api_responses(record: TestRecord) -> list[ApiResponse] | None:
    """The JSON responses of the record's mock record (None when it has none: API mappings are then skipped)."""
    if record.mock_record_id is None:
        return None
    responses = []
    for exchange in record.mock_record.exchanges.filter(enabled=True).order_by("order"):
        try:
            body = orjson.loads(exchange.response_body)
        except orjson.JSONDecodeError:
            continue
        responses.append(ApiResponse(exchange.method, exchange.host, exchange.path, body))
    return responses


def _json(value):
    """Anomaly values as storable JSON (a value the app sent is JSON already; MISSING is stored as null)."""
    if value is MISSING:
        return None
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return repr(value)


def verify_record(record: TestRecord, version: ScenarioVersion, *, baseline: TestRecord | None = None,
                  run=None, supersedes: Report | None = None, note: str = "") -> Report:
    """Verify and store. A failure inside verification is stored on the report (status error), not raised,
    so a scheduled run always leaves a report behind."""
    # The report names both versions it was verified against, so neither can be rewritten afterwards.
    global_version = global_version_for(version)
    report = Report.objects.create(project_id=record.project_id, test_record=record, scenario_version=version,
                                   global_version=global_version, baseline_record=baseline, run=run,
                                   status=ReportStatus.RUNNING, supersedes=supersedes, note=note[:500])
    try:
        events = record_events(record)
        specs = rules_for(version, global_version)
        result = Verifier(specs, api_responses(record)).verify(events, record.steps or None)
        rows = [Anomaly(report=report, event_name=a.event, event_index=a.index,
                        rule_id=a.rule.id,  # a global rule points into the global scenario's version
                        rule_kind=a.rule.kind, property_path=a.property, strength=a.rule.strength,
                        expected=_json(a.expected), actual=_json(a.actual), message=a.message[:5000],
                        raw_event=events[a.index] if a.index is not None else None)
                for a in result.anomalies]
        with transaction.atomic():
            Anomaly.objects.bulk_create(rows, batch_size=1000)
            strong = len(result.strong)
            Report.objects.filter(pk=report.pk).update(
                status=ReportStatus.DONE, pass_rate=result.pass_rate, events_total=result.events_total,
                events_passed=result.events_passed, strong_anomalies=strong,
                weak_anomalies=len(result.anomalies) - strong, finished_at=timezone.now(),
                error="\n".join(f"skipped {rule.label()}: {reason}" for rule, reason in result.skipped)[:5000])
    except Exception as exc:  # stored on the report, and logged with its traceback
        log.exception("verification of test record %s failed", record.pk)
        Report.objects.filter(pk=report.pk).update(status=ReportStatus.ERROR, error=f"{type(exc).__name__}: {exc}",
                                                   finished_at=timezone.now())
    report.refresh_from_db()
    return report


def baseline_diff(report: Report) -> list[EventDiff]:
    """The replay against its baseline recording, event by event, leaving out properties the scenario treats
    as volatile (those it checks only by shape: regex, range, length)."""
    if report.baseline_record_id is None:
        return []
    shape_only = set(Rule.objects.filter(version=report.scenario_version, kind__in=["regex", "range", "length"])
                     .exclude(property_path__contains=".").values_list("property_path", flat=True))
    valued = set(Rule.objects.filter(version=report.scenario_version, kind__in=["baseline", "enum"])
                 .values_list("property_path", flat=True))
    return compare_records(record_events(report.baseline_record), record_events(report.test_record),
                           ignore=shape_only - valued)
