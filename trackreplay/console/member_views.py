"""A project's members: everyone sees who belongs (usernames and display names); admins see e-mail addresses,
add people (by username among those who already share a project with them, anyone else by e-mail address,
with an answer that never says whether the account exists), change roles and remove members. The rules are
accounts/members.py's, the same as the API's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.members import MemberError, add_by_username, email_visible_ids
from accounts.models import Membership, Role

from .views import _context, _editor_project, _member_project

ADMIN_ONLY = (Role.ADMIN,)


def _back(project):
    return redirect(reverse("console-members", args=[project.slug]))


@login_required
def members(request, project_slug):
    project, role = _member_project(request, project_slug)
    visible = email_visible_ids(request.user)
    rows = [{"obj": m, "email": m.user.email if m.user_id in visible else None}
            for m in project.memberships.select_related("user").order_by("user__username")]
    return render(request, "console/members.html", _context(
        request, project, role, page=None, members=rows, is_admin=role == Role.ADMIN, roles=Role.choices))


@login_required
@require_POST
def add_member(request, project_slug):
    project, _ = _editor_project(request, project_slug, ADMIN_ONLY)
    username = request.POST.get("username", "").strip()
    role = request.POST.get("role", Role.QA)
    if not username:
        messages.error(request, "Not added: give the username of the person to add.")
        return _back(project)
    try:
        membership = add_by_username(project, request.user, username, role)
        messages.success(request, f"Added {membership.user} as {role}.")
    except MemberError as exc:
        messages.error(request, f"Not added: {exc}")
    return _back(project)


@login_required
@require_POST
def change_member(request, project_slug, pk):
    project, _ = _editor_project(request, project_slug, ADMIN_ONLY)
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk, project=project)
    if request.POST.get("remove"):
        membership.delete()
        messages.success(request, f"Removed {membership.user} from {project}.")
        return _back(project)
    role = request.POST.get("role", "")
    if role not in Role.values:
        messages.error(request, f"Not changed: unknown role {role!r}.")
        return _back(project)
    Membership.objects.filter(pk=membership.pk).update(role=role)
    messages.success(request, f"{membership.user} is now {role}.")
    return _back(project)
