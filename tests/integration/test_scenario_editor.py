"""The scenario editor in the console: rules by event with evidence; edits make new versions; bad edits are
refused with the reason; learning from records; viewers read only."""

import json

import pytest
from django.test import Client

from accounts.models import Role
from scenarios.models import Rule
from tests import factories as f
from tests.integration.test_verification_api import store
from tests.bench.rule_quality.simapp import clean_run


@pytest.fixture
def editor(project_a, make_member):
    user = make_member(project_a, Role.QA)
    client = Client()
    client.force_login(user)
    scenario = f.ScenarioFactory(project=project_a, name="Checkout")
    records = [store(project_a, f"baseline {s}", clean_run(s)) for s in (1, 2)]
    answer = client.post(f"/p/{project_a.slug}/scenarios/{scenario.pk}/infer/", {"records": [r.pk for r in records]})
    assert answer.status_code == 302
    scenario.refresh_from_db()
    return client, scenario


def test_rules_are_shown_by_event_with_their_evidence(editor, project_a):
    client, scenario = editor
    page = client.get(f"/p/{project_a.slug}/scenarios/{scenario.pk}/").content.decode()
    assert "Learnt" in page and 'data-event="checkout"' in page and "samples" in page
    assert f"v{scenario.current_version.number}" in page


def test_an_edit_makes_a_new_version_and_leaves_the_old_one(editor, project_a):
    client, scenario = editor
    old = scenario.current_version
    rule = old.rules.get(event="checkout", property_path="currency", kind="baseline")
    answer = client.post(f"/p/{project_a.slug}/scenarios/{scenario.pk}/rules/{rule.pk}/",
                         {"params": json.dumps({"value": "USD"}), "strength": "weak", "enabled": "on"})
    assert answer.status_code == 302
    scenario.refresh_from_db()
    assert scenario.current_version.number == old.number + 1
    edited = scenario.current_version.rules.get(event="checkout", property_path="currency", kind="baseline")
    assert edited.params == {"value": "USD"} and edited.strength == "weak" and edited.enabled
    assert Rule.objects.get(pk=rule.pk).params == {"value": "CNY"}  # history kept
    assert scenario.current_version.rules.count() == old.rules.count()


def test_a_bad_edit_is_refused_with_the_reason_and_saves_nothing(editor, project_a):
    client, scenario = editor
    version = scenario.current_version
    rule = version.rules.filter(kind="regex").first()
    answer = client.post(f"/p/{project_a.slug}/scenarios/{scenario.pk}/rules/{rule.pk}/",
                         {"params": json.dumps({"pattern": "(a)\\1"}), "strength": "strong", "enabled": "on"},
                         follow=True)
    assert "not a valid RE2 expression" in answer.content.decode()
    scenario.refresh_from_db()
    assert scenario.current_version == version


def test_viewers_see_rules_but_no_edit_controls(editor, project_a, make_member):
    _, scenario = editor
    viewer = make_member(project_a, Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    page = client.get(f"/p/{project_a.slug}/scenarios/{scenario.pk}/").content.decode()
    assert 'data-event="checkout"' in page and "<textarea" not in page
    rule = scenario.current_version.rules.first()
    assert client.post(f"/p/{project_a.slug}/scenarios/{scenario.pk}/rules/{rule.pk}/", {}).status_code == 404
