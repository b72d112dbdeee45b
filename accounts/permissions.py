from __future__ import annotations

from rest_framework import permissions

from .scoping import caller_roles, project_of


class ProjectRolePermission(permissions.BasePermission):
    """Reads need membership (enforced by scoped querysets); writes need one of the view's write_roles in
    the object's project. Creation is checked by the serializer, which knows the target project."""

    message = "Your role in this project does not allow this change."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        project = project_of(obj)
        role = caller_roles(request).get(project.pk) if project else None
        return role in getattr(view, "write_roles", ())
