"""A device's page: what its agent reports (platform, model, OS, screen, battery, how its proxy is set),
whether HTTPS interception works on it, its current run, and a screenshot on demand. Checks and screenshots
are asked of the agent (automation/device_requests.py) and arrive with one of its next heartbeats; the page
polls while one is open, as a run's page does while the run goes."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone

from automation.device_requests import RequestRefused, ask
from automation.models import Device, DeviceRequest, DeviceRequestKind

from .pages import battery, current_run
from .views import _context, _member_project, _page_or_404, _rows


def _time(value) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i:s")


def latest(device: Device, kind: str) -> DeviceRequest | None:
    return device.requests.filter(kind=kind).first()


def check_words(device: Device, asked: DeviceRequest | None) -> str:
    """The HTTPS status in words, with what became of the latest check asked (when it is not the status)."""
    words = device.https_summary()
    if device.https_checked_at:
        words += f" (checked {_time(device.https_checked_at)})"
    if asked is None or asked.state == "answered":
        return words
    if asked.state == "pending":
        return f"{words}. Checking now: asked at {_time(asked.created_at)}, waiting for the agent."
    if asked.state == "failed":
        return f"{words}. The agent could not check at {_time(asked.answered_at)}: {asked.error}"
    return f"{words}. No answer from the agent to the check asked at {_time(asked.created_at)}."


def live_context(project, device: Device) -> dict:
    check = latest(device, DeviceRequestKind.HTTPS_CHECK)
    shot = latest(device, DeviceRequestKind.SCREENSHOT)
    return {
        "device": device, "https_words": check_words(device, check), "shot": shot,
        "shot_url": reverse("console-device-screenshot", args=[project.slug, device.pk, shot.pk])
        if shot is not None and shot.image else None,
        "waiting": any(asked is not None and asked.state == "pending" for asked in (check, shot)),
    }


@login_required
def device_detail(request, project_slug, pk):
    project, role = _member_project(request, project_slug)
    device = get_object_or_404(Device.objects.select_related("agent"), pk=pk, project=project)
    context = _context(request, project, role, page=_page_or_404("devices"), **live_context(project, device))
    if request.headers.get("HX-Request"):
        return render(request, "console/_device_live.html", context)
    page = context["page"]
    child = page.children[0]
    context.update(
        obj=device, can_change=role in page.edit_roles, battery=battery(device), current_run=current_run(device),
        runs_columns=[column.label for column in child.columns],
        runs=_rows(list(child.rows(device)[:child.limit]), child.columns, project, _page_or_404("runs")),
    )
    return render(request, "console/device.html", context)


@login_required
def device_screenshot(request, project_slug, pk, request_pk):
    project, _ = _member_project(request, project_slug)
    asked = get_object_or_404(DeviceRequest, pk=request_pk, device_id=pk, device__project=project)
    if not asked.image:
        raise Http404("No screenshot arrived for this request")
    return FileResponse(asked.image.open("rb"), content_type="image/png")


# -- the buttons (console-action: devices/<pk>/do/check-https/ and do/screenshot/) ------------------------------

BACK = {"proxy-ca": "console-proxy-ca"}  # a button on the CA page returns there; others to the device


def _asker(kind: str, what: str):
    def handle(request, project, device: Device):
        try:
            asked, created = ask(device, kind, user=request.user)
        except RequestRefused as exc:
            messages.error(request, f"Not asked: {exc}.")
        else:
            if created:
                messages.success(request, f"Asked the agent of {device} for {what}: the answer appears on "
                                          f"{device}'s page when it arrives.")
            else:
                messages.info(request, f"{what[0].upper()}{what[1:]} of {device} was already asked at "
                                       f"{_time(asked.created_at)}: waiting for the agent.")
        back = request.POST.get("back")
        if back in BACK:
            return redirect(reverse(BACK[back], args=[project.slug]))
        return redirect(reverse("console-detail", args=[project.slug, "devices", device.pk]))
    return handle


ACTIONS = {
    ("devices", "check-https"): _asker(DeviceRequestKind.HTTPS_CHECK, "an HTTPS-interception check"),
    ("devices", "screenshot"): _asker(DeviceRequestKind.SCREENSHOT, "a screenshot"),
}
