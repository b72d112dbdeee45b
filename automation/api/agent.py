"""The REST API device agents speak, with their agent token (tra_…), under /api/v1/agent/.

An agent sees only runs on its own devices (any other run id answers 404). Every upload is idempotent, so
the agent's outbox can resend after a lost answer: event batches by their id, steps and screenshots by step
index, the recording and the proxy report by run, finish by the run's state. Unknown fields are refused
with their names: an agent of another version must not lose data silently."""

from __future__ import annotations

import json
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scoping import AgentPrincipal
from sdk_bridge.ingest import parse_batch, store_batch, store_proxy_report
from trackreplay.stored_files import atomic_files, save_file
from trackreplay.upload_http import ingest_limits, read_request
from trackreplay.uploads import make_limits, parse_json
from trackreplay.api_support import count, ms_time, row_id
from sdk_bridge.api.views import BatchDoc, ProxyReportDoc

from ..device_requests import (DETAIL_MAX, RequestRefused, answer_check, answer_failure, answer_screenshot,
                               device_of)
from ..lifecycle import RunConflict, bundle, fail_run, finish_run, heartbeat, record_steps, start_run
from ..models import Platform, ProxyMode, Run, RunMode, RunScreenshot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_STEP = 2**31 - 1  # a step number must fit the screenshot's column (PostgreSQL integer)


def read_screenshot(request) -> bytes:
    """A PNG body, bounded by TRACKREPLAY_SCREENSHOT_MAX_BYTES while it streams (refused with 413 past it)."""
    size = "TRACKREPLAY_SCREENSHOT_MAX_BYTES"
    return read_request(request, make_limits(size, size, "TRACKREPLAY_UPLOAD_MAX_DEPTH",
                                             "TRACKREPLAY_UPLOAD_MAX_ENTRIES", lambda name: getattr(settings, name)),
                        what="screenshot")


class IsAgent(permissions.BasePermission):
    message = "Only a device agent's token (tra_…) may use this endpoint."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentPrincipal)


