"""Who an admin may add to a project, shared by the API and the console.

A project admin adds only people who already share a project with them: a stranger's username cannot be
guessed into a project, and the refusal is the same whether the name exists or not. Someone who shares no
project with anyone (a new colleague) is added by a site administrator (a superuser, who may add anyone, in
the console, the API or the Django admin). There is deliberately no add-by-e-mail: adding without the
person's consent would reveal, through the member list, which addresses have accounts and which username
goes with each, and would make the added person a colleague who can then be added anywhere."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from .models import Membership, Project, Role


class MemberError(ValueError):
    """A request to add a member that cannot be done; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def unknown_username(username: str) -> str:
    return (f"No one named '{username}' shares a project with you. Someone who shares no project with you is "
            f"added by a site administrator.")


def colleagues(user):
    """Active users `user` may add by username: those who share at least one project with them (anyone, for a
    site administrator)."""
    User = get_user_model()
    if getattr(user, "is_superuser", False):
        return User.objects.filter(is_active=True)
    return User.objects.filter(is_active=True, memberships__project__memberships__user=user).distinct()


def check_role(role: str) -> str:
    if role not in Role.values:
        raise MemberError("role", f"Unknown role {role!r}; one of {', '.join(Role.values)}.")
    return role


def add_by_username(project: Project, admin, username: str, role: str) -> Membership:
    check_role(role)
    user = colleagues(admin).filter(username=username).first()
    if user is None:
        raise MemberError("user", unknown_username(username))
    if Membership.objects.filter(project=project, user=user).exists():
        raise MemberError("user", f"'{username}' is already a member of '{project.slug}'.")
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:  # a concurrent add of the same person
        raise MemberError("user", f"'{username}' is already a member of '{project.slug}'.") from None


def email_visible_ids(viewer) -> set[int]:
    """Ids of the users whose e-mail address `viewer` may see: members of the projects the viewer administers
    (and the viewer), nobody else's."""
    if not getattr(viewer, "pk", None):
        return set()
    ids = set(Membership.objects.filter(project__memberships__user=viewer, project__memberships__role=Role.ADMIN)
              .values_list("user_id", flat=True))
    ids.add(viewer.pk)
    return ids
