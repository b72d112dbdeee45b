"""The report page: pass rate, anomalies grouped by event with the raw event and repair buttons, and the
replay against its baseline recording. A repair is one POST: new scenario version, records re-verified,
and the browser lands on the new report that says what changed."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from reports.models import Anomaly, AnomalyStatus, Report
from reports.repair import RepairError, repair_anomaly
from reports.verification import baseline_diff
from scenarios.repair import ACTIONS, actions_for

from .cells import Flags
from .views import CAN_EDIT, _context, _editor_project, _member_project


def _pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


@login_required
def report_detail(request, project_slug, pk):
    project, role = _member_project(request, project_slug)
    report = get_object_or_404(Report.objects.select_related("test_record", "scenario_version__scenario",
                                                             "baseline_record", "supersedes"),
                               pk=pk, project=project)
    groups: dict[str, dict] = {}
    for anomaly in report.anomalies.select_related("rule").order_by("event_index", "pk"):
        group = groups.setdefault(anomaly.event_name, {"event": anomaly.event_name, "anomalies": [], "strong": 0})
        group["strong"] += anomaly.strength == "strong"
        group["anomalies"].append({
            "obj": anomaly, "expected": _pretty(anomaly.expected), "actual": _pretty(anomaly.actual),
            "raw": _pretty(anomaly.raw_event) if anomaly.raw_event is not None else "",
            "repairs": [(a, ACTIONS[a]) for a in actions_for(anomaly.rule_kind)]
            if anomaly.rule_id and anomaly.status == AnomalyStatus.OPEN and report.superseded_by.count() == 0 else [],
        })
    ordered = sorted(groups.values(), key=lambda g: (-g["strong"], g["event"]))
    diffs = [d for d in baseline_diff(report) if d.changes]
    return render(request, "console/report.html", _context(
        request, project, role, page=None, report=report, groups=ordered, diffs=diffs,
        can_repair=role in CAN_EDIT, newer=report.superseded_by.order_by("-pk").first(),
        health=Flags(report.test_record.health_flags).badges(),
    ))


@login_required
@require_POST
def repair(request, project_slug, pk, anomaly_pk):
    project, _ = _editor_project(request, project_slug)
    anomaly = get_object_or_404(Anomaly.objects.select_related("report"), pk=anomaly_pk, report_id=pk,
                                report__project=project)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, f"Unknown repair {action!r}.")
        return redirect(reverse("console-report", args=[project.slug, pk]))
    try:
        report, change = repair_anomaly(anomaly, action, user=request.user, pattern=request.POST.get("pattern") or None)
    except RepairError as exc:
        messages.error(request, f"Not repaired: {exc}")
        return redirect(reverse("console-report", args=[project.slug, pk]))
    messages.success(request, f"Repaired: {change}. Re-verified without a device: pass rate "
                              f"{(report.pass_rate or 0):.0%}.")
    return redirect(reverse("console-report", args=[project.slug, report.pk]))
