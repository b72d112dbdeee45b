from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.response import Response

from trackreplay.api import ScopedModelViewSet, ScopedReadOnlyViewSet

from ..members import MemberError, add_by_username
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
    """Who belongs to which of the caller's projects; only project admins change memberships, adding people who
    already share a project with them by username (a site administrator may add anyone)."""

    queryset = Membership.objects.select_related("user", "project")
    serializer_class = MembershipSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["project", "role"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project, role = data["project"], data.get("role", Role.QA)
        try:
            membership = add_by_username(project, request.user, data["user"], role)
        except MemberError as exc:
            raise exceptions.ValidationError({exc.field: [str(exc)]}) from None
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)


class UserViewSet(ScopedReadOnlyViewSet):
    """Users who share at least one project with the caller (to pick owners and assignees)."""

    queryset = get_user_model().objects.filter(is_active=True).order_by("username")
    serializer_class = UserSerializer
    search_fields = ["username", "display_name"]  # not e-mail: it would tell non-admins who has which address

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
        if isinstance(self.request.auth, PersonalToken):
            # A leaked token must not be able to mint a replacement that outlives its own revocation.
            raise exceptions.PermissionDenied("Personal tokens are created from a signed-in console session (or "
                                              "Swagger UI), not with another token.")
        serializer.instance = PersonalToken.issue(user=self.request.user, name=serializer.validated_data["name"])

    def perform_destroy(self, instance):
        instance.revoke()


ROUTES = [
    ("projects", ProjectViewSet),
    ("memberships", MembershipViewSet),
    ("users", UserViewSet),
    ("tokens", PersonalTokenViewSet),
]
