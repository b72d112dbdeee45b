"""Learning, verifying and one-click repair through the REST API, on stored records of the simulated app."""

import json

import pytest

from accounts.models import Role
from reports.models import Anomaly, Report
from scenarios.models import Rule
from test_records.models import Event, TestRecord
from tests import factories as f
from tests.bench.rule_quality.simapp import api_responses, clean_run


def store(project, name, run, mock=None, events=None):
    record = TestRecord.objects.create(project=project, name=name, mock_record=mock, steps=run.steps)
    Event.objects.bulk_create(
        Event(test_record=record, seq=i, name=e["event"], properties=e["properties"], client_time=e["time"],
              distinct_id=e["distinct_id"], step=e["step"])
        for i, e in enumerate(events if events is not None else run.events))
    return record


@pytest.fixture
def learnt(project_a, client_a):
    mock = f.MockRecordFactory(project=project_a)
    for order, response in enumerate(api_responses()):
        f.ExchangeFactory(mock_record=mock, order=order, method=response.method, host=response.host,
                          path=response.path, response_body_inline=json.dumps(response.body).encode())
    records = [store(project_a, f"baseline {seed}", clean_run(seed), mock) for seed in (1, 2, 3)]
    scenario = f.ScenarioFactory(project=project_a)
    answer = client_a.post(f"/api/v1/scenarios/{scenario.pk}/infer/", {"test_records": [r.pk for r in records]},
                           format="json")
    assert answer.status_code == 201, answer.content
    return scenario, mock, records


def test_infer_creates_a_new_current_version_with_evidence(learnt, client_a):
    scenario, _, _ = learnt
    scenario.refresh_from_db()
    assert scenario.current_version.number == 2 and "inferred from baseline 1" in scenario.current_version.note
    rules = Rule.objects.filter(version=scenario.current_version)
    assert rules.filter(kind="api_mapping").exists() and rules.filter(kind="nested_array").exists()
    assert all("records" in r.evidence for r in rules)


def test_verify_a_clean_replay_then_repair_an_anomaly_in_one_click(learnt, client_a, project_a):
    scenario, mock, records = learnt
    clean = store(project_a, "replay clean", clean_run(70), mock)
    answer = client_a.post("/api/v1/reports/verify/", {"test_record": clean.pk, "scenario": scenario.pk,
                                                       "baseline_record": records[0].pk}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["pass_rate"] == 1.0 and answer.json()["status"] == "done"

    run = clean_run(71)
    events = [dict(e, properties=dict(e["properties"])) for e in run.events]
    checkout = next(e for e in events if e["event"] == "checkout")
    checkout["properties"]["payment_method"] = "alipay"  # a new payment method: not a defect
    changed = store(project_a, "replay alipay", run, mock, events)
    report = client_a.post("/api/v1/reports/verify/", {"test_record": changed.pk, "scenario": scenario.pk},
                           format="json").json()
    assert report["strong_anomalies"] >= 1 and report["pass_rate"] < 1.0
    anomaly = Anomaly.objects.get(report_id=report["id"], event_name="checkout", property_path="payment_method")
    listed = client_a.get(f"/api/v1/anomalies/{anomaly.pk}/").json()
    assert "add_to_enum" in listed["repairs"] and listed["raw_event"]["properties"]["payment_method"] == "alipay"

    repaired = client_a.post(f"/api/v1/anomalies/{anomaly.pk}/repair/", {"action": "add_to_enum"}, format="json")
    assert repaired.status_code == 201, repaired.content
    body = repaired.json()
    assert "added 'alipay'" in body["change"]
    new_report = Report.objects.get(pk=body["report"])
    assert new_report.supersedes_id == report["id"] and new_report.note == body["change"]
    assert new_report.pass_rate == 1.0 and new_report.strong_anomalies == 0
    assert new_report.scenario_version.number == 3 and new_report.scenario_version.note.startswith("repair:")
    assert Anomaly.objects.get(pk=anomaly.pk).status == "repaired"
    # The other stored record verified against the old rules was re-verified too, without a device.
    assert Report.objects.filter(test_record=clean, supersedes__isnull=False, scenario_version__number=3).exists()
    # And the rule really changed in the new version only.
    enum = Rule.objects.get(version=new_report.scenario_version, event="checkout", property_path="payment_method",
                            kind__in=["enum", "baseline"])
    assert "alipay" in enum.params["values"]


def test_a_repair_that_does_not_fit_is_refused_with_the_reason(learnt, client_a, project_a):
    scenario, mock, _ = learnt
    run = clean_run(72)
    events = [e for e in run.events if e["event"] != "tab_click"]
    record = store(project_a, "replay missing", run, mock, events)
    report = client_a.post("/api/v1/reports/verify/", {"test_record": record.pk, "scenario": scenario.pk},
                           format="json").json()
    anomaly = Anomaly.objects.get(report_id=report["id"], event_name="tab_click", rule_kind="count")
    answer = client_a.post(f"/api/v1/anomalies/{anomaly.pk}/repair/", {"action": "add_to_enum"}, format="json")
    assert answer.status_code == 400 and "does not apply to a count rule" in answer.json()["action"][0]


def test_viewers_can_read_reports_but_not_verify_or_repair(learnt, client_a, project_a, make_member, api_client):
    scenario, mock, records = learnt
    report = client_a.post("/api/v1/reports/verify/", {"test_record": records[0].pk, "scenario": scenario.pk},
                           format="json").json()
    viewer = make_member(project_a, Role.VIEWER)
    api_client.force_authenticate(viewer)
    assert api_client.get(f"/api/v1/reports/{report['id']}/").status_code == 200
    answer = api_client.post("/api/v1/reports/verify/", {"test_record": records[0].pk, "scenario": scenario.pk},
                             format="json")
    assert answer.status_code == 403


def test_rules_saved_through_the_api_are_validated_by_the_engine(learnt, client_a):
    scenario, _, _ = learnt
    version = scenario.current_version
    answer = client_a.post("/api/v1/rules/", {"version": version.pk, "kind": "regex", "event": "e",
                                              "property_path": "p", "params": {"pattern": "(a)\\1"}}, format="json")
    assert answer.status_code == 400 and "not a valid RE2 expression" in json.dumps(answer.json())
