"""Session, personal-token and agent-token authentication; roles decide who may change what."""

import pytest
from rest_framework.test import APIClient

from accounts.models import PersonalToken, Role, hash_token
from automation.models import AgentToken

from .. import factories as f


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db
def test_personal_token_is_shown_once_and_stored_hashed(client_a, project_a):
    response = client_a.post("/api/v1/tokens/", {"name": "GitLab CI"}, format="json")
    assert response.status_code == 201
    plaintext = response.json()["token"]
    assert plaintext.startswith("trp_")
    stored = PersonalToken.objects.get()
    assert stored.token_hash == hash_token(plaintext) and plaintext not in stored.token_hash
    listed = client_a.get("/api/v1/tokens/").json()["results"][0]
    assert listed.get("token") is None and listed["hint"] == plaintext[:10]

    ci = bearer(plaintext)
    assert [p["slug"] for p in ci.get("/api/v1/projects/").json()["results"]] == ["alpha"]
    stored.refresh_from_db()
    assert stored.last_used_at is not None


@pytest.mark.django_db
def test_revoked_personal_token_is_refused(client_a):
    plaintext = client_a.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    token_id = PersonalToken.objects.get().pk
    assert client_a.delete(f"/api/v1/tokens/{token_id}/").status_code == 204
    response = bearer(plaintext).get("/api/v1/projects/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert PersonalToken.objects.get().revoked_at is not None  # kept for the audit trail


@pytest.mark.django_db
def test_unknown_and_malformed_tokens_are_refused(project_a):
    assert bearer("trp_not-a-real-token").get("/api/v1/projects/").status_code == 401
    assert bearer("abc").get("/api/v1/projects/").json()["detail"].startswith("Unknown token type")


@pytest.mark.django_db
def test_agent_token_reads_only_its_project_and_changes_things_only_through_the_agents_api(client_a, project_a,
                                                                                          project_b):
    agent = f.AgentFactory(project=project_a)
    response = client_a.post("/api/v1/agent-tokens/", {"agent": agent.pk, "name": "lab"}, format="json")
    assert response.status_code == 201
    plaintext = response.json()["token"]
    assert plaintext.startswith("tra_")
    assert AgentToken.objects.get().token_hash == hash_token(plaintext)

    mine = f.DeviceFactory(project=project_a)
    theirs = f.DeviceFactory(project=project_b)
    run = f.RunFactory(project=project_a)
    as_agent = bearer(plaintext)
    assert {d["id"] for d in as_agent.get("/api/v1/devices/").json()["results"]} == {mine.pk}
    assert as_agent.get(f"/api/v1/devices/{theirs.pk}/").status_code == 404
    # Devices and runs change through /api/v1/agent/ only, where an agent reaches its own devices' runs.
    assert as_agent.patch(f"/api/v1/devices/{mine.pk}/", {"status": "online"}, format="json").status_code == 403
    assert as_agent.patch(f"/api/v1/runs/{run.pk}/", {"status": "running"}, format="json").status_code == 405
    assert as_agent.get(f"/api/v1/runs/{run.pk}/").status_code == 200
    # ...and not the scenarios, channels or tokens of the project.
    scenario = f.ScenarioFactory(project=project_a)
    assert as_agent.patch(f"/api/v1/scenarios/{scenario.pk}/", {"name": "x"}, format="json").status_code == 403
    assert as_agent.get("/api/v1/tokens/").status_code == 403

    token_id = AgentToken.objects.get().pk
    assert client_a.delete(f"/api/v1/agent-tokens/{token_id}/").status_code == 204
    assert as_agent.get("/api/v1/devices/").status_code == 401


@pytest.mark.django_db
def test_viewer_reads_but_cannot_write(make_member, project_a):
    viewer = make_member(project_a, Role.VIEWER)
    client = APIClient()
    client.force_authenticate(viewer)
    record = f.MockRecordFactory(project=project_a)
    assert client.get(f"/api/v1/mock-records/{record.pk}/").status_code == 200
    assert client.patch(f"/api/v1/mock-records/{record.pk}/", {"name": "x"}, format="json").status_code == 403
    response = client.post("/api/v1/mock-records/", {"project": project_a.pk, "name": "x"}, format="json")
    assert response.status_code == 403
    assert "viewer" in response.json()["detail"]


@pytest.mark.django_db
def test_developers_work_faults_but_not_scenarios(make_member, project_a):
    rd = make_member(project_a, Role.RD)
    client = APIClient()
    client.force_authenticate(rd)
    fault = f.FaultFactory(project=project_a)
    response = client.patch(f"/api/v1/faults/{fault.pk}/", {"status": "resolved"}, format="json")
    assert response.status_code == 200
    assert response.json()["resolved_at"] is not None
    assert client.post("/api/v1/scenarios/", {"project": project_a.pk, "name": "x"}, format="json").status_code == 403


@pytest.mark.django_db
def test_only_admins_manage_members(make_member, project_a):
    qa = make_member(project_a, Role.QA)
    client = APIClient()
    client.force_authenticate(qa)
    newcomer = f.UserFactory()
    body = {"project": project_a.pk, "user": newcomer.username, "role": "admin"}
    assert client.post("/api/v1/memberships/", body, format="json").status_code == 403


@pytest.mark.django_db
def test_session_login_works_for_the_api(member_a, project_a):
    client = APIClient()
    assert client.login(username=member_a.username, password="pw-for-tests-1")
    assert client.get("/api/v1/projects/").json()["count"] == 1
