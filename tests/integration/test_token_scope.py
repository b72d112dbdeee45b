"""Agent tokens (tra_…) change only their own agent's devices and runs, and see no other agent's: agent A
gets 404 on agent B's runs, devices, agent row and tokens, whether B is in A's project or another one, on every
endpoint of the agents' API and of the general API; and it changes nothing of its own through the general API
either (403). Personal tokens (trp_…) are not agent tokens and run tokens (trr_…) are neither."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from automation.models import AgentToken, Device, Run, RunToken
from trackreplay.urls import AGENT_URLS

from .. import factories as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def agent_with_run(project, name):
    agent = f.AgentFactory(project=project, name=name)
    device = f.DeviceFactory(project=project, agent=agent, platform="web", status="busy")
    run = f.RunFactory(project=project, device=device, status="running", mode="record")
    return agent, device, run


@pytest.fixture
def agents(project_a, project_b):
    mine = agent_with_run(project_a, "a")
    same_project = agent_with_run(project_a, "b")
    other_project = agent_with_run(project_b, "c")
    return mine, same_project, other_project


@pytest.fixture
def as_a(agents):
    return bearer(AgentToken.issue(agent=agents[0][0], name="t").token)


# name of each agents' API endpoint -> (method, extra URL kwargs, body); the test below fails when an endpoint is
# added to trackreplay.urls.AGENT_URLS without a case here.
AGENT_CALLS = {
    "agent-run-start": ("post", {}, None),
    "agent-run-mock": ("get", {}, None),
    "agent-run-steps": ("post", {}, {"steps": []}),
    "agent-run-screenshot": ("put", {"step": 1}, PNG),
    "agent-run-events": ("post", {}, {"batch_id": "b1", "events": [{"event": "x", "properties": {}, "time": 1}]}),
    "agent-run-recording": ("post", {}, {"log": {"version": "1.2", "entries": []}}),
    "agent-run-proxy-report": ("post", {}, {"served": 0}),
    "agent-run-logs": ("post", {}, {"start": 0, "lines": []}),
    "agent-run-finish": ("post", {}, {"outcome": "passed", "error": "", "steps": [], "step_count": 0}),
}


# The answers to what people asked of a device: name -> (method, kind of the request answered, body).
DEVICE_CALLS = {
    "agent-device-https-check": ("post", "https_check", {"ok": True, "detail": "taken over"}),
    "agent-device-screenshot": ("put", "screenshot", PNG),
    "agent-device-request-failed": ("post", "screenshot", {"error": "taken over"}),
}


def test_every_endpoint_of_the_agents_api_has_a_case():
    names = {pattern.name for pattern in AGENT_URLS} - {"agent-heartbeat"}
    assert names == set(AGENT_CALLS) | set(DEVICE_CALLS)


def call(client, name, run_pk):
    import json

    method, extra, body = AGENT_CALLS[name]
    url = reverse(name, kwargs={"pk": run_pk, **extra})
    if body is None:
        return getattr(client, method)(url)
    if isinstance(body, bytes):
        return client.generic(method.upper(), url, body, content_type="image/png")
    return client.generic(method.upper(), url, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(AGENT_CALLS))
@pytest.mark.parametrize("whose", [1, 2], ids=["same-project", "other-project"])
def test_agent_a_gets_404_on_agent_bs_runs_in_the_agents_api(agents, as_a, name, whose):
    _, device, run = agents[whose]
    before = (run.status, run.timeline, run.logs)
    response = call(as_a, name, run.pk)
    assert response.status_code == 404, (name, response.content)
    run.refresh_from_db()
    assert (run.status, run.timeline, run.logs) == before
    assert not run.screenshots.exists() and not run.test_records.exists()


def answer(client, name, device, request_id):
    import json

    method, _, body = DEVICE_CALLS[name]
    url = reverse(name, kwargs={"pk": device.pk})
    if isinstance(body, bytes):
        return client.generic("PUT", f"{url}?request={request_id}", body, content_type="image/png")
    return client.generic("POST", url, json.dumps({"request": request_id, **body}), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(DEVICE_CALLS))
@pytest.mark.parametrize("whose", [1, 2], ids=["same-project", "other-project"])
def test_agent_a_gets_404_answering_for_agent_bs_devices(agents, as_a, name, whose):
    from automation.models import DeviceRequest

    _, device, _ = agents[whose]
    asked = DeviceRequest.objects.create(device=device, kind=DEVICE_CALLS[name][1])
    response = answer(as_a, name, device, asked.pk)
    assert response.status_code == 404, (name, response.content)
    asked.refresh_from_db()
    device.refresh_from_db()
    assert asked.answered_at is None and not asked.image and device.https_status == "unknown"
    # Its own device's id with the other device's request is no way in either.
    mine = agents[0][1]
    assert answer(as_a, name, mine, asked.pk).status_code == 404
    asked.refresh_from_db()
    assert asked.answered_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(DEVICE_CALLS))
def test_agent_a_answers_for_its_own_devices(agents, as_a, name):
    from automation.models import DeviceRequest

    _, device, _ = agents[0]
    asked = DeviceRequest.objects.create(device=device, kind=DEVICE_CALLS[name][1])
    assert answer(as_a, name, device, asked.pk).status_code == 200
    asked.refresh_from_db()
    assert asked.answered_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["agent-run-steps", "agent-run-logs", "agent-run-screenshot"])
def test_agent_a_reaches_its_own_runs(agents, as_a, name):
    _, _, run = agents[0]
    assert call(as_a, name, run.pk).status_code == 200


@pytest.mark.django_db
def test_a_heartbeat_touches_only_the_agents_own_devices_and_runs(agents, as_a):
    (_, mine, my_run), (agent_b, device_b, run_b), _ = agents
    lease_before = run_b.lease_expires_at
    response = as_a.post("/api/v1/agent/heartbeat", {
        "hostname": "h", "version": "1", "running": [my_run.pk, run_b.pk],
        "devices": [{"platform": "web", "name": device_b.name, "serial": device_b.serial}]}, format="json")
    assert response.status_code == 200, response.content
    device_b.refresh_from_db()
    run_b.refresh_from_db()
    assert device_b.agent == agent_b and device_b.status == "busy"  # not taken over by name
    assert run_b.lease_expires_at == lease_before and run_b.status == "running"
    assert Device.objects.filter(agent=agent_b).count() == 1


def send(client, method, url, ids):
    if method == "get":
        return client.get(url)
    body = {"token": ids["run_token"]} if url.endswith("/revoke-token/") else {"name": "x"}
    return getattr(client, method)(url, body, format="json")


GENERAL = [
    ("get", "runs/{run}/"), ("delete", "runs/{run}/"), ("post", "runs/{run}/cancel/"), ("post", "runs/{run}/token/"),
    ("get", "runs/{run}/tokens/"), ("post", "runs/{run}/revoke-token/"),
    ("get", "devices/{device}/"), ("patch", "devices/{device}/"), ("delete", "devices/{device}/"),
    ("post", "devices/{device}/check-https/"), ("post", "devices/{device}/screenshot/"),
    ("get", "device-requests/{device_request}/"),
    ("get", "agents/{agent}/"), ("patch", "agents/{agent}/"), ("delete", "agents/{agent}/"),
    ("get", "agent-tokens/{agent_token}/"), ("delete", "agent-tokens/{agent_token}/"),
]


def _urls(agent, device, run):
    token = AgentToken.issue(agent=agent, name="theirs")
    run_token = RunToken.issue_for(run, name="bridge")
    from automation.models import DeviceRequest

    asked = DeviceRequest.objects.create(device=device, kind="screenshot")
    return {"run": run.pk, "device": device.pk, "agent": agent.pk, "agent_token": token.pk, "run_token": run_token.pk,
            "device_request": asked.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", GENERAL)
@pytest.mark.parametrize("whose", [1, 2], ids=["same-project", "other-project"])
def test_agent_a_gets_404_on_agent_bs_objects_in_the_general_api(agents, as_a, method, path, whose):
    agent, device, run = agents[whose]
    ids = _urls(agent, device, run)
    response = send(as_a, method, "/api/v1/" + path.format(**ids), ids)
    assert response.status_code == 404, response.content
    run.refresh_from_db()
    assert run.status == "running" and Device.objects.filter(pk=device.pk, agent=agent).exists()
    assert AgentToken.objects.get(pk=ids["agent_token"]).revoked_at is None
    assert RunToken.objects.get(pk=ids["run_token"]).revoked_at is None


@pytest.mark.django_db
def test_lists_show_agent_a_none_of_agent_bs_rows(agents, as_a):
    (agent, device, run), (agent_b, device_b, run_b), _ = agents
    AgentToken.issue(agent=agent_b, name="theirs")

    def ids(path):
        response = as_a.get(f"/api/v1/{path}/")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids("runs") == {run.pk}
    assert ids("devices") == {device.pk}
    assert ids("agents") == {agent.pk}
    assert agent_b.tokens.get().pk not in ids("agent-tokens")
    # Filtering by the other agent's rows finds nothing either (or is refused as an unknown choice).
    for path in (f"devices/?agent={agent_b.pk}", f"runs/?device={device_b.pk}"):
        response = as_a.get(f"/api/v1/{path}")
        assert response.status_code == 400 or response.json()["count"] == 0, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", GENERAL)
def test_agent_a_changes_nothing_of_its_own_through_the_general_api(agents, as_a, method, path):
    agent, device, run = agents[0]
    ids = _urls(agent, device, run)
    response = send(as_a, method, "/api/v1/" + path.format(**ids), ids)
    if method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code in (403, 405), response.content
    run.refresh_from_db()
    device.refresh_from_db()
    assert run.status == "running" and device.name != "x" and Device.objects.filter(pk=device.pk).exists()
    assert device.requests.count() == 1  # asked nothing of the device
    assert AgentToken.objects.get(pk=ids["agent_token"]).revoked_at is None
    assert RunToken.objects.get(pk=ids["run_token"]).revoked_at is None
    assert RunToken.objects.filter(run=run).count() == 1


@pytest.mark.django_db
def test_personal_and_run_tokens_are_not_agent_tokens(agents, client_a):
    _, _, run = agents[0]
    personal = client_a.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    assert bearer(personal).post(f"/api/v1/agent/runs/{run.pk}/logs", {"start": 0, "lines": []},
                                 format="json").status_code == 403
    run_token = RunToken.issue_for(run).token
    refused = bearer(run_token).post(f"/api/v1/agent/runs/{run.pk}/logs", {"start": 0, "lines": []}, format="json")
    assert refused.status_code == 401
    assert bearer(run_token).get("/api/v1/runs/").status_code == 401  # nor anything in the general API
    assert Run.objects.get(pk=run.pk).logs == []


@pytest.mark.django_db
def test_a_personal_token_acts_as_its_user_but_cannot_mint_more_tokens(client_a, project_a):
    from accounts.models import PersonalToken

    personal = client_a.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    as_ci = bearer(personal)
    assert as_ci.get("/api/v1/projects/").json()["count"] == 1
    refused = as_ci.post("/api/v1/tokens/", {"name": "replacement"}, format="json")
    assert refused.status_code == 403 and "signed-in console session" in refused.json()["detail"]
    assert PersonalToken.objects.count() == 1
    # It can still revoke itself (a CI job cleaning up).
    assert as_ci.delete(f"/api/v1/tokens/{PersonalToken.objects.get().pk}/").status_code == 204
    assert as_ci.get("/api/v1/projects/").status_code == 401
