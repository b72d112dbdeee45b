"""Every API endpoint is scoped to the caller's projects: a member of project A sees none of project B's
objects (404 on detail, absent from lists, 404 on change) and cannot create anything inside project B.
The tests are driven by the router's own route list, so an endpoint added without scoping fails here."""

import base64

import pytest

from accounts.models import Project
from automation.models import DeviceRequest
from mock_records.models import ChangeRecord, LiveCheck
from sdk_bridge.models import EndpointRule
from trackreplay.api_router import ROUTES

from .. import factories as f

# prefix -> function(project, owner) building one object of that endpoint inside `project`.
OBJECT_IN = {
    "projects": lambda p, owner: p,
    "memberships": lambda p, owner: p.memberships.get(user=owner),
    "users": lambda p, owner: owner,
    "tokens": lambda p, owner: f.PersonalTokenFactory(user=owner),
    "event-definitions": lambda p, owner: f.EventDefinitionFactory(project=p),
    "property-definitions": lambda p, owner: f.PropertyDefinitionFactory(event=f.EventDefinitionFactory(project=p)),
    "faults": lambda p, owner: f.FaultFactory(project=p),
    "scenarios": lambda p, owner: f.ScenarioFactory(project=p),
    "scenario-versions": lambda p, owner: f.ScenarioFactory(project=p).current_version,
    "rules": lambda p, owner: f.RuleFactory(version=f.ScenarioFactory(project=p).current_version),
    "mock-records": lambda p, owner: f.MockRecordFactory(project=p),
    "exchanges": lambda p, owner: f.ExchangeFactory(mock_record=f.MockRecordFactory(project=p)),
    "global-mocks": lambda p, owner: f.GlobalMockFactory(project=p),
    "required-interfaces": lambda p, owner: f.RequiredInterfaceFactory(project=p),
    "change-records": lambda p, owner: ChangeRecord.objects.create(
        exchange=f.ExchangeFactory(mock_record=f.MockRecordFactory(project=p)), live_status=200,
        changes=[{"path": "a", "kind": "added", "recorded": [], "live": ["string"]}], suggested_body=b"{}"),
    "live-checks": lambda p, owner: LiveCheck.objects.create(mock_record=f.MockRecordFactory(project=p)),
    "test-records": lambda p, owner: f.TestRecordFactory(project=p),
    "events": lambda p, owner: f.EventFactory(test_record=f.TestRecordFactory(project=p)),
    "reports": lambda p, owner: f.ReportFactory(project=p),
    "anomalies": lambda p, owner: f.AnomalyFactory(report=f.ReportFactory(project=p)),
    "agents": lambda p, owner: f.AgentFactory(project=p),
    "agent-tokens": lambda p, owner: f.AgentTokenFactory(agent=f.AgentFactory(project=p)),
    "devices": lambda p, owner: f.DeviceFactory(project=p),
    "device-requests": lambda p, owner: DeviceRequest.objects.create(
        device=f.DeviceFactory(project=p), kind="screenshot"),
    "scripts": lambda p, owner: f.ScriptFactory(project=p),
    "tasks": lambda p, owner: f.TaskFactory(project=p),
    "task-groups": lambda p, owner: f.TaskGroupFactory(project=p),
    "runs": lambda p, owner: f.RunFactory(project=p),
    "notification-channels": lambda p, owner: f.NotificationChannelFactory(project=p),
    "endpoint-rules": lambda p, owner: EndpointRule.objects.create(project=p, decoder="sensorsdata", path="/sa*"),
}

# prefix -> function(project) giving a valid create payload aimed at `project`; None for endpoints that
# do not create project objects (read-only, or owned by the caller rather than a project).
CREATE_IN = {
    "projects": None,
    "users": None,
    "tokens": None,
    "reports": None,
    "change-records": None,
    "live-checks": None,
    "device-requests": None,  # made by asking a device (devices/{id}/check-https/, screenshot/)
    "anomalies": None,
    # someone who already shares a project with the caller (the only people an admin may add by username)
    "memberships": lambda p: {"project": p.pk, "role": "viewer", "user": f.MembershipFactory(
        project=f.MembershipFactory(user=p.memberships.order_by("pk").first().user).project).user.username},
    "event-definitions": lambda p: {"project": p.pk, "name": "signup"},
    "property-definitions": lambda p: {"event": f.EventDefinitionFactory(project=p).pk, "name": "plan",
                                       "type": "string"},
    "faults": lambda p: {"project": p.pk, "title": "tab_name wrong"},
    "scenarios": lambda p: {"project": p.pk, "name": "Checkout"},
    "scenario-versions": lambda p: {"scenario": f.ScenarioFactory(project=p).pk, "note": "relaxed"},
    "rules": lambda p: {"version": f.ScenarioFactory(project=p).current_version.pk, "kind": "required",
                        "event": "signup", "property_path": "plan"},
    "mock-records": lambda p: {"project": p.pk, "name": "Feed"},
    "exchanges": lambda p: {"mock_record": f.MockRecordFactory(project=p).pk, "method": "GET", "host": "a.test",
                            "path": "/", "response_body_b64": base64.b64encode(b"\x00\x01").decode()},
    "global-mocks": lambda p: {"project": p.pk, "name": "No popups", "path": "/api/popup/*"},
    "required-interfaces": lambda p: {"project": p.pk, "name": "A/B config", "path": "/api/abtest"},
    "test-records": lambda p: {"project": p.pk, "name": "Upload"},
    "events": lambda p: {"test_record": f.TestRecordFactory(project=p).pk, "seq": 0, "name": "signup",
                         "properties": {"plan": "pro"}},
    "agents": lambda p: {"project": p.pk, "name": "lab-1"},
    "agent-tokens": lambda p: {"agent": f.AgentFactory(project=p).pk, "name": "rollout"},
    "devices": lambda p: {"project": p.pk, "name": "Pixel", "platform": "android"},
    "scripts": lambda p: {"project": p.pk, "name": "Browse", "path": "browse.yaml", "platform": "web",
                          "source": "app: http://127.0.0.1:8765/\nsteps:\n  - launch\n"},
    "tasks": lambda p: {"project": p.pk, "name": "Browse", "script": f.ScriptFactory(project=p).pk},
    "task-groups": lambda p: {"project": p.pk, "name": "Nightly", "cron": "0 2 * * *", "time_zone": "UTC"},
    "runs": lambda p: {"project": p.pk, "task": f.TaskFactory(project=p).pk, "mode": "record"},
    "notification-channels": lambda p: {"project": p.pk, "name": "QA", "kind": "webhook",
                                        "target": "https://hooks.example.test/x"},
    "endpoint-rules": lambda p: {"project": p.pk, "decoder": "generic", "path": "/track/*",
                                 "options": {"events": "list"}},
}

