"""The API, fuzzed from its own OpenAPI schema against the live server: no input gives a 500.

Schemathesis generates requests (schema-conforming and deliberately broken ones) for every operation in the
schema drf-spectacular serves, including the custom actions (import, verify, infer, repair, trigger,
check-live, har, token, apply, withdraw, cancel...), the ingestion endpoints and the agents' API. Each
operation is one test on a fresh set of seed objects; the caller is an admin of the seeds' project with a
personal token (run token for /api/v1/ingest/, agent token for /api/v1/agent/). Path ids are either the
seed object's (so updates and actions reach real validation) or generated.

Deterministic: Hypothesis is derandomized and keeps no example database, so CI sees the same requests every
time. TRACKREPLAY_FUZZ_EXAMPLES raises the examples per operation for a deeper run (the default, 2 per
strategy, costs about 40 s of CPU; 15 ran clean on PostgreSQL in 9 minutes on a shared machine)."""

from __future__ import annotations

import os
import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from schemathesis.generation.modes import GenerationMode

from accounts.models import PersonalToken, Role
from automation.models import AgentToken, DeviceRequest, RunToken

from .. import factories as f

EXAMPLES = int(os.environ.get("TRACKREPLAY_FUZZ_EXAMPLES", "2"))
# e.g. TRACKREPLAY_FUZZ_GROUPS=scenarios,agent to fuzz only those resources (the first path segment).
ONLY = {group for group in os.environ.get("TRACKREPLAY_FUZZ_GROUPS", "").split(",") if group}


def _schema_dict() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = schemathesis.openapi.from_dict(_schema_dict())
OPERATIONS = [(operation.path, operation.method.upper()) for operation in
              (result.ok() for result in SCHEMA.get_all_operations())]

# Nothing is excluded: the actions that start work (trigger, record, replay, check-live, verify) only queue
# Celery messages within the request, which the test can afford; check-live's network calls happen in the
# worker, behind the egress guard, not in the request fuzzed here.
EXCLUDED: dict[tuple[str, str], str] = {}


@pytest.fixture(autouse=True)
def _no_throttling(settings):
    # A throttled answer (429) would pass for "no server error" without exercising anything.
    settings.TRACKREPLAY_THROTTLE_RATES = {"agent": "1000000/min", "user": "1000000/min", "anon": "1000000/min"}


@pytest.fixture
def seeds(transactional_db):
    """One project with an object of every kind, and the three kinds of token that call the API."""
    return _fresh_seeds()


def _fresh_seeds() -> dict:
    from django.db import transaction

    with transaction.atomic():  # one commit, not forty
        return _seeds()


def _seeds() -> dict:
    project = f.ProjectFactory()
    admin = f.UserFactory()
    f.MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    event = f.EventDefinitionFactory(project=project, name="product_click")
    prop = f.PropertyDefinitionFactory(event=event, name="product_id")
    scenario = f.ScenarioFactory(project=project)
    rule = f.RuleFactory(version=scenario.current_version)
    mock = f.MockRecordFactory(project=project)
    exchange = f.ExchangeFactory(mock_record=mock)
    record = f.TestRecordFactory(project=project, mock_record=mock)
    captured = f.EventFactory(test_record=record)
    report = f.ReportFactory(project=project, test_record=record, scenario_version=scenario.current_version)
    anomaly = f.AnomalyFactory(report=report)
    agent = f.AgentFactory(project=project)
    device = f.DeviceFactory(project=project, agent=agent, platform="web")
    script = f.ScriptFactory(project=project, platform="web")
    task = f.TaskFactory(project=project, script=script, mock_record=mock, scenario=scenario)
    run = f.RunFactory(project=project, task=task, device=device, mode="replay", status="running")
    from mock_records.models import ChangeRecord
    from sdk_bridge.models import EndpointRule

    change = ChangeRecord.objects.create(exchange=exchange, live_status=200, suggested_body=b'{"ok": 1}',
                                         changes=[{"path": "ok", "kind": "retyped", "recorded": ["bool"],
                                                   "live": ["int"]}])
    ids = {
        "projects": project.pk, "memberships": admin.memberships.get().pk, "users": admin.pk,
        "event-definitions": event.pk, "property-definitions": prop.pk,
        "faults": f.FaultFactory(project=project).pk, "scenarios": scenario.pk,
        "scenario-versions": scenario.current_version.pk, "rules": rule.pk, "mock-records": mock.pk,
        "exchanges": exchange.pk, "global-mocks": f.GlobalMockFactory(project=project).pk,
        "required-interfaces": f.RequiredInterfaceFactory(project=project).pk, "change-records": change.pk,
        "test-records": record.pk, "events": captured.pk, "reports": report.pk, "anomalies": anomaly.pk,
        "agents": agent.pk, "devices": device.pk, "device-requests": DeviceRequest.objects.create(
            device=device, kind="screenshot").pk, "scripts": script.pk, "tasks": task.pk,
        "task-groups": f.TaskGroupFactory(project=project).pk, "runs": run.pk,
        "notification-channels": f.NotificationChannelFactory(project=project).pk,
        "endpoint-rules": EndpointRule.objects.create(project=project, decoder="sensorsdata", host="t.example.test",
                                                      path="/sa").pk,
    }
    ids["agent-tokens"] = AgentToken.issue(agent=agent, name="seed").pk
    ids["tokens"] = PersonalToken.issue(user=admin, name="seed").pk
    tokens = {
        "personal": PersonalToken.issue(user=admin, name="fuzz").token,
        "agent": AgentToken.issue(agent=agent, name="fuzz").token,
        "run": RunToken.issue(run=run, name="fuzz").token,
    }
    return {"ids": ids, "tokens": tokens, "run": run}


