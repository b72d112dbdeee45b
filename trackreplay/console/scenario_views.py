"""The scenario editor: the current version's rules grouped by event, with their evidence; edit a rule's
parameters, strength or switch; learn a new version from known-good records. Every change is a new
scenario version, so reports keep pointing at the rules they were verified against."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from scenarios.learning import infer_version
from scenarios.models import HistoryError, Rule, Scenario, Strength
from test_records.models import TestRecord
from trackreplay.upload_http import BadJSONValue, api_limits, read_json_text
from trackreplay.uploads import UploadRefused
from trackreplay.values import INT64_MAX, first_bad_value

from .views import CAN_EDIT, _context, _editor_project, _member_project


def _back(project, scenario):
    return redirect(reverse("console-scenario", args=[project.slug, scenario.pk]))


@login_required
def scenario_detail(request, project_slug, pk):
    project, role = _member_project(request, project_slug)
    scenario = get_object_or_404(Scenario.objects.select_related("current_version"), pk=pk, project=project)
    version = scenario.current_version
    groups: dict[str, list] = {}
    if version is not None:
        for rule in version.rules.order_by("event", "property_path", "kind", "pk"):
            groups.setdefault(rule.event, []).append({
                "obj": rule, "params": json.dumps(rule.params, ensure_ascii=False, sort_keys=True),
                "evidence": json.dumps(rule.evidence, ensure_ascii=False, indent=1, sort_keys=True),
            })
    records = TestRecord.objects.filter(project=project).order_by("-is_baseline", "-created_at")[:50]
    return render(request, "console/scenario.html", _context(
        request, project, role, page=None, scenario=scenario, version=version, groups=sorted(groups.items()),
        versions=scenario.versions.order_by("-number")[:20], records=records, can_edit=role in CAN_EDIT,
    ))


@login_required
@require_POST
def edit_rule(request, project_slug, pk, rule_pk):
    project, _ = _editor_project(request, project_slug)
    scenario = get_object_or_404(Scenario, pk=pk, project=project)
    rule = get_object_or_404(Rule, pk=rule_pk, version=scenario.current_version_id)
    try:
        params = (read_json_text(request.POST.get("params", "").encode("utf-8", "surrogatepass"), api_limits(),
                                 what="parameters") if "params" in request.POST else rule.params)
    except UploadRefused as exc:
        problem = exc.reason if exc.limit or isinstance(exc, BadJSONValue) else \
            f"parameters are not valid JSON ({exc.reason})"
        messages.error(request, f"Not saved: {problem}.")
        return _back(project, scenario)
    bad = first_bad_value(params, "parameters")
    if bad is not None:
        messages.error(request, f"Not saved: {bad}.")
        return _back(project, scenario)
    enabled = request.POST.get("enabled") == "on"
    strength = request.POST.get("strength", rule.strength)
    if strength not in Strength.values:
        messages.error(request, f"Not saved: unknown strength {strength!r}.")
        return _back(project, scenario)
    if params == rule.params and enabled == rule.enabled and strength == rule.strength:
        messages.info(request, "Nothing changed.")
        return _back(project, scenario)
    candidate = Rule(version=rule.version, kind=rule.kind, event=rule.event, property_path=rule.property_path,
                     params=params, strength=strength, enabled=enabled, evidence=rule.evidence)
    try:
        candidate.clean()
    except ValidationError as exc:
        messages.error(request, "Not saved: " + "; ".join(m for ms in exc.message_dict.values() for m in ms))
        return _back(project, scenario)
    try:
        with transaction.atomic():
            version = scenario.new_version(note=f"edited {rule}", created_by=request.user)
            copy = version.copy_of(rule)
            copy.params, copy.strength, copy.enabled = params, strength, enabled
            copy.save()
    except HistoryError as exc:  # someone made a newer version meanwhile
        messages.error(request, f"Not saved: {exc}.")
        return _back(project, scenario)
    messages.success(request, f"Saved {rule} as version {version.number}.")
    return _back(project, scenario)


@login_required
@require_POST
def infer(request, project_slug, pk):
    project, _ = _editor_project(request, project_slug)
    scenario = get_object_or_404(Scenario, pk=pk, project=project)
    ids = [int(i) for i in request.POST.getlist("records") if i.isdigit() and int(i) <= INT64_MAX]
    records = list(TestRecord.objects.filter(project=project, pk__in=ids))
    records = [r for r in records if r.events.exists()]
    if not records:
        messages.error(request, "Choose at least one test record with events to learn from.")
        return _back(project, scenario)
    version = infer_version(scenario, records, user=request.user)
    messages.success(request, f"Learnt {version.rules.count()} rules from {len(records)} record(s): version {version.number}.")
    return _back(project, scenario)
