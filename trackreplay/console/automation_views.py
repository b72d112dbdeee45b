"""Console pages that make runs happen and watch them: Record and Replay on a task, a run's live progress
(each step's state, its screenshot, the events it sent and the device's log lines, the report),
agents' tokens (issued once, revocable)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from datetime import timezone as dt_timezone

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.http import require_POST

from automation.lifecycle import RunConflict, cancel_run, create_run
from automation.models import Agent, AgentToken, Run, RunMode, RunScreenshot, RunToken, Task
from automation.step_logs import AFTER, BEFORE, excerpt, split_by_step
from test_records.models import HealthFlag

from . import device_views
from .cells import Flags
from .views import _context, _editor_project, _member_project, _page_or_404


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i:s")


def _when_ms(ms) -> str:
    if not isinstance(ms, int):
        return "—"
    return formats.date_format(timezone.localtime(datetime.fromtimestamp(ms / 1000, tz=dt_timezone.utc)), "H:i:s")


def _seconds(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    span = datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    return f"{span.total_seconds():.1f} s"


# -- actions (POST buttons on detail pages) ---------------------------------------------------------------------

def _start(mode):
    def start(request, project, task: Task):
        try:
            run = create_run(task, mode=mode, user=request.user)
        except RunConflict as exc:
            messages.error(request, str(exc))
            return redirect(reverse("console-detail", args=[project.slug, "tasks", task.pk]))
        messages.success(request, f"{run} queued: it starts as soon as a matching device is free.")
        return redirect(reverse("console-run", args=[project.slug, run.pk]))
    return start


def _issue_token(request, project, agent: Agent):
    # Shown in this answer only (not through messages, which may travel in a cookie), and never again.
    issued = AgentToken.issue(agent=agent, name=request.POST.get("name") or f"issued by {request.user}")
    return render(request, "console/token_issued.html", _context(
        request, project, "admin", page=_page_or_404("agents"), agent=agent, token=issued.token,
        platform_url=request.build_absolute_uri("/")[:-1]))


def _check_live(request, project, record):
    from mock_records.tasks import queue_live_check

    check = queue_live_check(record, user=request.user)
    messages.success(request, f"{check} queued: this page shows what it compared and what it skipped when it is done.")
    return redirect(reverse("console-detail", args=[project.slug, "live-checks", check.pk]))


ACTIONS = {
    ("tasks", "record"): _start(RunMode.RECORD),
    ("tasks", "replay"): _start(RunMode.REPLAY),
    ("agents", "issue-token"): _issue_token,
    ("mock-records", "check-live"): _check_live,
    **device_views.ACTIONS,
}


@login_required
@require_POST
def action(request, project_slug, page_slug, pk, action_name):
    page = _page_or_404(page_slug)
    handler = ACTIONS.get((page_slug, action_name))
    if handler is None:
        raise Http404("No such action")
    project, _ = _editor_project(request, project_slug, page.edit_roles)
    obj = page.model.objects.filter(pk=pk, project=project).first()
    if obj is None:
        raise Http404("No such object in this project")
    return handler(request, project, obj)


@login_required
@require_POST
def revoke_token(request, project_slug, pk, token_pk):
    project, _ = _editor_project(request, project_slug, ("admin",))
    token = get_object_or_404(AgentToken, pk=token_pk, agent_id=pk, agent__project=project)
    token.revoke()
    messages.success(request, f"Revoked {token}: the agent is cut off at its next request.")
    return redirect(reverse("console-detail", args=[project.slug, "agents", pk]))


@login_required
@require_POST
def cancel(request, project_slug, pk):
    project, _ = _editor_project(request, project_slug)
    run = get_object_or_404(Run, pk=pk, project=project)
    if cancel_run(run, by=str(request.user)):
        messages.success(request, f"{run} cancelled: its device is free; the agent stops the flow at its next step.")
    else:
        messages.error(request, f"{run} had already ended ({run.status}).")
    return redirect(reverse("console-run", args=[project.slug, run.pk]))


@login_required
@require_POST
def issue_run_token(request, project_slug, pk):
    project, role = _editor_project(request, project_slug)
    run = get_object_or_404(Run, pk=pk, project=project)
    hours = request.POST.get("expires_in_hours", "").strip()
    expires_in = None
    if hours:
        if not hours.isdigit() or not 1 <= int(hours) <= RunToken.MAX_TTL_SECONDS // 3600:
            messages.error(request, f"Not issued: expires in (hours) must be a whole number from 1 to "
                                    f"{RunToken.MAX_TTL_SECONDS // 3600}, not {hours!r}.")
            return redirect(reverse("console-run", args=[project.slug, run.pk]))
        expires_in = int(hours) * 3600
    try:
        issued = RunToken.issue_for(run, name=request.POST.get("name", "").strip()[:100], expires_in=expires_in)
    except ValueError as exc:
        messages.error(request, f"Not issued: {exc}.")
        return redirect(reverse("console-run", args=[project.slug, run.pk]))
    # Shown in this answer only, as for agents' tokens.
    return render(request, "console/run_token_issued.html", _context(
        request, project, role, page=_page_or_404("runs"), run=run, issued=issued, token=issued.token,
        platform_url=request.build_absolute_uri("/")[:-1]))


@login_required
@require_POST
def revoke_run_token(request, project_slug, pk, token_pk):
    project, _ = _editor_project(request, project_slug)
    token = get_object_or_404(RunToken, pk=token_pk, run_id=pk, run__project=project)
    token.revoke()
    messages.success(request, f"Revoked {token}: the bridge using it is refused from its next request.")
    return redirect(reverse("console-run", args=[project.slug, pk]))


def _token_state(token) -> str:
    if token.revoked_at:
        return "revoked"
    if token.expires_at and token.expires_at <= timezone.now():
        return "expired"
    return "run ended" if token.run.is_final else "active"


# -- a run, live ------------------------------------------------------------------------------------------------------

@login_required
def run_detail(request, project_slug, pk):
    project, role = _member_project(request, project_slug)
    run = get_object_or_404(Run.objects.select_related("task", "device", "task_group"), pk=pk, project=project)
    record = run.test_records.order_by("pk").first()
    by_step: dict = defaultdict(Counter)
    if record is not None:
        for step, name in record.events.order_by("seq").values_list("step", "name"):
            by_step[step][name] += 1
    shots = set(RunScreenshot.objects.filter(run=run).values_list("step", flat=True))
    logs = split_by_step(run.timeline or [], run.logs or [])
    steps = []
    for step in run.timeline or []:
        index = step["index"]
        steps.append({
            **step, "started": _when(step.get("started_at")),
            "took": _seconds(step.get("started_at"), step.get("finished_at")),
            "events": sorted(by_step.get(index, {}).items()),
            "shot": reverse("console-run-screenshot", args=[project.slug, run.pk, index]) if index in shots else None,
            "logs": _log_excerpt(project, run, index, logs.get(index, [])),
        })
    report = run.reports.order_by("-pk").first()
    flags = Flags(record.health_flags if record else []).badges()
    context = _context(
        request, project, role, page=_page_or_404("runs"), run=run, record=record, steps=steps, report=report,
        flags=flags, before_first=sorted(by_step.get(None, {}).items()) + sorted(by_step.get(0, {}).items()),
        logs_before=_log_excerpt(project, run, BEFORE, logs.get(BEFORE, [])),
        logs_after=_log_excerpt(project, run, AFTER, logs.get(AFTER, [])),
        logged=bool(run.logs), live=not run.is_final, can_run=role in ("admin", "qa"),
        health=dict(HealthFlag.choices),
    )
    if not request.headers.get("HX-Request"):
        tokens = list(run.tokens.all())
        for token in tokens:
            token.run = run
            token.state = _token_state(token)
        context["run_tokens"] = tokens
    template = "console/_run_progress.html" if request.headers.get("HX-Request") else "console/run.html"
    return render(request, template, context)


LOG_LINES_SHOWN = 20  # per step on the run page: a chatty app's thousands of lines stay one click away


def _log_lines(lines: list[dict]) -> list[dict]:
    return [dict(line, at_text=_when_ms(line.get("at"))) for line in lines]


def _log_excerpt(project, run, key, lines: list[dict]) -> dict | None:
    """A step's log lines as the run page shows them: all of a few, the first and last of many."""
    if not lines:
        return None
    head, tail, hidden = excerpt(lines, LOG_LINES_SHOWN)
    return {"head": _log_lines(head), "tail": _log_lines(tail), "hidden": hidden, "count": len(lines),
            "all": reverse("console-run-logs", args=[project.slug, run.pk]) + f"?step={key}"}


LOG_PLACES = {BEFORE: "before the first step", AFTER: "after the last step"}


@login_required
def run_logs(request, project_slug, pk):
    """Every log line of one step (?step=N, or before / after), the run page's "show all"."""
    project, role = _member_project(request, project_slug)
    run = get_object_or_404(Run, pk=pk, project=project)
    key = request.GET.get("step", "")
    if key.isdigit():
        key = int(key)
    elif key not in LOG_PLACES:
        raise Http404("?step= names a step number, before or after")
    lines = split_by_step(run.timeline or [], run.logs or []).get(key, [])
    label = next((step.get("label") or step.get("action") for step in run.timeline or [] if step["index"] == key),
                 None)
    where = LOG_PLACES.get(key) or f"step {key}" + (f" ({label})" if label else "")
    return render(request, "console/run_logs.html", _context(
        request, project, role, page=_page_or_404("runs"), run=run, where=where, lines=_log_lines(lines)))


@login_required
def run_screenshot(request, project_slug, pk, step):
    project, _ = _member_project(request, project_slug)
    shot = get_object_or_404(RunScreenshot, run_id=pk, run__project=project, step=step)
    return FileResponse(shot.image.open("rb"), content_type="image/png")