def _seed_path_parameters(path: str, ids: dict, run) -> dict:
    """Path parameters naming the seed objects: /api/v1/<prefix>/{id}/..., /api/v1/agent/runs/{pk}/..."""
    params = {}
    if path.startswith("/api/v1/agent/runs/"):
        params["pk"] = run.pk
        if "{step}" in path:
            params["step"] = 1
    elif path.startswith("/api/v1/agent/devices/"):
        params["pk"] = run.device_id
    else:
        match = re.match(r"/api/v1/([a-z-]+)/\{(\w+)\}", path)
        if match and match.group(1) in ids:
            params[match.group(2)] = ids[match.group(1)]
    return params


def _auth(path: str, tokens: dict) -> dict:
    kind = "agent" if path.startswith("/api/v1/agent/") else "run" if path.startswith("/api/v1/ingest/") else "personal"
    return {"Authorization": f"Bearer {tokens[kind]}"}


def _group(path: str) -> str:
    return path.split("/")[3]  # /api/v1/<group>/...


# One test per resource (its operations share the seed objects: setting them up costs more than the
# requests), deletions last so the others still find the seeds.
GROUPS: dict[str, list[tuple[str, str]]] = {}
for _path, _method in sorted(OPERATIONS, key=lambda op: (op[1] == "DELETE", op[0], op[1])):
    GROUPS.setdefault(_group(_path), []).append((_path, _method))


def _fuzz_operation(path: str, method: str, base_url: str, seeds: dict) -> list[str]:
    operation = SCHEMA[path][method]
    pinned = _seed_path_parameters(path, seeds["ids"], seeds["run"])
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if pinned:
        strategies += [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned),
                       operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned)]
    # A fresh connection per request: the development server behind live_server can lose track of a
    # keep-alive connection whose request body the view did not read (it answers the leftover bytes with its
    # own "400 Bad request" page), which is the test server's quirk, not the application's.
    headers = {**_auth(path, seeds["tokens"]), "Connection": "close"}
    failures = []

    @hypothesis_settings(max_examples=EXAMPLES * len(strategies), derandomize=True, database=None, deadline=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                         print_blob=False)
    @given(case=st.one_of(strategies))
    def fuzz(case):
        response = case.call(base_url=base_url, session=seeds["session"], headers=headers, timeout=30)
        if response.status_code >= 500 or response.status_code == 429:
            failures.append(f"{method} {path}: {response.status_code} for {case.as_curl_command()}\n"
                            f"{response.text[:1500]}")

    fuzz()
    return failures


def test_no_request_gives_a_server_error(live_server, seeds):
    """Every operation, grouped by resource; each group gets fresh seed objects (deletions run last in a
    group), all in one test so the database is flushed once rather than thirty times."""
    failures = []
    with requests.Session() as session:
        for number, group in enumerate(sorted(set(GROUPS) & ONLY if ONLY else GROUPS)):
            group_seeds = seeds if number == 0 else _fresh_seeds()
            group_seeds["session"] = session
            for path, method in GROUPS[group]:
                if (path, method) not in EXCLUDED:
                    failures += _fuzz_operation(path, method, live_server.url, group_seeds)[:1]
    assert not failures, f"{len(failures)} operations answered 500:\n\n" + "\n\n".join(failures)


def test_the_fuzzed_schema_is_the_one_the_live_server_serves(live_server, seeds):
    served = requests.get(f"{live_server.url}/api/schema/?format=json",
                          headers=_auth("/api/v1/projects/", seeds["tokens"]), timeout=30)
    assert served.status_code == 200
    operations = {(path, method.upper()) for path, item in served.json()["paths"].items() for method in item
                  if method in {"get", "post", "put", "patch", "delete"}}
    assert operations == set(OPERATIONS)
