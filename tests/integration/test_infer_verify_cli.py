"""`trackreplay infer` and `trackreplay verify` as CI pipelines call them: real processes, files on disk, the
exact output contract and exit codes."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.bench.rule_quality.simapp import clean_run, mock_har

TRACKREPLAY = [sys.executable, "-m", "trackreplay.cli"]


def run(*args, cwd):
    return subprocess.run([*TRACKREPLAY, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_record(path: Path, events):
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.fixture
def learnt(tmp_path):
    records = [write_record(tmp_path / f"rec{seed}.jsonl", clean_run(seed).events) for seed in (1, 2, 3)]
    mock = tmp_path / "mock.har"
    mock.write_text(json.dumps(mock_har()))
    scenario = tmp_path / "scenario.json"
    result = run("infer", *records, "--mock", mock, "-o", scenario, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path, scenario, mock


def test_infer_writes_a_scenario_file(learnt):
    _, scenario, _ = learnt
    data = json.loads(scenario.read_text())
    assert data["format"] == "trackreplay.scenario/1" and data["name"] == "rec1"
    kinds = {rule["kind"] for rule in data["rules"]}
    assert {"count", "required", "type", "regex", "api_mapping", "nested_array", "order", "trigger"} <= kinds


def test_a_clean_replay_passes_with_exit_0(learnt):
    tmp, scenario, mock = learnt
    record = write_record(tmp / "replay.jsonl", clean_run(77).events)
    result = run("verify", "--scenario", scenario, "--mock", mock, "--format", "json", record, cwd=tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"pass_rate", "events_total", "events_passed", "anomalies"}
    assert report["pass_rate"] == 1.0 and report["events_total"] == report["events_passed"] == 7
    assert all(a["strength"] == "weak" for a in report["anomalies"])


def test_a_regression_fails_with_exit_1_and_the_json_contract(learnt):
    tmp, scenario, mock = learnt
    events = clean_run(78).events
    broken = next(i for i, e in enumerate(events) if e["event"] == "product_click")
    events[broken]["properties"]["price"] = "12.5"
    events = [e for e in events if e["event"] != "checkout"]
    record = write_record(tmp / "broken.jsonl", events)
    out = tmp / "report.json"
    result = run("verify", "--scenario", scenario, "--mock", mock, "--format", "json", "-o", out, record, cwd=tmp)
    assert result.returncode == 1, result.stderr
    report = json.loads(out.read_text())
    anomalies = report["anomalies"]
    for anomaly in anomalies:
        assert set(anomaly) == {"event", "index", "rule", "property", "strength", "expected", "actual", "message"}
    price = [a for a in anomalies if a["event"] == "product_click" and a["property"] == "price" and a["rule"] == "type"]
    assert price and price[0]["index"] == broken and price[0]["actual"] == "12.5" and price[0]["strength"] == "strong"
    missing = [a for a in anomalies if a["event"] == "checkout" and a["rule"] == "count"]
    assert missing and missing[0]["index"] is None and "never fired" in missing[0]["message"]
    assert report["events_total"] == 7 and report["events_passed"] == 5
    assert report["pass_rate"] == pytest.approx(5 / 7)


def test_text_and_junit_formats(learnt):
    tmp, scenario, mock = learnt
    events = [e for e in clean_run(79).events if e["event"] != "tab_click"]
    record = write_record(tmp / "r.jsonl", events)
    text = run("verify", "--scenario", scenario, "--mock", mock, record, cwd=tmp)
    assert text.returncode == 1 and text.stdout.startswith("pass rate 85.7% (6/7 events passed)")
    assert "FAIL tab_click" in text.stdout and "ok   checkout" in text.stdout
    junit = run("verify", "--scenario", scenario, "--mock", mock, "--format", "junit", record, cwd=tmp)
    suite = ET.fromstring(junit.stdout)
    assert suite.get("tests") == "7" and suite.get("failures") == "1"
    failed = [case.get("name") for case in suite if case.find("failure") is not None]
    assert failed == ["tab_click"]


def test_a_malformed_line_is_bad_input_with_its_line_number(learnt):
    tmp, scenario, _ = learnt
    record = tmp / "bad.jsonl"
    record.write_text('{"event": "a", "properties": {}}\n\n{"event": "b", "properties": [}\n')
    result = run("verify", "--scenario", scenario, record, cwd=tmp)
    assert result.returncode == 2
    assert "bad.jsonl line 3: not valid JSON" in result.stderr
    result = run("infer", record, "-o", tmp / "x.json", cwd=tmp)
    assert result.returncode == 2 and "line 3" in result.stderr and not (tmp / "x.json").exists()


def test_a_bad_scenario_is_bad_input_naming_the_rule(tmp_path):
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"rules": [{"kind": "regex", "event": "e", "property": "p",
                                               "params": {"pattern": "(a)\\1"}}]}))
    record = write_record(tmp_path / "r.jsonl", [{"event": "e", "properties": {"p": "a"}}])
    result = run("verify", "--scenario", scenario, record, cwd=tmp_path)
    assert result.returncode == 2
    assert "rules[0]" in result.stderr and "not a valid RE2 expression" in result.stderr


def test_without_the_mock_api_mappings_are_skipped_and_said_so(learnt):
    tmp, scenario, _ = learnt
    record = write_record(tmp / "replay.jsonl", clean_run(80).events)
    result = run("verify", "--scenario", scenario, record, cwd=tmp)
    assert result.returncode == 0
    assert "skipped api_mapping rule" in result.stderr and "no mock record given" in result.stderr


def test_infer_takes_required_properties_and_owners_from_a_plan(tmp_path):
    record = write_record(tmp_path / "rec.jsonl", clean_run(1).events)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"title": "checkout", "type": "object", "required": ["coupon_code"],
                                 "properties": {"coupon_code": {"type": "string"}}}]))
    scenario = tmp_path / "s.json"
    result = run("infer", record, "--plan", plan, "-o", scenario, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rules = json.loads(scenario.read_text())["rules"]
    assert any(r["kind"] == "required" and r["event"] == "checkout" and r["property"] == "coupon_code"
               and r["evidence"]["source"] == "tracking plan" for r in rules)
    plan.write_text(json.dumps([{"title": "checkout", "type": "objekt"}]))
    result = run("infer", record, "--plan", plan, "-o", scenario, cwd=tmp_path)
    assert result.returncode == 2 and "not a valid JSON Schema" in result.stderr
