from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import exceptions, mixins, permissions, viewsets

from trackreplay.api import ScopedModelViewSet, ScopedReadOnlyViewSet

from ..models import Membership, PersonalToken, Project, Role
from ..scoping import AgentPrincipal, caller_roles
from .serializers import MembershipSerializer, PersonalTokenSerializer, ProjectSerializer, UserSerializer


class ProjectViewSet(ScopedModelViewSet):
    """Projects the caller belongs to. Anyone signed in may create one and becomes its admin."""

    queryset = Project.objects.all()
    serializer_class = ProjectSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["slug"]
    search_fields = ["name", "slug"]

    def perform_create(self, serializer):
        if isinstance(self.request.user, AgentPrincipal):
            raise exceptions.PermissionDenied("Agents cannot create projects.")
        with transaction.atomic():
            project = serializer.save()
            Membership.objects.create(project=project, user=self.request.user, role=Role.ADMIN)


class MembershipViewSet(ScopedModelViewSet):
    """Who belongs to which of the caller's projects; only project admins change memberships."""

    queryset = Membership.objects.select_related("user", "project")
    serializer_class = MembershipSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["project", "role"]


class UserViewSet(ScopedReadOnlyViewSet):
    """Users who share at least one project with the caller (to pick owners and assignees)."""

    queryset = get_user_model().objects.filter(is_active=True).order_by("username")
    serializer_class = UserSerializer
    search_fields = ["username", "display_name", "email"]

    def get_queryset(self):
        return self.queryset.filter(memberships__project_id__in=list(caller_roles(self.request))).distinct()


class IsHuman(permissions.BasePermission):
    message = "Personal tokens belong to users; agents cannot manage them."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and not isinstance(request.user, AgentPrincipal))


class PersonalTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's own API tokens (for CI). Create returns the token once; delete revokes it."""

    queryset = PersonalToken.objects.all()
    serializer_class = PersonalTokenSerializer
    permission_classes = [IsHuman]

    def get_queryset(self):
        return self.queryset.filter(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = PersonalToken.issue(user=self.request.user, name=serializer.validated_data["name"])

    def perform_destroy(self, instance):
        instance.revoke()


ROUTES = [
    ("projects", ProjectViewSet),
    ("memberships", MembershipViewSet),
    ("users", UserViewSet),
    ("tokens", PersonalTokenViewSet),
]