class Strict(serializers.Serializer):
    """Refuses fields it does not know, naming them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class DeviceReport(Strict):
    platform = serializers.ChoiceField(choices=Platform.choices, help_text="How the device is driven.")
    name = serializers.CharField(max_length=100, help_text="The device's name, unique on this agent.")
    serial = serializers.CharField(max_length=120, allow_blank=True, required=False, default="",
                                   help_text="adb serial, iOS UDID, or a local id such as 'chromium-1'.")
    model = serializers.CharField(max_length=120, allow_blank=True, required=False, default="",
                                  help_text="Hardware model or browser.")
    os_version = serializers.CharField(max_length=40, allow_blank=True, required=False, default="",
                                       help_text="e.g. 'Android 14' or 'Chromium 156'.")
    labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list,
                                   help_text="Labels a new device starts with (edited in the console afterwards).")
    screen = serializers.RegexField(r"^(|[1-9][0-9]{0,4}x[1-9][0-9]{0,4})$", max_length=11, allow_blank=True,
                                    required=False, default="",
                                    error_messages={"invalid": "Write the screen as WIDTHxHEIGHT in pixels, e.g. "
                                                               "'1080x2400', or '' when unknown."},
                                    help_text="Screen size in pixels, WIDTHxHEIGHT; '' when unknown.")
    battery = serializers.IntegerField(min_value=0, max_value=100, allow_null=True, required=False, default=None,
                                       help_text="Battery level in percent; null when unknown (a browser).")
    proxy = serializers.ChoiceField(choices=ProxyMode.choices, required=False, default=ProxyMode.AUTO,
                                    help_text="auto: the agent sets the device's proxy; manual: a person sets it "
                                              "on the device (iOS).")
    wda_url = serializers.RegexField(
        r"^(|(https?|http\+usbmux)://[^\s/?#]+(/[^\s]*)?)$", max_length=300, required=False, default="",
        allow_blank=True, error_messages={"invalid": "Write WDA's URL as http://host:port, https://... or "
                                                     "http+usbmux://UDID:8100 (WDA over USB)."},
        help_text="iOS: the WebDriverAgent URL the agent drives the device through (http+usbmux://UDID:8100 over "
                  "USB).")
    proxy_address = serializers.RegexField(
        r"^(|[A-Za-z0-9.\-]{1,253}:[1-9][0-9]{0,4}|\[[0-9A-Fa-f:.]{2,45}\]:[1-9][0-9]{0,4})$", max_length=260,
        required=False, default="", allow_blank=True,
        error_messages={"invalid": "Write the proxy address as host:port, e.g. '192.168.1.20:8888'."},
        help_text="A device whose proxy is set by hand (iOS): the address and port to set it to.")


class Heartbeat(Strict):
    hostname = serializers.CharField(max_length=255, allow_blank=True, help_text="The agent's host name.")
    version = serializers.CharField(max_length=40, allow_blank=True, help_text="The agent's version.")
    devices = DeviceReport(many=True, help_text="Every device the agent drives now.")
    running = serializers.ListField(child=row_id(), help_text="Runs the agent is executing now.")


def iso_time(value):
    if value is None:
        return value
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise serializers.ValidationError(f"{value!r} is not an ISO 8601 time such as 2026-12-01T10:00:00.000Z.")
    return value


class StepResult(Strict):
    index = count(min_value=1, help_text="1-based step number in the flow.")
    action = serializers.CharField(max_length=100, help_text="The flow action, e.g. 'tap'.")
    label = serializers.CharField(max_length=500, allow_blank=True, help_text="What the step does, for people.")
    outcome = serializers.ChoiceField(choices=["passed", "failed", "skipped", "running"],
                                      help_text="running while the step is being done.")
    started_at = serializers.CharField(allow_null=True, max_length=40, validators=[iso_time],
                                       help_text="ISO 8601 UTC time.")
    finished_at = serializers.CharField(allow_null=True, max_length=40, validators=[iso_time],
                                        help_text="ISO 8601 UTC time.")
    error = serializers.CharField(allow_blank=True, max_length=5000, help_text="Why the step failed or was skipped.")
    screenshot = serializers.CharField(allow_null=True, max_length=300,
                                       help_text="The screenshot's name in the run folder, uploaded separately.")
    line = count(allow_null=True, required=False, help_text="The step's line in its flow file.")
    attempts = count(required=False, default=0, help_text="Tries made (retry + 1, plus one per recovery).")
    notes = serializers.ListField(
        child=serializers.CharField(max_length=1000), required=False, max_length=20,
        help_text="What went wrong with the device during the step and what was done about it (the app crashed "
                  "and was restarted, an ANR dialog was closed, the UI server was restarted).")


class Steps(Strict):
    steps = StepResult(many=True, help_text="Step results; a step sent again replaces itself.")
    step_count = count(required=False, help_text="Steps in the flow.")


class LogLine(Strict):
    at = ms_time(help_text="ms since the epoch.")
    level = serializers.CharField(max_length=40, help_text="e.g. 'log', 'error', 'pageerror'.")
    text = serializers.CharField(max_length=5000, allow_blank=True, help_text="The message.")


class Logs(Strict):
    start = count(help_text="Index of the first line in the run's log; a batch "
                                                            "sent again lands on the same lines.")
    lines = LogLine(many=True, help_text="The device's log lines, in order.")


class Finish(Strict):
    outcome = serializers.ChoiceField(choices=["passed", "failed", "error"],
                                      help_text="passed: every non-optional step passed; error: the run broke.")
    error = serializers.CharField(allow_blank=True, max_length=5000, help_text="Why it did not pass.")
    steps = StepResult(many=True, help_text="The final timeline.")
    step_count = count(help_text="Steps in the flow.")
    logs = LogLine(many=True, required=False, help_text="The device's log lines during the run.")


class AgentView(APIView):
    permission_classes = [IsAgent]

    @property
    def agent(self):
        return self.request.user.agent

    # What a run still takes from its agent, by state. A run that passed or failed has its report: nothing
    # may change its record any more. One that ended without its agent (error, cancelled) takes what the
    # agent kept, so a crash loses nothing.
    TAKES = {"upload": ("running", "error", "cancelled"), "finish": ("running", "error", "cancelled", "verifying")}

    def run(self, pk: int, takes: str | None = "upload") -> Run:
        run = Run.objects.select_related("task__script", "task__mock_record__project", "device", "project").filter(
            pk=pk, device__agent=self.agent).first()
        if run is None:
            from rest_framework.exceptions import NotFound

            raise NotFound(f"No run {pk} on this agent's devices.")
        if takes is not None and run.status not in self.TAKES[takes]:
            raise RunConflict(f"run {run.pk} is {run.status}: it takes no more uploads")
        return run

    def json_body(self, serializer_class=None):
        """The body, bounded while read and parsed (gzip allowed), validated by the serializer when given.
        Refusals (UploadRefused) answer 413 or 400 naming the limit, through the API's exception handler."""
        limits = ingest_limits()
        data = parse_json(read_request(self.request, limits), limits)
        if serializer_class is None:
            return data
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def handle_exception(self, exc):
        if isinstance(exc, RunConflict):
            return Response({"error": str(exc)}, status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)


