from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer, StorableModelSerializer

from ..models import Membership, PersonalToken, Project


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username", "display_name", "email"]
        read_only_fields = fields


class ProjectSerializer(StorableModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the project.")

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "verify_upstream_tls", "forward_tracking", "mock_ignore", "created_at", "role"]

    def get_role(self, obj: Project) -> str | None:
        from ..scoping import caller_roles

        return caller_roles(self.context["request"]).get(obj.pk)


class MembershipSerializer(ScopedModelSerializer):
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True),
        help_text="Username of the member.",
    )

    class Meta:
        model = Membership
        fields = ["id", "project", "user", "role", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        # An admin adds people who are not yet in any of their projects, so look users up by name among all.
        fields["user"].queryset = get_user_model().objects.filter(is_active=True)
        return fields

    def _check_same_project(self, attrs, project) -> None:
        pass  # the user is being added to the project: they need not be a member yet


class PersonalTokenSerializer(StorableModelSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself; shown only in the create response.")

    class Meta:
        model = PersonalToken
        fields = ["id", "name", "hint", "created_at", "last_used_at", "revoked_at", "token"]
        read_only_fields = ["hint", "created_at", "last_used_at", "revoked_at"]
