"""Shared REST API machinery: project-scoped serializers and viewsets, pagination, error shape.

Scoping happens in three places, all driven by each model's PROJECT_PATH:
- querysets: a caller only ever sees rows of projects they belong to (others answer 404);
- related fields: a writable foreign key only accepts rows the caller can see;
- validate(): every related row must belong to the same project as the object being written, and the
  caller's role in that project must be one of the view's write_roles.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Model
from rest_framework import exceptions, serializers, viewsets

from accounts.models import Membership, Project
from accounts.scoping import agent_scope, caller_roles, project_of, project_path, scope

from .api_support import BoundedJSONField, model_clean_errors
from .values import instance_problems


def storable_errors(model, attrs) -> dict:
    """{field: [problem]} for written values no column of the model can store (trackreplay.values)."""
    many = {f.name for f in model._meta.many_to_many}
    instance = model()
    for name, value in attrs.items():
        if name not in many:
            setattr(instance, name, value)
    problems = instance_problems(instance, fields={name for name in attrs if name not in many})
    return {name: [problem] for name, problem in problems.items()}


# Model JSON fields are read like every JSON body, also when they come as form or multipart text.
JSON_FIELD_MAPPING = {**serializers.ModelSerializer.serializer_field_mapping, models.JSONField: BoundedJSONField}


class StorableModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = JSON_FIELD_MAPPING
    """A ModelSerializer whose values are checked against their columns (for the few that are not scoped)."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        errors = storable_errors(self.Meta.model, attrs)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ScopedModelSerializer(serializers.ModelSerializer):
    """ModelSerializer that keeps every write inside one project the caller may change."""

    serializer_field_mapping = JSON_FIELD_MAPPING

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is None:
            return fields
        project_ids = list(caller_roles(request))
        User = get_user_model()
        for field in fields.values():
            relation = getattr(field, "child_relation", field)
            queryset = getattr(relation, "queryset", None)
            if field.read_only or queryset is None:
                continue
            if queryset.model is User:
                relation.queryset = queryset.filter(memberships__project_id__in=project_ids).distinct()
            elif project_path(queryset.model):
                relation.queryset = agent_scope(scope(queryset, project_ids), request)
        return fields

    # -- the project the written object belongs to -------------------------------------------------
    def target_project(self, attrs) -> Project | None:
        path = project_path(self.Meta.model)
        first, *rest = path.split("__")
        holder = attrs.get(first) if first in attrs else getattr(self.instance, first, None)
        for part in rest:
            holder = getattr(holder, part, None)
        return holder

    def validate(self, attrs):
        attrs = super().validate(attrs)
        request = self.context["request"]
        project = self.target_project(attrs)
        if project is None:
            raise serializers.ValidationError({"non_field_errors": ["The object's project could not be determined."]})
        if self.instance is not None:
            current = project_of(self.instance)
            if current is not None and current.pk != project.pk:
                raise serializers.ValidationError(
                    {"project": [f"Objects cannot move between projects (this one belongs to '{current.slug}')."]}
                )
        self._check_same_project(attrs, project)
        role = caller_roles(request).get(project.pk)
        if role not in self.context["view"].write_roles:
            raise exceptions.PermissionDenied(
                f"Your role in project '{project.slug}' ({role or 'none'}) does not allow this change."
            )
        self._run_model_clean(attrs)
        return attrs

    def _check_same_project(self, attrs, project: Project) -> None:
        User = get_user_model()
        errors = {}
        for name, value in attrs.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for item in values:
                if not isinstance(item, Model) or isinstance(item, Project):
                    continue
                if isinstance(item, User):
                    if not Membership.objects.filter(project=project, user=item).exists():
                        errors[name] = [f"User '{item.username}' is not a member of project '{project.slug}'."]
                elif project_path(type(item)):
                    other = project_of(item)
                    if other is not None and other.pk != project.pk:
                        errors[name] = [
                            f"{type(item).__name__} {item.pk} belongs to project '{other.slug}', "
                            f"not '{project.slug}'."
                        ]
        if errors:
            raise serializers.ValidationError(errors)

    def _run_model_clean(self, attrs) -> None:
        model = self.Meta.model
        instance = model(**{f.attname: getattr(self.instance, f.attname) for f in model._meta.concrete_fields}) \
            if self.instance is not None else model()
        many = {f.name for f in model._meta.many_to_many}
        for name, value in attrs.items():
            if name not in many:
                setattr(instance, name, value)
        # Values no column can store (over max_length, NUL, lone surrogates, integers past the column's
        # range, unstorable JSON) are named here rather than failing at save() with a 500.
        problems = instance_problems(instance, fields={name for name in attrs if name not in many})
        if problems:
            raise serializers.ValidationError({name: [problem] for name, problem in problems.items()})
        try:
            instance.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(model_clean_errors(exc)) from None


class ScopedViewSetMixin:
    """Limits the queryset to the caller's projects. write_roles lists the roles that may change rows."""

    write_roles: tuple[str, ...] = ("admin", "qa")

    def get_queryset(self):
        queryset = super().get_queryset()
        return agent_scope(scope(queryset, caller_roles(self.request)), self.request)


class ScopedModelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    pass


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass
