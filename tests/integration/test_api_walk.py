"""The scoping walk: every operation the URL resolver knows under /api/v1/ (CRUD, every custom action, the
agents' API and ingestion), for every role, is tried against another project's objects and, for roles that
may not write, against the caller's own project. Nothing answers 2xx and nothing in the database changes.

The operations are read from the resolver, not listed by hand: an endpoint added without a case here fails
`test_every_operation_has_a_case`, so a new endpoint cannot slip past the walk."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.urls import get_resolver
from django.urls.resolvers import URLResolver
from rest_framework.test import APIClient

from accounts.models import Membership, PersonalToken, Role
from automation.models import AgentToken, RunToken
from trackreplay.api_router import ROUTES

from .. import factories as f
from .test_api_scoping import OBJECT_IN

ROLES = [role.value for role in Role]
VIEWSETS = dict(ROUTES)
SAFE = {"get", "head", "options"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def operations() -> list[tuple[str, str, str, str]]:
    """(kind, route, method, action) for every API operation; kind is 'viewset', 'agent' or 'ingest'."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in route or route == "api/v1/":
            continue
        route = route.removeprefix("api/v1/")
        actions = getattr(callback, "actions", None)
        if actions:
            route = route.lstrip("^").rstrip("$")
            for method, action in actions.items():
                found.append(("viewset", route, method, action))
            continue
        view = callback.view_class
        kind = "agent" if route.startswith("agent/") else "ingest" if route.startswith("ingest/") else "other"
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                found.append((kind, route, method, method))
    return sorted(found)


OPERATIONS = operations()


def _prefix(route: str) -> str:
    return route.split("/", 1)[0]


# Custom actions on collections (no pk): the request each sends, aimed at a project.
LIST_ACTIONS = {
    ("event-definitions", "import_plan"): lambda p: ("json", {"project": p.pk, "plan": {"events": []}}),
    ("event-definitions", "export"): lambda p: ("query", {"project": p.pk}),
    ("mock-records", "import_har"): lambda p: ("multipart", {
        "project": p.pk, "file": SimpleUploadedFile("r.har", b'{"log": {"version": "1.2", "entries": []}}')}),
    ("reports", "verify"): lambda p: ("json", {"test_record": f.TestRecordFactory(project=p).pk,
                                               "scenario": f.ScenarioFactory(project=p).pk}),
}
# Custom actions on one object: the object they act on is the route's own (OBJECT_IN); each is named here so
# that a new action is a conscious addition to the walk.
DETAIL_ACTIONS = {
    ("scenarios", "infer"), ("scenario-versions", "rules"), ("mock-records", "check_live"), ("mock-records", "har"),
    ("change-records", "apply"), ("change-records", "withdraw"), ("reports", "diff"), ("anomalies", "repair"),
    ("tasks", "record"), ("tasks", "replay"), ("task-groups", "trigger"), ("runs", "cancel"), ("runs", "token"),
    ("runs", "tokens"), ("runs", "revoke_token"), ("devices", "check_https"), ("devices", "screenshot"),
    ("device-requests", "image"),
}
CRUD = {"list", "create", "retrieve", "update", "partial_update", "destroy"}
# Operations open to every signed-in person whatever their role (their own tokens, the users they share a
# project with, starting a project of their own): the role half of the walk does not apply to them, the
# other-project half does.
OWNED_BY_CALLER = {("tokens", None), ("users", None), ("projects", "create")}
AGENT_ROUTES = {"agent/heartbeat", "agent/runs/<int:pk>/start", "agent/runs/<int:pk>/mock.har",
                "agent/runs/<int:pk>/steps", "agent/runs/<int:pk>/screenshots/<int:step>",
                "agent/runs/<int:pk>/events", "agent/runs/<int:pk>/recording", "agent/runs/<int:pk>/proxy-report",
                "agent/runs/<int:pk>/logs", "agent/runs/<int:pk>/finish", "agent/devices/<int:pk>/https-check",
                "agent/devices/<int:pk>/screenshot", "agent/devices/<int:pk>/request-failed"}
INGEST_ROUTES = {"ingest/events", "ingest/proxy-report", "ingest/recording"}


def test_every_operation_has_a_case():
    missing = []
    for kind, route, method, action in OPERATIONS:
        prefix = _prefix(route)
        if kind == "viewset":
            known = prefix in OBJECT_IN and (action in CRUD or (prefix, action) in LIST_ACTIONS
                                             or (prefix, action) in DETAIL_ACTIONS)
        else:
            known = route in (AGENT_ROUTES if kind == "agent" else INGEST_ROUTES)
        if not known:
            missing.append(f"{method.upper()} /api/v1/{route} ({action})")
    assert not missing, "operations without a scoping case:\n" + "\n".join(missing)
    # and the walk has no cases for operations that no longer exist
    assert {r for k, r, _, _ in OPERATIONS if k == "agent"} == AGENT_ROUTES
    assert {r for k, r, _, _ in OPERATIONS if k == "ingest"} == INGEST_ROUTES


def _state() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()
            if model._meta.app_label not in {"sessions", "admin"} and not model._meta.label.startswith("django_celery")}


def _snapshot(obj) -> dict:
    type(obj).objects.get(pk=obj.pk)  # still there
    fresh = type(obj).objects.get(pk=obj.pk)
    return {k: v for k, v in model_to_dict(fresh).items() if k not in {"last_used_at", "updated_at"}}


def _call(client, method: str, url: str, request=None):
    style, data = request or ("json", {})
    if style == "query":
        return getattr(client, method)(url, data)
    if method in SAFE:
        return getattr(client, method)(url)
    return getattr(client, method)(url, data, format="multipart" if style == "multipart" else "json")


