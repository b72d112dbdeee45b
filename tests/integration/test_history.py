"""History is immutable: the rules of a scenario version that is no longer current, or that a report was
verified against, cannot change or disappear through any path (model, bulk queryset writes, REST API, console,
Django admin); a version that is not current cannot be edited, and one a report points at cannot be deleted.
Reports keep showing the rules and anomalies they were verified with after new versions and one-click repairs."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from reports.models import Anomaly, Report
from scenarios.models import HistoryError, Rule, Scenario, ScenarioVersion
from test_records.models import Event

from .. import factories as f

pytestmark = pytest.mark.django_db


def snapshot(version):
    return [(r.pk, r.kind, r.event, r.property_path, r.params, r.strength, r.enabled, r.evidence)
            for r in Rule.objects.filter(version=version).order_by("pk")]


@pytest.fixture
def verified(project_a, client_a):
    """A scenario whose version 1 has two rules and a report with an anomaly (product_id missing)."""
    scenario = f.ScenarioFactory(project=project_a, name="Browse")
    v1 = scenario.current_version
    required = Rule.objects.create(version=v1, kind="required", event="product_click", property_path="product_id")
    enum = Rule.objects.create(version=v1, kind="enum", event="product_click", property_path="tab",
                               params={"values": ["home"]})
    record = f.TestRecordFactory(project=project_a)
    Event.objects.create(test_record=record, seq=0, name="product_click", properties={"tab": "home"})
    answer = client_a.post("/api/v1/reports/verify/", {"test_record": record.pk, "scenario": scenario.pk},
                           format="json")
    assert answer.status_code == 201, answer.content
    report = Report.objects.get(pk=answer.json()["id"])
    anomaly = report.anomalies.get()
    assert anomaly.rule_id == required.pk
    return scenario, v1, required, enum, report


def newer(scenario):
    scenario.refresh_from_db()
    version = scenario.new_version(note="next")
    scenario.refresh_from_db()
    return version


# -- the model layer: every write path refuses ---------------------------------------------------------------------

WRITES = {
    "save": lambda rule, current: (setattr(rule, "params", {"values": ["x"]}), rule.save()),
    "delete": lambda rule, current: rule.delete(),
    "queryset update": lambda rule, current: Rule.objects.filter(pk=rule.pk).update(enabled=False),
    "queryset delete": lambda rule, current: Rule.objects.filter(pk=rule.pk).delete(),
    "all rules update": lambda rule, current: Rule.objects.all().update(strength="weak"),
    "bulk_update": lambda rule, current: Rule.objects.bulk_update(
        [setattr(rule, "enabled", False) or rule], ["enabled"]),
    "create in it": lambda rule, current: Rule.objects.create(version=rule.version, kind="required", event="e",
                                                              property_path="p"),
    "bulk_create in it": lambda rule, current: Rule.objects.bulk_create(
        [Rule(version=rule.version, kind="required", event="e", property_path="p")]),
    "move out to the current version": lambda rule, current: (setattr(rule, "version", current), rule.save()),
    "move in from the current version": lambda rule, current: Rule.objects.filter(version=current).update(
        version=rule.version),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_rules_of_a_version_that_is_not_current_cannot_change(verified, write):
    scenario, v1, required, enum, _ = verified
    v2 = newer(scenario)
    before = snapshot(v1)
    with pytest.raises(HistoryError, match=r"version 1 of scenario 'Browse' is history"):
        WRITES[write](Rule.objects.get(pk=enum.pk), v2)
    assert snapshot(v1) == before


@pytest.mark.parametrize("write", sorted(set(WRITES) - {"move out to the current version",
                                                        "move in from the current version"}))
def test_rules_of_a_current_version_with_reports_cannot_change(verified, write):
    scenario, v1, required, enum, report = verified
    before = snapshot(v1)
    with pytest.raises(HistoryError, match="reports were verified against it"):
        WRITES[write](Rule.objects.get(pk=enum.pk), v1)
    assert snapshot(v1) == before


def test_rules_of_the_current_version_without_reports_change_freely(verified):
    scenario, v1, _, enum, _ = verified
    v2 = newer(scenario)
    rule = v2.copy_of(enum)
    rule.params = {"values": ["home", "cart"]}
    rule.save()
    Rule.objects.filter(version=v2).update(strength="weak")
    Rule.objects.create(version=v2, kind="required", event="e", property_path="p").delete()
    assert Rule.objects.get(pk=rule.pk).strength == "weak"


def test_a_version_that_is_not_current_cannot_be_edited_and_one_with_reports_cannot_be_deleted(verified):
    scenario, v1, _, _, report = verified
    v1.note = "rewritten"
    v1.save()  # still current: its note may change
    v2 = newer(scenario)
    v1 = ScenarioVersion.objects.get(pk=v1.pk)
    v1.note = "rewritten again"
    with pytest.raises(HistoryError, match="version 1 of scenario 'Browse' is history"):
        v1.save()
    with pytest.raises(HistoryError):
        ScenarioVersion.objects.filter(pk=v1.pk).update(note="x")
    for delete in (lambda: v1.delete(), lambda: ScenarioVersion.objects.filter(pk=v1.pk).delete(),
                   lambda: ScenarioVersion.objects.filter(scenario=scenario).delete()):
        with pytest.raises(HistoryError, match="reports were verified against it, so it cannot be deleted"):
            delete()
    assert ScenarioVersion.objects.get(pk=v1.pk).note == "rewritten"
    assert Rule.objects.filter(version=v1).count() == 2
    v2.note = "fine"
    v2.save()
    ScenarioVersion.objects.filter(pk=v2.pk).update(note="fine too")


def test_a_version_that_is_not_current_cannot_be_deleted_even_without_reports(project_a):
    """Deleting a version would take its rules along by cascade, past Rule.delete: refused for history."""
    scenario = f.ScenarioFactory(project=project_a, name="Cart")
    v1 = scenario.current_version
    Rule.objects.create(version=v1, kind="required", event="add_to_cart", property_path="sku")
    newer(scenario)
    for delete in (lambda: ScenarioVersion.objects.get(pk=v1.pk).delete(),
                   lambda: ScenarioVersion.objects.filter(pk=v1.pk).delete()):
        with pytest.raises(HistoryError, match="version 1 of scenario 'Cart' is history"):
            delete()
    assert Rule.objects.filter(version=v1).count() == 1


# -- the REST API ------------------------------------------------------------------------------------------------

def test_the_api_answers_409_naming_the_version_and_changes_nothing(verified, client_a):
    scenario, v1, required, enum, _ = verified
    v2 = newer(scenario)
    before = snapshot(v1)
    attempts = [
        client_a.patch(f"/api/v1/rules/{enum.pk}/", {"params": {"values": ["x"]}}, format="json"),
        client_a.put(f"/api/v1/rules/{enum.pk}/", {"version": v1.pk, "kind": "enum", "event": "product_click",
                                                   "property_path": "tab", "params": {"values": ["x"]}},
                     format="json"),
        client_a.patch(f"/api/v1/rules/{v2.copy_of(enum).pk}/", {"version": v1.pk}, format="json"),
        client_a.delete(f"/api/v1/rules/{required.pk}/"),
        client_a.post("/api/v1/rules/", {"version": v1.pk, "kind": "required", "event": "e", "property_path": "p"},
                      format="json"),
    ]
    for answer in attempts:
        assert answer.status_code == 409, answer.content
        assert "version 1 of scenario 'Browse' is history" in answer.json()["detail"]
        assert answer.json()["version"] == v1.pk
    assert snapshot(v1) == before
    # The current version, which no report used yet, is edited as before.
    assert client_a.patch(f"/api/v1/rules/{v2.copy_of(enum).pk}/", {"strength": "weak"},
                          format="json").status_code == 200


def test_the_api_refuses_to_edit_a_current_version_that_reports_used(verified, client_a):
    scenario, v1, _, enum, _ = verified
    answer = client_a.patch(f"/api/v1/rules/{enum.pk}/", {"enabled": False}, format="json")
    assert answer.status_code == 409 and "make a new version" in answer.json()["detail"]
    assert Rule.objects.get(pk=enum.pk).enabled


def test_a_scenario_whose_versions_reports_point_at_cannot_be_deleted(verified, client_a):
    scenario, v1, *_ = verified
    answer = client_a.delete(f"/api/v1/scenarios/{scenario.pk}/")
    assert answer.status_code == 409, answer.content
    assert Scenario.objects.filter(pk=scenario.pk).exists() and Rule.objects.filter(version=v1).count() == 2


def test_one_click_repair_makes_a_new_version_and_the_old_report_is_unchanged(verified, client_a):
    scenario, v1, required, enum, report = verified
    before = snapshot(v1)
    old_rules = client_a.get(f"/api/v1/scenario-versions/{v1.pk}/rules/").json()
    old_anomalies = client_a.get("/api/v1/anomalies/", {"report": report.pk}).json()["results"]
    anomaly = report.anomalies.get()
    answer = client_a.post(f"/api/v1/anomalies/{anomaly.pk}/repair/", {"action": "make_optional"}, format="json")
    assert answer.status_code == 201, answer.content
    scenario.refresh_from_db()
    assert scenario.current_version.number == 2 and answer.json()["version"] == scenario.current_version_id
    assert not scenario.current_version.copy_of(required) and scenario.current_version.rules.count() == 2
    # The old version, its report and the report's anomalies are exactly as they were.
    assert snapshot(v1) == before
    assert client_a.get(f"/api/v1/scenario-versions/{v1.pk}/rules/").json() == old_rules
    report.refresh_from_db()
    assert report.scenario_version_id == v1.pk
    now = client_a.get("/api/v1/anomalies/", {"report": report.pk}).json()["results"]
    assert [(a["id"], a["rule"], a["message"]) for a in now] == [(a["id"], a["rule"], a["message"])
                                                                 for a in old_anomalies]
    assert Rule.objects.filter(pk=now[0]["rule"], version=v1).exists()  # still the rule it was checked with
    # A repair from the old report again cannot reach the old version either.
    again = client_a.post(f"/api/v1/anomalies/{anomaly.pk}/repair/", {"action": "turn_weak"}, format="json")
    assert again.status_code == 400 and "no longer current" in again.json()["action"][0]
    assert snapshot(v1) == before


def test_inference_makes_a_new_version_and_leaves_the_old_one(verified, client_a, project_a):
    scenario, v1, *_ = verified
    before = snapshot(v1)
    record = f.TestRecordFactory(project=project_a)
    Event.objects.create(test_record=record, seq=0, name="signup", properties={"plan": "pro"})
    answer = client_a.post(f"/api/v1/scenarios/{scenario.pk}/infer/", {"test_records": [record.pk]}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["id"] != v1.pk and snapshot(v1) == before


def test_global_rules_used_by_a_report_are_history_too(project_a, client_a):
    global_scenario = f.ScenarioFactory(project=project_a, name="Global", is_global=True)
    shared = Rule.objects.create(version=global_scenario.current_version, kind="required", event="product_click",
                                 property_path="user_id")
    scenario = f.ScenarioFactory(project=project_a, name="Browse")
    record = f.TestRecordFactory(project=project_a)
    Event.objects.create(test_record=record, seq=0, name="product_click", properties={})
    answer = client_a.post("/api/v1/reports/verify/", {"test_record": record.pk, "scenario": scenario.pk},
                           format="json")
    assert answer.json()["global_version"] == global_scenario.current_version_id
    anomaly = Anomaly.objects.get(report_id=answer.json()["id"])
    assert anomaly.rule_id == shared.pk
    refused = client_a.patch(f"/api/v1/rules/{shared.pk}/", {"strength": "weak"}, format="json")
    assert refused.status_code == 409 and "version 1 of scenario 'Global'" in refused.json()["detail"]
    assert Rule.objects.get(pk=shared.pk).strength == "strong"
    with pytest.raises(HistoryError):
        global_scenario.current_version.delete()


# -- the console -------------------------------------------------------------------------------------------------

@pytest.fixture
def console(member_a):
    client = Client()
    client.force_login(member_a)
    return client


def test_the_scenario_editor_saves_edits_as_a_new_version_and_cannot_reach_old_rules(verified, console, project_a):
    scenario, v1, _, enum, _ = verified
    before = snapshot(v1)
    url = f"/p/{project_a.slug}/scenarios/{scenario.pk}/rules/{enum.pk}/"
    console.post(url, {"params": '{"values": ["home", "cart"]}', "enabled": "on", "strength": "strong"})
    scenario.refresh_from_db()
    assert scenario.current_version.number == 2
    assert scenario.current_version.copy_of(enum) is None  # the copy was edited
    assert snapshot(v1) == before
    # The old rule's id no longer reaches anything in the editor.
    assert console.post(url, {"params": '{"values": []}', "strength": "weak"}).status_code == 404
    assert snapshot(v1) == before


def test_the_console_shows_the_exact_version_a_report_used_after_a_repair(verified, console, project_a):
    scenario, v1, required, enum, report = verified
    anomaly = report.anomalies.get()
    console.post(f"/p/{project_a.slug}/reports/{report.pk}/anomalies/{anomaly.pk}/repair/",
                 {"action": "add_to_enum"}, follow=True)  # does not fit a required rule: refused, nothing made
    assert ScenarioVersion.objects.filter(scenario=scenario).count() == 1
    console.post(f"/p/{project_a.slug}/reports/{report.pk}/anomalies/{anomaly.pk}/repair/",
                 {"action": "make_optional"})
    scenario.refresh_from_db()
    assert scenario.current_version.number == 2
    page = console.get(f"/p/{project_a.slug}/reports/{report.pk}/").content.decode()
    assert f'/p/{project_a.slug}/scenario-versions/{v1.pk}/"' in page
    version_page = console.get(f"/p/{project_a.slug}/scenario-versions/{v1.pk}/").content.decode()
    assert "is history" in version_page and "product_id" in version_page and "tab" in version_page
    assert snapshot(v1)[0][6] is True  # the required rule of version 1 is still enabled


# -- the Django admin --------------------------------------------------------------------------------------------

@pytest.fixture
def staff(member_a):
    member_a.is_staff = member_a.is_superuser = True
    member_a.save()
    client = Client()
    client.force_login(member_a)
    return client


def test_the_admin_shows_history_read_only(verified, staff):
    scenario, v1, required, enum, _ = verified
    v2 = newer(scenario)
    before = snapshot(v1)
    change = staff.post(f"/admin/scenarios/rule/{enum.pk}/change/",
                        {"version": v1.pk, "kind": "enum", "event": "product_click", "property_path": "tab",
                         "params": '{"values": ["x"]}', "strength": "strong", "enabled": "on", "evidence": "{}"})
    assert change.status_code == 403
    assert staff.post(f"/admin/scenarios/rule/{enum.pk}/delete/", {"post": "yes"}).status_code == 403
    added = staff.post("/admin/scenarios/rule/add/",
                       {"version": v1.pk, "kind": "required", "event": "e", "property_path": "p", "params": "{}",
                        "strength": "strong", "enabled": "on", "evidence": "{}"})
    assert added.status_code == 200 and "is history" in added.content.decode()
    assert staff.post(f"/admin/scenarios/scenarioversion/{v1.pk}/change/",
                      {"scenario": scenario.pk, "number": 1, "note": "x"}).status_code == 403
    assert staff.post(f"/admin/scenarios/scenarioversion/{v1.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = staff.get("/admin/scenarios/rule/").content.decode()
    assert "delete_selected" not in listing
    assert snapshot(v1) == before and ScenarioVersion.objects.get(pk=v1.pk).note == "created"
    # The current version, unused by reports, stays editable in the admin.
    current = v2.copy_of(enum)
    assert staff.get(f"/admin/scenarios/rule/{current.pk}/change/").status_code == 200
    assert staff.get(f"/admin/scenarios/scenarioversion/{v2.pk}/change/").status_code == 200
