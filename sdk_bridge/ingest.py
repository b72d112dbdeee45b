"""Batches pushed by in-app SDK bridges (the app's own analytics hook posts what it tracked) into a run's
test record: bounded parsing, all-or-nothing validation, idempotent storage by client batch id."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from trackreplay.uploads import UploadLimits, UploadRefused, check_count, parse_json
from trackreplay.values import INTEGER_RANGES, first_bad_value, string_problem, time_problem

_BATCH_FIELDS = {"batch_id", "device_event_count", "events"}
_FIELDS = {"event", "properties", "time", "distinct_id", "step", "sdk", "raw", "seq", "received_at"}


@dataclass
class Batch:
    batch_id: str
    events: list[dict]
    device_event_count: int | None


def _bad(where: str, problem: str) -> UploadRefused:
    return UploadRefused(f"{where}: {problem}")


def parse_batch(body: bytes, limits: UploadLimits) -> Batch:
    """A batch from a body already read (and gunzipped) by the bounded reader; UploadRefused names the
    limit or the field that is wrong."""
    document = parse_json(body, limits)
    if not isinstance(document, dict):
        raise _bad("body", "must be a JSON object with batch_id and events")
    unknown = sorted(set(document) - _BATCH_FIELDS)
    if unknown:
        raise _bad("body", f"unknown fields {unknown}; known: {sorted(_BATCH_FIELDS)}")
    batch_id = document.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 100:
        raise _bad("batch_id", "must be a string of 1 to 100 characters")
    count = document.get("device_event_count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        raise _bad("device_event_count", "must be a non-negative integer or null")
    events = document.get("events")
    if not isinstance(events, list):
        raise _bad("events", "must be a list")
    check_count(len(events), limits, "events")
    # The body was parsed by orjson, which refuses lone surrogates, NaN, Infinity and numbers that overflow a
    # double; only a NUL escape or an integer of 19 or more digits can still hold a value no column can store.
    # Bodies without either (nearly all) skip the value walk, which would cost a third of ingestion's time.
    walk = _MAYBE_UNSTORABLE.search(body) is not None
    bad = first_bad_value({key: value for key, value in document.items() if key != "events"},
                          max_depth=limits.depth.value) if walk else None
    if bad is not None:
        raise _bad(bad.path, bad.problem)
    for index, event in enumerate(events):
        check_event(event, index, limits.depth.value, walk_values=walk)
    return Batch(batch_id=batch_id, events=events, device_event_count=count)


_STEP_LOW, _STEP_HIGH = INTEGER_RANGES["IntegerField"]


_MAYBE_UNSTORABLE = re.compile(rb"\\u0000|\d{19}")


def check_event(event, index: int, max_depth: int, *, walk_values: bool = True) -> None:
    """UploadRefused naming the field (`events[3].properties.price`) and the event's name when the event cannot
    be stored as is."""
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise _bad(where, "must be an object")
    name = event.get("event")
    # ASCII-escaped: the message itself must be storable and printable.
    named = f" (event {json.dumps(name[:100])})" if isinstance(name, str) and name and not string_problem(name) else ""

    def bad(path: str, problem: str) -> UploadRefused:
        return _bad(path, problem + named)

    unknown = set(event) - _FIELDS
    if unknown:
        raise bad(where, f"unknown fields {sorted(unknown)}")
    value = first_bad_value(event, where, max_depth=max_depth) if walk_values else None
    if value is not None:
        raise bad(value.path, value.problem)
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise bad(f"{where}.event", "must be a string of 1 to 200 characters")
    if not isinstance(event.get("properties", {}), dict):
        raise bad(f"{where}.properties", "must be an object")
    if event.get("time") is not None and (problem := time_problem(event["time"])):
        raise bad(f"{where}.time", problem)
    step = event.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise bad(f"{where}.step", "must be an integer or null")
    if step is not None and not _STEP_LOW <= step <= _STEP_HIGH:
        raise bad(f"{where}.step", f"{step} is outside {_STEP_LOW} to {_STEP_HIGH}")
    distinct = event.get("distinct_id")
    if distinct is not None and (not isinstance(distinct, str) or len(distinct) > 200):
        raise bad(f"{where}.distinct_id", "must be a string of at most 200 characters or null")


def _locked_run_record(run):
    """The run, locked, and its test record (created on first use). Concurrent uploads of one run are
    serialised, so seq numbers never collide and two first uploads cannot both create a record."""
    from automation.models import Run
    from test_records.models import RecordSource, TestRecord

    run = Run.objects.select_for_update().get(pk=run.pk)
    record = run.test_records.order_by("pk").first()
    if record is None:
        source = RecordSource.RECORDED if run.mode == "record" else RecordSource.REPLAYED
        record = TestRecord.objects.create(project_id=run.project_id, run=run, name=f"Run #{run.pk}",
                                           source=source, mock_record_id=run.task.mock_record_id)
    return run, record


def store_batch(run, batch: Batch):
    """Append the batch's events to the run's test record in client order. Returns (IngestBatch, created)."""
    from test_records.models import Event, TestRecord

    from .models import IngestBatch

    with transaction.atomic():
        run, record = _locked_run_record(run)
        existing = IngestBatch.objects.filter(test_record=record, batch_id=batch.batch_id).first()
        if existing is not None:
            return existing, False
        last = record.events.aggregate(last=Max("seq"))["last"]
        first_seq = 0 if last is None else last + 1
        now = timezone.now()
        Event.objects.bulk_create([
            Event(test_record=record, seq=first_seq + offset, name=event["event"],
                  properties=event.get("properties") or {}, distinct_id=event.get("distinct_id") or "",
                  client_time=event.get("time"), received_at=now, step=event.get("step"),
                  sdk=str(event.get("sdk") or "bridge")[:30], raw=event.get("raw"))
            for offset, event in enumerate(batch.events)
        ], batch_size=1000)
        stored = IngestBatch.objects.create(test_record=record, batch_id=batch.batch_id,
                                            event_count=len(batch.events), first_seq=first_seq,
                                            device_event_count=batch.device_event_count)
        if batch.device_event_count is not None and (record.device_event_count or 0) < batch.device_event_count:
            TestRecord.objects.filter(pk=record.pk).update(device_event_count=batch.device_event_count)
        return stored, True


_REPORT_FIELDS = {"mode": str, "served": int, "global": int, "misses": list, "tracking_requests": int, "events": int,
                  "decode_errors": list, "recorded": int, "scope": str, "passed_through": int,
                  "passed_through_urls": list, "uplink_failures": list, "tls_failures": list}


def store_proxy_report(run, report) -> list[str]:
    """The proxy's account of the run onto its test record, with the health flags it implies: a replay whose
    mock never answered anything ran against the real API (mock not enabled); undecodable tracking requests
    mean events may be missing. Returns the record's health flags."""
    from test_records.models import HealthFlag, TestRecord

    if not isinstance(report, dict):
        raise _bad("body", "must be a JSON object")
    for key, kind in _REPORT_FIELDS.items():
        if key in report and not isinstance(report[key], kind):
            raise _bad(key, f"must be {kind.__name__}")
    unknown = sorted(set(report) - set(_REPORT_FIELDS))
    if unknown:
        raise _bad("body", f"unknown fields {unknown}; known: {sorted(_REPORT_FIELDS)}")
    from trackreplay.upload_http import ingest_limits

    bad = first_bad_value(report, max_depth=ingest_limits().depth.value)
    if bad is not None:
        raise _bad(bad.path, bad.problem)
    clean = {key: report[key] for key in _REPORT_FIELDS if key in report}
    clean["passed_through_urls"] = clean.get("passed_through_urls", [])[:200]
    clean["misses"] = clean.get("misses", [])[:200]
    clean["decode_errors"] = clean.get("decode_errors", [])[:200]
    clean["tls_failures"] = clean.get("tls_failures", [])[:200]
    with transaction.atomic():
        run, record = _locked_run_record(run)
        flags = [f for f in record.health_flags
                 if f not in (HealthFlag.MOCK_NOT_ENABLED, HealthFlag.DECODE_ERRORS, HealthFlag.TLS_UNTRUSTED)]
        # Global mocks answering does not count: the flag says the replay used nothing of its mock record.
        if clean.get("mode") == "replay" and clean.get("served", 0) == 0:
            flags.append(HealthFlag.MOCK_NOT_ENABLED)
        if clean["decode_errors"]:
            flags.append(HealthFlag.DECODE_ERRORS)
        if clean["tls_failures"]:
            flags.append(HealthFlag.TLS_UNTRUSTED)
        TestRecord.objects.filter(pk=record.pk).update(proxy_report=clean, health_flags=flags)
    return flags


def recording_of_run(run):
    """The mock record a run's recording already became, if any (uploads are retried)."""
    from mock_records.models import MockRecord

    return MockRecord.objects.filter(project_id=run.project_id, name=f"Recorded by run #{run.pk}").first()


def store_recording(run, har: bytes, limits=None):
    """A record-mode proxy's HAR as a new mock record of the run's project, linked from the run's test
    record. HarError or UploadRefused (nothing stored, body files included) when the file is unusable."""
    from mock_records.har_io import import_har
    from mock_records.models import MockRecord, MockRecordSource
    from test_records.models import TestRecord
    from trackreplay.stored_files import atomic_files

    with atomic_files():
        run, record = _locked_run_record(run)
        mock = import_har(run.project, har, name=f"Recorded by run #{run.pk}",
                          description=f"Recorded by the proxy of run #{run.pk} ({run.task}).", limits=limits)
        MockRecord.objects.filter(pk=mock.pk).update(source=MockRecordSource.RECORDED)
        TestRecord.objects.filter(pk=record.pk).update(mock_record=mock)
    return mock