def _url(route: str, pk=None) -> str:
    path = re.sub(r"\(\?P<pk>[^)]*\)", str(pk), route).replace("<int:pk>", str(pk)).replace("<int:step>", "1")
    return f"/api/v1/{path}"


def _caller(role, project):
    user = f.UserFactory()
    Membership.objects.create(project=project, user=user, role=role)
    client = APIClient()
    client.force_authenticate(user)
    return client


def _check(failures, what, response, allowed, before, after, obj_before=None, obj=None):
    if response.status_code not in allowed:
        failures.append(f"{what}: {response.status_code} (expected one of {sorted(allowed)}) "
                        f"{response.content[:200]!r}")
    if before != after:
        changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
        failures.append(f"{what}: the database changed {changed}")
    if obj is not None and obj_before != _snapshot(obj):
        failures.append(f"{what}: the other project's object changed")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_projects_objects_through_any_operation(role, project_a, project_b, member_b):
    """A member of A, in every role, against every operation on project B's objects: 404 (or 403/405)."""
    client = _caller(role, project_a)
    failures, tried = [], 0
    for kind, route, method, action in OPERATIONS:
        if kind != "viewset":
            continue
        prefix = _prefix(route)
        detail = "(?P<pk>" in route
        if not detail and (prefix, action) not in LIST_ACTIONS:
            continue  # list and create: test_api_scoping walks them for every route
        obj = OBJECT_IN[prefix](project_b, member_b) if detail else None
        request = LIST_ACTIONS[(prefix, action)](project_b) if not detail else None
        obj_before = _snapshot(obj) if obj is not None else None
        before = _state()
        response = _call(client, method, _url(route, obj.pk if obj else None), request)
        _check(failures, f"{role} {method.upper()} {route} ({action}) on project B", response,
               {403, 404, 405} if detail else {400, 403, 404}, before, _state(), obj_before, obj)
        tried += 1
    assert tried >= 60, tried
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_roles_that_may_not_write_change_nothing_in_their_own_project(role, project_a, member_a):
    """Every writing operation (CRUD and custom actions) whose view does not list the role in write_roles is
    refused with 403 on the caller's own project, and changes nothing."""
    client = _caller(role, project_a)
    failures, tried = [], 0
    for kind, route, method, action in OPERATIONS:
        prefix = _prefix(route)
        if kind != "viewset" or method in SAFE or {(prefix, None), (prefix, action)} & OWNED_BY_CALLER:
            continue
        if role in VIEWSETS[prefix].write_roles:
            continue
        detail = "(?P<pk>" in route
        if detail:
            obj, request = OBJECT_IN[prefix](project_a, member_a), None
        elif action == "create":
            from .test_api_scoping import CREATE_IN

            obj, request = None, ("json", CREATE_IN[prefix](project_a))
        else:
            obj, request = None, LIST_ACTIONS[(prefix, action)](project_a)
        obj_before = _snapshot(obj) if obj is not None else None
        before = _state()
        response = _call(client, method, _url(route, obj.pk if obj else None), request)
        _check(failures, f"{role} {method.upper()} {route} ({action}) in its own project", response,
               {403, 405}, before, _state(), obj_before, obj)
        tried += 1
    if role in (Role.RD, Role.VIEWER):
        assert tried >= 30, tried
    assert not failures, "\n".join(failures)


# -- the agents' API and ingestion ---------------------------------------------------------------------------

def _token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db
def test_agent_and_ingest_endpoints_take_only_their_own_tokens_and_runs(project_a, project_b, member_a):
    """People (every role, by session or personal token) cannot use the agents' API or ingestion; an agent
    reaches only runs on its own devices and answers only for its own devices (not another agent's in the
    same project, nor another project's); a run token only ingests, and an agent token cannot ingest."""
    lab = f.AgentFactory(project=project_a, name="lab")
    run = f.RunFactory(project=project_a, status="running",
                       device=f.DeviceFactory(project=project_a, agent=lab, platform="web"))
    neighbour = f.AgentFactory(project=project_a, name="neighbour")
    stranger = f.AgentFactory(project=project_b, name="stranger")
    callers = {f"{role} by session": _caller(role, project_a) for role in ROLES}
    callers["personal token"] = _token_client(PersonalToken.issue(user=member_a, name="ci").token)
    agent_callers = {"same-project agent": _token_client(AgentToken.issue(agent=neighbour, name="t").token),
                     "other-project agent": _token_client(AgentToken.issue(agent=stranger, name="t").token)}
    run_token = _token_client(RunToken.issue(run=run, name="sdk").token)
    own_agent = _token_client(AgentToken.issue(agent=lab, name="t").token)
    failures, tried = [], 0
    for kind, route, method, _ in OPERATIONS:
        if kind not in ("agent", "ingest"):
            continue
        url = _url(route, run.device_id if route.startswith("agent/devices/") else run.pk)
        trials = [(name, client, {401, 403}) for name, client in callers.items()]
        if kind == "agent" and "<int:pk>" in route:
            trials += [(name, client, {404}) for name, client in agent_callers.items()]
            trials.append(("run token", run_token, {401, 403}))
        elif kind == "ingest":
            trials += [(name, client, {401, 403}) for name, client in {**agent_callers, "own agent": own_agent}.items()]
        for name, client, allowed in trials:
            run_before, before = _snapshot(run), _state()
            response = _call(client, method, url, ("json", {}))
            _check(failures, f"{name} {method.upper()} {route}", response, allowed, before, _state(), run_before, run)
            tried += 1
    assert tried >= 100, tried
    assert not failures, "\n".join(failures)