class HttpsCheckAnswer(Strict):
    request = row_id(help_text="The request's id, from the heartbeat answer's requests.")
    ok = serializers.BooleanField(help_text="Whether HTTPS through the proxy works on the device.")
    detail = serializers.CharField(max_length=DETAIL_MAX, allow_blank=True,
                                   help_text="What the probe saw, for people (e.g. the TLS error).")


class ScreenshotQuery(Strict):
    request = row_id(help_text="The screenshot request's id, from the heartbeat answer's requests.")


class RequestFailure(Strict):
    request = row_id(help_text="The request's id, from the heartbeat answer's requests.")
    error = serializers.CharField(max_length=DETAIL_MAX,
                                  help_text="Why the agent could not do it (device busy or gone, probe broke).")


class HeartbeatView(AgentView):
    """The agent's devices and running runs, every few seconds: devices online (the ones it no longer lists
    offline), leases extended. The answer tells the agent which broker queue to consume, which runs to cancel
    and what people asked of its devices (requests)."""

    @extend_schema(request=Heartbeat, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        from trackreplay.celery import agent_queue

        data = self.json_body(Heartbeat)
        with transaction.atomic():
            result = heartbeat(self.agent, hostname=data["hostname"], version=data["version"],
                               devices=data["devices"], running=data["running"])
        result.update({
            "queue": agent_queue(self.agent.pk),
            "broker": {"url": settings.TRACKREPLAY_AGENT_BROKER_URL or settings.CELERY_BROKER_URL,
                       "transport_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS},
            "heartbeat_seconds": max(2, min(10, settings.TRACKREPLAY_LEASE_SECONDS // 4)),
            "lease_seconds": settings.TRACKREPLAY_LEASE_SECONDS,
        })
        return Response(result)


class DeviceAnswerView(AgentView):
    """Base of the answers to what people asked of a device (device_requests.py): the device must be this
    agent's (any other answers 404)."""

    def device(self, pk: int):
        return device_of(self.agent, pk)

    def handle_exception(self, exc):
        if isinstance(exc, RequestRefused):
            return Response({"error": str(exc)}, status=exc.status)
        return super().handle_exception(exc)


class HttpsCheckView(DeviceAnswerView):
    """The verdict of an HTTPS-interception check: stored as the device's HTTPS status. Sent again, it changes
    nothing; after the request timed out it is refused (409)."""

    @extend_schema(request=HttpsCheckAnswer, responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                                                        409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        device = self.device(pk)
        data = self.json_body(HttpsCheckAnswer)
        stored = answer_check(device, data["request"], ok=data["ok"], detail=data["detail"])
        return Response({"request": data["request"], "duplicate": not stored})


class DeviceScreenshotView(DeviceAnswerView):
    """PUT the PNG a screenshot request asked for (raw body, ?request=ID), bounded like a run's screenshots."""

    @extend_schema(request={"image/png": OpenApiTypes.BINARY}, parameters=[ScreenshotQuery],
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def put(self, request, pk: int):
        device = self.device(pk)
        query = ScreenshotQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        request_id = query.validated_data["request"]
        body = read_screenshot(request)
        if not body.startswith(PNG_MAGIC):
            return Response({"error": "the body is not a PNG image"}, status=status.HTTP_400_BAD_REQUEST)
        stored = answer_screenshot(device, request_id, body)
        return Response({"request": request_id, "bytes": len(body), "duplicate": not stored})


class RequestFailedView(DeviceAnswerView):
    """The agent could not do what was asked of the device (any kind): the request ends with the reason,
    and the device's HTTPS status stays as it was."""

    @extend_schema(request=RequestFailure, responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                                                      409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        device = self.device(pk)
        data = self.json_body(RequestFailure)
        stored = answer_failure(device, data["request"], error=data["error"])
        return Response({"request": data["request"], "duplicate": not stored})


class StartView(AgentView):
    """The agent begins the run: it moves to running and the answer is everything needed to execute it."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: OpenApiResponse(OpenApiTypes.OBJECT)})
    def post(self, request, pk: int):
        run = self.run(pk, takes=None)
        if run.status != "queued":
            raise RunConflict(f"run {run.pk} is {run.status}; it cannot start" + (f" ({run.error})" if run.error else ""))
        try:
            payload = bundle(run)  # before starting: a run that cannot be executed must not be marked running
        except (RunConflict, ValueError) as exc:
            fail_run(run, f"the run cannot start: {exc}")
            raise RunConflict(str(exc)) from None
        start_run(run, self.agent)
        return Response(payload)


class MockHarView(AgentView):
    """The task's mock record as HAR, for the replay proxy."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        from mock_records.har_io import export_har

        run = self.run(pk, takes=None)
        if run.mode != RunMode.REPLAY or run.task.mock_record is None:
            return Response({"error": "only a replay run of a task with a mock record has one"},
                            status=status.HTTP_404_NOT_FOUND)
        body = json.dumps(export_har(run.task.mock_record), ensure_ascii=False)
        return HttpResponse(body, content_type="application/json")


class StepsView(AgentView):
    """Step results as they happen (live progress); the same step sent again replaces itself."""

    @extend_schema(request=Steps, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        run = self.run(pk)
        data = self.json_body(Steps)
        record_steps(run, [dict(step) for step in data["steps"]])
        if data.get("step_count") is not None:
            Run.objects.filter(pk=run.pk).update(step_count=data["step_count"])
        return Response({"steps": len(data["steps"])})


class ScreenshotView(AgentView):
    """PUT the PNG taken after step N (raw body); sending it again replaces it."""

    @extend_schema(request={"image/png": OpenApiTypes.BINARY}, responses={200: OpenApiTypes.OBJECT})
    def put(self, request, pk: int, step: int):
        run = self.run(pk)
        if not 1 <= step <= MAX_STEP:
            return Response({"error": f"step {step} is outside 1..{MAX_STEP}", "field": "step"},
                            status=status.HTTP_400_BAD_REQUEST)
        body = read_screenshot(request)
        if not body.startswith(PNG_MAGIC):
            return Response({"error": "the body is not a PNG image"}, status=status.HTTP_400_BAD_REQUEST)
        with atomic_files():  # a rollback deletes the new file again
            old = RunScreenshot.objects.select_for_update().filter(run=run, step=step).first()
            if old is not None:
                storage, old_name = old.image.storage, old.image.name
                old.delete()
                # Only once the replacement is committed: a rollback keeps the old row, which needs its file.
                transaction.on_commit(lambda: storage.delete(old_name))
            shot = RunScreenshot(run=run, step=step)
            name = shot.image.field.generate_filename(shot, f"run-{run.pk}-step-{step:03d}.png")
            shot.image.name = save_file(shot.image.storage, name, ContentFile(body),
                                        referenced=lambda n: RunScreenshot.objects.filter(image=n).exists())
            shot.save()
        return Response({"step": step, "bytes": len(body)})


class EventsView(AgentView):
    """A batch of captured events (the ingestion batch format); a batch id already stored stores nothing."""

    @extend_schema(request=BatchDoc, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        run = self.run(pk)
        limits = ingest_limits()
        batch = parse_batch(read_request(request, limits), limits)
        stored, created = store_batch(run, batch)
        return Response({"batch_id": stored.batch_id, "stored": stored.event_count if created else 0,
                         "duplicate": not created}, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RecordingView(AgentView):
    """The HAR a record run's proxy wrote: it becomes the run's new mock record (once per run)."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        from sdk_bridge.api.views import accept_recording

        run = self.run(pk)
        if run.mode != RunMode.RECORD:
            return Response({"error": f"run {run.pk} is a {run.mode} run; only record runs upload a recording"},
                            status=status.HTTP_409_CONFLICT)
        return accept_recording(request, run)


class ProxyReportView(AgentView):
    """What the run's proxy served, missed and passed through; sets the record's health flags."""

    @extend_schema(request=ProxyReportDoc, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        run = self.run(pk)
        flags = store_proxy_report(run, self.json_body())
        return Response({"health_flags": flags})


class LogsView(AgentView):
    """The device's log lines as the run goes (the console shows them live); placed by index, so a retry
    stores nothing twice. The final upload (finish) carries the whole log."""

    MAX_LINES = 5000

    @extend_schema(request=Logs, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        run = self.run(pk)
        data = self.json_body(Logs)
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run.pk)
            logs = list(locked.logs or [])
            start = min(data["start"], len(logs))  # a gap (a lost batch) closes up rather than leaving holes
            logs[start:start + len(data["lines"])] = [dict(line) for line in data["lines"]]
            Run.objects.filter(pk=run.pk).update(logs=logs[-self.MAX_LINES:])
        return Response({"lines": min(len(logs), self.MAX_LINES)})


class FinishView(AgentView):
    """The flow ended on the device: the run moves to verifying and its verification is queued. Sent last,
    after every other upload of the run, by the agent's outbox."""

    @extend_schema(request=Finish, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        run = self.run(pk, takes="finish")
        data = self.json_body(Finish)
        logs = [dict(line) for line in data["logs"]] if "logs" in data else None
        run = finish_run(run, outcome=data["outcome"], error=data["error"],
                         timeline=[dict(step) for step in data["steps"]], step_count=data["step_count"], logs=logs)
        return Response({"run": run.pk, "status": run.status})
