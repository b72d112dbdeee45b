"""Which projects a caller may see, and with what role. Every API queryset and console page goes through
here, so "a member of project A gets 404 for project B's objects" holds in one place."""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet

from .models import Membership, Project

AGENT_ROLE = "agent"


class AgentPrincipal:
    """Stands in for request.user when a device agent authenticates with its token."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, agent) -> None:
        self.agent = agent
        self.username = f"agent:{agent.name}"

    def __str__(self) -> str:
        return self.username


def caller_roles(request) -> dict[int, str]:
    """{project_id: role} for the caller, computed once per request."""
    cached = getattr(request, "_trackreplay_roles", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    if isinstance(user, AgentPrincipal):
        roles = {user.agent.project_id: AGENT_ROLE}
    elif user is not None and user.is_authenticated and user.is_active:
        roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    else:
        roles = {}
    request._trackreplay_roles = roles
    return roles


def project_path(model: type[Model]) -> str | None:
    return getattr(model, "PROJECT_PATH", None)


def scope(queryset: QuerySet, project_ids) -> QuerySet:
    path = project_path(queryset.model)
    if path is None:
        raise TypeError(f"{queryset.model.__name__} has no PROJECT_PATH and cannot be scoped")
    lookup = "id__in" if path == "id" else f"{path}__in"
    return queryset.filter(**{lookup: list(project_ids)})


def agent_scope(queryset: QuerySet, request) -> QuerySet:
    """For an agent token, the rows of kinds that belong to an agent (AGENT_PATH: agents, devices, runs, their
    screenshots and tokens) that are its own or nobody's yet (a device added by hand, a run not dispatched):
    agent A of a project neither sees nor changes agent B's. Anyone else: the queryset unchanged."""
    user = getattr(request, "user", None)
    path = getattr(queryset.model, "AGENT_PATH", None)
    if path is None or not isinstance(user, AgentPrincipal):
        return queryset
    return queryset.filter(Q(**{path: user.agent.pk}) | Q(**{f"{path}__isnull": True}))


def project_of(obj: Model) -> Project | None:
    """Follow PROJECT_PATH from an instance to its project (None while a parent is unset)."""
    path = project_path(type(obj))
    if path == "id":
        return obj
    current = obj
    for part in path.split("__"):
        current = getattr(current, part, None)
        if current is None:
            return None
    return current
