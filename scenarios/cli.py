"""`trackreplay infer` and `trackreplay verify`: the offline commands CI pipelines call. No Django needed.

    trackreplay infer RECORD.jsonl [RECORD.jsonl ...] [--mock MOCK.har] [--plan PLAN.json] -o SCENARIO.json
    trackreplay verify --scenario SCENARIO.json [--mock MOCK.har] [--format text|json|junit] [-o OUT] RECORD.jsonl

verify exits 0 when there is no strong anomaly, 1 when there are, 2 on bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .engine import Verification, verify
from .files import InputError, read_api_responses, read_record, read_scenario
from .inference import infer
from .rulebook import STRONG, ScenarioFile


def _write(path: str | None, text: str, out) -> None:
    if path and path != "-":
        Path(path).write_text(text, encoding="utf-8")
    else:
        out.write(text)


def run_infer(args, out=sys.stdout, err=sys.stderr) -> int:
    try:
        records = [read_record(path) for path in args.records]
        api = read_api_responses(args.mock) if args.mock else None
        plan = None
        if args.plan:
            from tracking_plan.schemas import PlanError, read_plan

            try:
                plan = read_plan(args.plan)
            except PlanError as exc:
                raise InputError(str(exc)) from None
    except InputError as exc:
        print(f"trackreplay infer: {exc}", file=err)
        return 2
    for path, record in zip(args.records, records):
        if not record:
            print(f"trackreplay infer: {path}: no events", file=err)
            return 2
    rules = infer(records, api=api, plan=plan)
    name = args.name or Path(args.records[0]).stem
    scenario = ScenarioFile(name=name, rules=rules, meta={"inferred_from": [Path(p).name for p in args.records]})
    _write(args.output, scenario.dumps(), out)
    events = len({rule.event for rule in rules})
    print(f"trackreplay infer: {len(rules)} rules for {events} events from {len(records)} record(s)"
          + (f" -> {args.output}" if args.output and args.output != "-" else ""), file=err)
    return 0


def format_text(result: Verification, events: list[dict]) -> str:
    lines = [f"pass rate {result.pass_rate:.1%} ({result.events_passed}/{result.events_total} events passed), "
             f"{len(result.strong)} strong and {len(result.anomalies) - len(result.strong)} weak anomalies"]
    by_event: dict[str, list] = {}
    for anomaly in result.anomalies:
        by_event.setdefault(anomaly.event, []).append(anomaly)
    for name in result.event_names:
        found = by_event.get(name, [])
        status = "FAIL" if name in result.failed_names else "ok  "
        lines.append(f"{status} {name}" + (f" ({len(found)} anomalies)" if found else ""))
        for anomaly in found:
            where = f"line {events[anomaly.index]['line']}" if anomaly.index is not None else "record"
            lines.append(f"     [{anomaly.strength}] {anomaly.rule.kind} {where}: {anomaly.message}")
    for rule, reason in result.skipped:
        lines.append(f"skipped {rule.label()}: {reason}")
    return "\n".join(lines) + "\n"


def format_json(result: Verification, events: list[dict]) -> str:
    data = result.to_dict()
    for anomaly in data["anomalies"]:
        if anomaly["index"] is not None:
            anomaly["index"] = events[anomaly["index"]]["line"] - 1  # the 0-based line in the file
    data["skipped"] = [{"rule": rule.kind, "event": rule.event, "property": rule.property, "reason": reason}
                       for rule, reason in result.skipped]
    return json.dumps(data, ensure_ascii=False, indent=1, default=repr) + "\n"  # repr: a value JSON cannot hold


def format_junit(result: Verification, events: list[dict], suite: str) -> str:
    by_event: dict[str, list] = {}
    for anomaly in result.anomalies:
        by_event.setdefault(anomaly.event, []).append(anomaly)
    cases = []
    for name in result.event_names:
        found = by_event.get(name, [])
        strong = [a for a in found if a.strength == STRONG]
        weak = [a for a in found if a.strength != STRONG]
        body = ""
        if strong:
            detail = "\n".join(f"{a.rule.kind} {a.property or ''} (event #{a.index}): {a.message}" for a in strong)
            body += f'<failure message={quoteattr(strong[0].message)} type="{len(strong)} strong anomalies">{escape(detail)}</failure>'
        if weak:
            body += "<system-out>" + escape("\n".join(f"weak {a.rule.kind}: {a.message}" for a in weak)) + "</system-out>"
        cases.append(f'  <testcase classname={quoteattr(suite)} name={quoteattr(name)}>{body}</testcase>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name={quoteattr(suite)} tests="{result.events_total}" '
            f'failures="{len(result.failed_names)}" errors="0">\n' + "\n".join(cases) + "\n</testsuite>\n")


def run_verify(args, out=sys.stdout, err=sys.stderr) -> int:
    try:
        scenario = read_scenario(args.scenario)
        api = read_api_responses(args.mock) if args.mock else None
        events = read_record(args.record)
    except InputError as exc:
        print(f"trackreplay verify: {exc}", file=err)
        return 2
    result = verify(events, scenario.rules, api=api)
    if args.format == "json":
        text = format_json(result, events)
    elif args.format == "junit":
        text = format_junit(result, events, scenario.name or Path(args.scenario).stem)
    else:
        text = format_text(result, events)
    _write(args.output, text, out)
    for rule, reason in result.skipped:
        print(f"trackreplay verify: skipped {rule.label()}: {reason}", file=err)
    return 1 if result.strong else 0


def add_parsers(sub) -> None:
    infer_parser = sub.add_parser("infer", help="learn a scenario's rules from known-good test records (JSON Lines)")
    infer_parser.add_argument("records", nargs="+", metavar="RECORD.jsonl")
    infer_parser.add_argument("--mock", metavar="MOCK.har", help="the mock record, for API mappings")
    infer_parser.add_argument("--plan", metavar="PLAN.json", help="tracking plan: required properties and owners")
    infer_parser.add_argument("--name", help="scenario name (default: the first record's file name)")
    infer_parser.add_argument("-o", "--output", required=True, metavar="SCENARIO.json")
    infer_parser.set_defaults(func=run_infer)

    verify_parser = sub.add_parser("verify", help="verify a test record against a scenario; exit 1 on strong anomalies")
    verify_parser.add_argument("record", metavar="RECORD.jsonl")
    verify_parser.add_argument("--scenario", required=True, metavar="SCENARIO.json")
    verify_parser.add_argument("--mock", metavar="MOCK.har", help="the mock record, for API mappings")
    verify_parser.add_argument("--format", choices=["text", "json", "junit"], default="text")
    verify_parser.add_argument("-o", "--output", metavar="OUT", help="write the report here instead of stdout")
    verify_parser.set_defaults(func=run_verify)
