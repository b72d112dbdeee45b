"""Checks and screenshots a person asks of a device, answered by its agent.

The platform cannot call an agent (agents sit behind lab firewalls and only call out), so a request waits on
the platform: every heartbeat answer of the device's agent lists the requests still open for the devices it
has just reported, until the agent answers one or it times out (TRACKREPLAY_DEVICE_REQUEST_SECONDS). Then it
shows as "no answer from the agent" and is offered no more: a late answer is refused, so what the console
shows never changes behind a person who has already read "no answer".

Answers are compare-and-swap on the open request, so an agent that sends its answer twice (its first answer
was lost) changes nothing the second time. Asking again while a request of that kind is open returns the
open one: clicking "Check" twice asks the phone once."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from trackreplay.stored_files import atomic_files, save_file

from .models import Agent, Device, DeviceRequest, DeviceRequestKind, DeviceStatus, HttpsStatus

KEEP_PER_DEVICE = 20  # older requests (and their screenshots) are deleted when a new one is made
DETAIL_MAX = 2000


class RequestRefused(Exception):
    """A request cannot be made or answered; `status` is the HTTP answer that says so (404, 409)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def ask(device: Device, kind: str, *, user=None) -> tuple[DeviceRequest, bool]:
    """The open request of this kind for the device (False), or a new one (True). RequestRefused (409) when
    no agent can hear it: the device has none, or its agent does not report it now."""
    if device.agent_id is None:
        raise RequestRefused(f"{device} is attached to no agent: there is nobody to ask", 409)
    if device.status == DeviceStatus.OFFLINE:
        raise RequestRefused(f"{device} is offline: its agent can be asked once it reports the device again", 409)
    with transaction.atomic():
        Device.objects.select_for_update().filter(pk=device.pk).first()  # two clicks at once make one request
        open_one = open_requests().filter(device=device, kind=kind).first()
        if open_one is not None:
            return open_one, False
        created = DeviceRequest.objects.create(device=device, kind=kind, requested_by=user)
        _prune(device)
    return created, True


def _prune(device: Device) -> None:
    old = list(DeviceRequest.objects.filter(device=device).order_by("-created_at", "-pk")[KEEP_PER_DEVICE:])
    files = [(request.image.storage, request.image.name) for request in old if request.image]
    DeviceRequest.objects.filter(pk__in=[request.pk for request in old]).delete()
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in files])


def open_requests():
    """Requests not answered and not timed out."""
    since = timezone.now() - timedelta(seconds=DeviceRequest.timeout_seconds())
    return DeviceRequest.objects.filter(answered_at__isnull=True, created_at__gt=since)


def offered(agent: Agent, device_ids) -> list[dict]:
    """What a heartbeat answer tells the agent to do: the open requests for the devices it just reported."""
    rows = (open_requests().filter(device__agent=agent, device_id__in=list(device_ids))
            .order_by("created_at", "pk").values_list("pk", "device_id", "kind"))
    return [{"id": pk, "device": device_id, "kind": kind} for pk, device_id, kind in rows]


def device_of(agent: Agent, device_id: int) -> Device:
    device = Device.objects.filter(pk=device_id, agent=agent).first()
    if device is None:
        raise RequestRefused(f"No device {device_id} on this agent.", 404)
    return device


def _open_for_answer(device: Device, request_id: int, kind: str | None) -> DeviceRequest | None:
    """The request (of this kind, or any) to answer, locked; None when it was answered already (a repeated
    answer changes nothing)."""
    requests = DeviceRequest.objects.select_for_update().filter(pk=request_id, device=device)
    request = (requests.filter(kind=kind) if kind else requests).first()
    if request is None:
        raise RequestRefused(f"Device {device.pk} has no {kind + ' ' if kind else ''}request {request_id}.", 404)
    if request.answered_at is not None:
        return None
    if request.state == "unanswered":
        raise RequestRefused(
            f"request {request_id} timed out at {request.deadline:%Y-%m-%d %H:%M:%S} UTC (no answer within "
            f"{DeviceRequest.timeout_seconds()} s) and is shown as unanswered; a person can ask again", 409)
    return request


def answer_check(device: Device, request_id: int, *, ok: bool, detail: str) -> bool:
    """The agent's verdict on an HTTPS check: stored on the request and as the device's HTTPS status. False
    when the request had been answered already."""
    now = timezone.now()
    with transaction.atomic():
        request = _open_for_answer(device, request_id, DeviceRequestKind.HTTPS_CHECK)
        if request is None:
            return False
        detail = detail[:DETAIL_MAX]
        DeviceRequest.objects.filter(pk=request.pk).update(answered_at=now, ok=ok, detail=detail)
        Device.objects.filter(pk=device.pk).update(https_status=HttpsStatus.WORKS if ok else HttpsStatus.FAILS,
                                                   https_detail=detail, https_checked_at=now)
    return True


def answer_screenshot(device: Device, request_id: int, png: bytes) -> bool:
    """The screenshot asked for; False when the request had been answered already (the file is not kept)."""
    with atomic_files():  # a rollback deletes the new file again
        request = _open_for_answer(device, request_id, DeviceRequestKind.SCREENSHOT)
        if request is None:
            return False
        name = request.image.field.generate_filename(request, f"device-{device.pk}-request-{request.pk}.png")
        request.image.name = save_file(request.image.storage, name, ContentFile(png),
                                       referenced=lambda n: DeviceRequest.objects.filter(image=n).exists())
        request.answered_at, request.ok = timezone.now(), True
        request.save(update_fields=["image", "answered_at", "ok"])
    return True


def answer_failure(device: Device, request_id: int, *, error: str) -> bool:
    """The agent could not do what was asked (the device is busy or gone, the check could not be made); the
    device's HTTPS status stays as it was. False when the request had been answered already."""
    with transaction.atomic():
        request = _open_for_answer(device, request_id, None)
        if request is None:
            return False
        DeviceRequest.objects.filter(pk=request.pk).update(answered_at=timezone.now(),
                                                           error=(error or "no reason given")[:DETAIL_MAX])
    return True
