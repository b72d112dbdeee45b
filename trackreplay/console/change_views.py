"""An API change seen on the live API: the key diff, the suggested response, and apply / withdraw."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mock_records.live_check import ChangeError, apply_change, withdraw_change
from mock_records.models import ChangeRecord

from .views import CAN_EDIT, _context, _editor_project, _member_project


def _pretty(data: bytes) -> str:
    try:
        return json.dumps(json.loads(data), ensure_ascii=False, indent=1)
    except (ValueError, UnicodeDecodeError, RecursionError):  # a body may nest deeper than Python follows
        return data.decode("utf-8", "replace")


@login_required
def change_detail(request, project_slug, pk):
    project, role = _member_project(request, project_slug)
    change = get_object_or_404(ChangeRecord.objects.select_related("exchange__mock_record", "decided_by"), pk=pk,
                               exchange__mock_record__project=project)
    return render(request, "console/api_change.html", _context(
        request, project, role, page=None, change=change, can_edit=role in CAN_EDIT,
        suggested=_pretty(bytes(change.suggested_body)), current=_pretty(change.exchange.response_body),
    ))


@login_required
@require_POST
def decide(request, project_slug, pk, decision):
    project, _ = _editor_project(request, project_slug)
    if decision not in ("apply", "withdraw"):
        raise Http404("Unknown decision")
    change = get_object_or_404(ChangeRecord, pk=pk, exchange__mock_record__project=project)
    try:
        (apply_change if decision == "apply" else withdraw_change)(change, user=request.user)
    except ChangeError as exc:
        messages.error(request, f"Not done: {exc}")
    else:
        messages.success(request, "Applied: the exchange now answers with the suggested response."
                         if decision == "apply" else "Withdrawn: the exchange answers as recorded again.")
    return redirect(reverse("console-api-change", args=[project.slug, pk]))