PREFIXES = [prefix for prefix, _ in ROUTES]
CREATABLE = [prefix for prefix in PREFIXES if CREATE_IN.get(prefix)]


def test_every_endpoint_has_a_scoping_case():
    assert set(OBJECT_IN) == set(PREFIXES)
    assert set(CREATE_IN) == set(PREFIXES)


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", PREFIXES)
def test_member_of_a_gets_404_for_project_b_objects(prefix, client_a, member_a, member_b, project_a, project_b):
    theirs = OBJECT_IN[prefix](project_b, member_b)
    mine = OBJECT_IN[prefix](project_a, member_a)

    listed = _ids(client_a.get(f"/api/v1/{prefix}/"))
    assert mine.pk in listed
    assert theirs.pk not in listed

    assert client_a.get(f"/api/v1/{prefix}/{mine.pk}/").status_code == 200
    assert client_a.get(f"/api/v1/{prefix}/{theirs.pk}/").status_code == 404
    assert client_a.patch(f"/api/v1/{prefix}/{theirs.pk}/", {}, format="json").status_code in (404, 405)
    assert client_a.delete(f"/api/v1/{prefix}/{theirs.pk}/").status_code in (404, 405)
    # Still there, unchanged, for its own members.
    assert type(theirs).objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", CREATABLE)
def test_member_of_a_cannot_create_inside_project_b(prefix, client_a, project_a, project_b, member_b):
    payload = CREATE_IN[prefix](project_b)
    model = dict(ROUTES)[prefix].queryset.model
    before = model.objects.count()
    response = client_a.post(f"/api/v1/{prefix}/", payload, format="json")
    assert response.status_code == 400, response.content
    # The error names the field that points into project B.
    assert set(response.json()) & set(payload), response.json()
    assert model.objects.count() == before

    # The same payload aimed at the caller's own project is accepted.
    response = client_a.post(f"/api/v1/{prefix}/", CREATE_IN[prefix](project_a), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_related_objects_must_share_the_project(make_member, project_a, project_b):
    both = make_member(project_a)
    from accounts.models import Membership

    Membership.objects.create(project=project_b, user=both, role="qa")
    client = __import__("rest_framework.test", fromlist=["APIClient"]).APIClient()
    client.force_authenticate(both)
    foreign_script = f.ScriptFactory(project=project_b)
    response = client.post("/api/v1/tasks/", {"project": project_a.pk, "name": "Mixed",
                                              "script": foreign_script.pk}, format="json")
    assert response.status_code == 400
    assert "belongs to project 'beta', not 'alpha'" in response.json()["script"][0]


@pytest.mark.django_db
def test_objects_cannot_move_to_another_project(make_member, project_a, project_b):
    both = make_member(project_a, "admin")
    from accounts.models import Membership
    from rest_framework.test import APIClient

    Membership.objects.create(project=project_b, user=both, role="admin")
    client = APIClient()
    client.force_authenticate(both)
    record = f.MockRecordFactory(project=project_a)
    response = client.patch(f"/api/v1/mock-records/{record.pk}/", {"project": project_b.pk}, format="json")
    assert response.status_code == 400
    assert "cannot move" in response.json()["project"][0]


@pytest.mark.django_db
def test_owner_fields_accept_only_members_of_the_project(client_a, project_a, member_b):
    response = client_a.post("/api/v1/event-definitions/", {"project": project_a.pk, "name": "e",
                                                            "owner_rd": member_b.pk}, format="json")
    assert response.status_code == 400
    assert "owner_rd" in response.json()


@pytest.mark.django_db
def test_anonymous_callers_get_401(api_client, project_a):
    for prefix in PREFIXES:
        assert api_client.get(f"/api/v1/{prefix}/").status_code == 401, prefix


@pytest.mark.django_db
def test_a_new_project_makes_its_creator_admin(client_a, member_a):
    response = client_a.post("/api/v1/projects/", {"name": "Gamma", "slug": "gamma"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "admin"
    assert Project.objects.get(slug="gamma").memberships.get().user == member_a
