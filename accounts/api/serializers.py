from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer, StorableModelSerializer

from ..models import Membership, PersonalToken, Project


class UserSerializer(serializers.ModelSerializer):
    email = serializers.SerializerMethodField(
        help_text="Shown only to admins of a project the user belongs to (and to the user); null otherwise.")

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "display_name", "email"]
        read_only_fields = fields

    def get_email(self, obj) -> str | None:
        from ..members import email_visible_ids

        request = self.context.get("request")
        if request is None:
            return None
        visible = getattr(request, "_trackreplay_email_ids", None)
        if visible is None:
            visible = request._trackreplay_email_ids = email_visible_ids(request.user)
        return obj.email if obj.pk in visible else None


class ProjectSerializer(StorableModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the project.")

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "verify_upstream_tls", "forward_tracking", "allow_private_targets",
                  "live_check_credentials", "mock_ignore", "created_at", "role"]

    def get_role(self, obj: Project) -> str | None:
        from ..scoping import caller_roles

        return caller_roles(self.context["request"]).get(obj.pk)


class MembershipSerializer(ScopedModelSerializer):
    """A member by username: someone who already shares a project with the caller (accounts/members.py)."""

    user = serializers.CharField(
        required=False, max_length=150,
        help_text="Username of the member. On create, only people who already share a project with you (a site "
                  "administrator may add anyone).")

    class Meta:
        model = Membership
        fields = ["id", "project", "user", "role", "created_at"]
        validators = []  # one membership per person: accounts.members checks it once the person is known

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - {name for name, field in self.fields.items() if not field.read_only})
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["user"] = instance.user.username
        return data

    def validate(self, attrs):
        who = {name: attrs.pop(name) for name in ("user",) if name in attrs}
        if self.instance is not None:
            if who:
                raise serializers.ValidationError({name: ["A membership's member cannot change; remove it and add "
                                                          "the other person."] for name in who})
        elif not who:
            raise serializers.ValidationError({"user": ["Give user: the username of the person to add."]})
        attrs = super().validate(attrs)  # project, role of the caller there: non-admins stop here with 403
        attrs.update(who)
        return attrs

    def _check_same_project(self, attrs, project) -> None:
        pass  # the user is being added to the project: they need not be a member yet

    def _run_model_clean(self, attrs) -> None:
        pass  # the member is resolved by accounts.members; the rest has no model-level rules


class PersonalTokenSerializer(StorableModelSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself; shown only in the create response.")

    class Meta:
        model = PersonalToken
        fields = ["id", "name", "hint", "created_at", "last_used_at", "revoked_at", "token"]
        read_only_fields = ["hint", "created_at", "last_used_at", "revoked_at"]
