"""Who an admin may add to a project, shared by the API and the console.

A username is looked up only among people who already share a project with the admin: a stranger's username
cannot be guessed into a project, and the refusal is the same whether the name exists or not. Anyone else is
added by e-mail address: the membership is created when exactly one active account uses that address, and the
answer is the same whether one does or not, so the endpoint cannot be used to learn who has an account."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from .models import Membership, Project, Role


class MemberError(ValueError):
    """A request to add a member that cannot be done; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def unknown_username(username: str) -> str:
    return (f"No one named '{username}' shares a project with you. Add people you do not share a project with "
            f"by their e-mail address instead.")


def by_email_answer(email: str, project: Project, role: str) -> str:
    return (f"If an account uses the e-mail address {email}, it is now a member of '{project.slug}' as {role}. "
            f"For privacy the answer is the same either way; the member list shows who belongs to the project.")


def colleagues(user):
    """Active users who share at least one project with `user` (the people an admin may add by username)."""
    User = get_user_model()
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


def add_by_email(project: Project, email: str, role: str) -> Membership | None:
    """The new membership, or None (no such account, several, or already a member). Callers must answer the
    same in every case (by_email_answer)."""
    check_role(role)
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise MemberError("email", f"{email!r} is not an e-mail address.") from None
    users = list(get_user_model().objects.filter(is_active=True, email__iexact=email)[:2])
    if len(users) != 1:
        return None
    try:
        with transaction.atomic():
            membership, created = Membership.objects.get_or_create(project=project, user=users[0],
                                                                   defaults={"role": role})
    except IntegrityError:
        return None
    return membership if created else None


def email_visible_ids(viewer) -> set[int]:
    """Ids of the users whose e-mail address `viewer` may see: members of the projects the viewer administers
    (and the viewer), nobody else's."""
    if not getattr(viewer, "pk", None):
        return set()
    ids = set(Membership.objects.filter(project__memberships__user=viewer, project__memberships__role=Role.ADMIN)
              .values_list("user_id", flat=True))
    ids.add(viewer.pk)
    return ids
