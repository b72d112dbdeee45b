from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from accounts.models import Role
from trackreplay.api import ScopedModelViewSet, ScopedReadOnlyViewSet, ScopedViewSetMixin
from trackreplay.api_support import human_caller

from ..device_requests import RequestRefused, ask
from ..lifecycle import RunConflict, cancel_run, create_run, request_dispatch
from ..models import (Agent, AgentToken, Device, DeviceRequest, DeviceRequestKind, Run, RunMode, RunToken, RunTrigger,
                      Script, Task, TaskGroup)
from ..scheduling import enqueue_task_group
from .serializers import (
    AgentSerializer,
    AgentTokenSerializer,
    DeviceRequestSerializer,
    DeviceSerializer,
    RunSerializer,
    RevokeRunTokenRequest,
    RunTokenRequest,
    RunTokenSerializer,
    ScriptSerializer,
    TaskGroupSerializer,
    TaskSerializer,
)


class AgentViewSet(ScopedModelViewSet):
    """Device agents of the caller's projects (admins register them and issue their tokens)."""

    queryset = Agent.objects.all()
    serializer_class = AgentSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["project", "name"]


class AgentTokenViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Agent API tokens. Create returns the token once; delete revokes it (the row stays for the audit trail)."""

    queryset = AgentToken.objects.select_related("agent")
    serializer_class = AgentTokenSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["agent"]

    def perform_create(self, serializer):
        serializer.instance = AgentToken.issue(agent=serializer.validated_data["agent"],
                                               name=serializer.validated_data["name"])

    def perform_destroy(self, instance):
        instance.revoke()


class DeviceViewSet(ScopedModelViewSet):
    """Devices. Agents register them and report their state through the agents' API (/api/v1/agent/); here
    people name and label them. Agent tokens read only."""

    queryset = Device.objects.select_related("agent")
    serializer_class = DeviceSerializer
    write_roles = (Role.ADMIN, Role.QA)
    filterset_fields = ["project", "agent", "platform", "status", "https_status"]
    search_fields = ["name", "serial", "model"]

    def _ask(self, request, kind):
        device = self.get_object()
        self.check_object_permissions(request, device)
        try:
            asked, created = ask(device, kind, user=human_caller(request))
        except RequestRefused as exc:
            return Response({"status": [str(exc)]}, status=exc.status)
        return Response(DeviceRequestSerializer(asked).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={201: DeviceRequestSerializer, 200: DeviceRequestSerializer})
    @action(detail=True, methods=["post"], url_path="check-https")
    def check_https(self, request, pk=None):
        """Ask the device's agent whether HTTPS through the proxy works on it (a probe request). The answer
        arrives on the request (GET device-requests/{id}/) and as the device's https_status; one already open
        is returned (200) instead of asking twice."""
        return self._ask(request, DeviceRequestKind.HTTPS_CHECK)

    @extend_schema(request=None, responses={201: DeviceRequestSerializer, 200: DeviceRequestSerializer})
    @action(detail=True, methods=["post"])
    def screenshot(self, request, pk=None):
        """Ask the device's agent for a screenshot now; it arrives on the request (its image)."""
        return self._ask(request, DeviceRequestKind.SCREENSHOT)


class DeviceRequestViewSet(ScopedReadOnlyViewSet):
    """Checks and screenshots people asked of devices (POST devices/{id}/check-https/ or screenshot/), with
    the agent's answers."""

    queryset = DeviceRequest.objects.select_related("device")
    serializer_class = DeviceRequestSerializer
    filterset_fields = ["device", "kind"]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY, 404: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def image(self, request, pk=None):
        """The screenshot (PNG), once the agent sent it."""
        asked = self.get_object()
        if not asked.image:
            raise NotFound(f"Request {asked.pk} has no screenshot ({asked.state}).")
        return FileResponse(asked.image.open("rb"), content_type="image/png")


class ScriptViewSet(ScopedModelViewSet):
    """Flows that devices perform (YAML, docs/flows.md), and the Python files their python steps call."""

    queryset = Script.objects.all()
    serializer_class = ScriptSerializer
    filterset_fields = ["project", "platform"]
    search_fields = ["name", "path"]

    def perform_destroy(self, instance):
        broken = instance.broken_dependents(without=True)
        if broken:
            raise ValidationError({"path": [f"other flows use {instance.path} and would no longer run: "
                                            f"{'; '.join(broken)}"]})
        instance.delete()


class TaskViewSet(ScopedModelViewSet):
    """Tasks: script + mock record + scenario + device selector."""

    queryset = Task.objects.select_related("script", "mock_record", "scenario")
    serializer_class = TaskSerializer
    filterset_fields = ["project", "script", "mock_record", "scenario", "enabled"]
    search_fields = ["name"]

    def _start(self, request, mode):
        task = self.get_object()
        self.check_object_permissions(request, task)
        try:
            run = create_run(task, mode=mode, user=human_caller(request), trigger=RunTrigger.API)
        except RunConflict as exc:
            raise ValidationError({"mode": [str(exc)]}) from None
        return Response(RunSerializer(run, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: RunSerializer})
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        """Queue a record run: a new mock record and baseline (and rules, if the task has no scenario yet)."""
        return self._start(request, RunMode.RECORD)

    @extend_schema(request=None, responses={201: RunSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Queue a replay run against the task's mock record, verified into a report."""
        return self._start(request, RunMode.REPLAY)


class TaskGroupViewSet(ScopedModelViewSet):
    """Task groups with their cron schedule (kept in step with Celery beat)."""

    queryset = TaskGroup.objects.prefetch_related("tasks")
    serializer_class = TaskGroupSerializer
    filterset_fields = ["project", "enabled"]
    search_fields = ["name"]

    @extend_schema(request=None, responses={201: RunSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def trigger(self, request, pk=None):
        """Queue one run per enabled task of the group now."""
        group = self.get_object()
        self.check_object_permissions(request, group)
        runs = enqueue_task_group(group.pk, trigger=RunTrigger.API, user=human_caller(request))
        return Response(RunSerializer(runs, many=True, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class RunViewSet(ScopedModelViewSet):
    """Runs of tasks. People queue and cancel them; agents move them through their states with the agents'
    API only (agent tokens read here). A run's task, mode and device do not change once it exists."""

    queryset = Run.objects.select_related("task", "device").prefetch_related("test_records", "reports")
    serializer_class = RunSerializer
    write_roles = (Role.ADMIN, Role.QA)
    http_method_names = ["get", "post", "delete", "head", "options"]

    def perform_destroy(self, instance):
        if not instance.is_final:
            raise ValidationError({"status": [f"Run {instance.pk} is {instance.status}: cancel it first."]})
        instance.delete()

    @extend_schema(request=None, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running run: its device is freed, and an agent running it stops at the next step."""
        run = self.get_object()
        self.check_object_permissions(request, run)
        if not cancel_run(run, by=str(request.user)):
            raise ValidationError({"status": [f"Run {run.pk} is {run.status}; only queued and running runs can be "
                                              f"cancelled."]})
        run.refresh_from_db()
        return Response(RunSerializer(run, context=self.get_serializer_context()).data)
    filterset_fields = ["project", "task", "task_group", "status", "mode", "device", "trigger"]
    ordering_fields = ["created_at", "started_at"]

    def perform_create(self, serializer):
        run = serializer.save(triggered_by=human_caller(self.request))
        request_dispatch(run.project_id)

    @extend_schema(request=RunTokenRequest, responses={201: RunTokenSerializer})
    @action(detail=True, methods=["post"])
    def token(self, request, pk=None):
        """Issue a token for the run's in-app SDK bridge to post events with (shown once). It works until the
        run ends, it expires (expires_in, default 24 h) or it is revoked (POST revoke-token/)."""
        run = self.get_object()
        self.check_object_permissions(request, run)
        data = RunTokenRequest(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            issued = RunToken.issue_for(run, name=data.validated_data.get("name", ""),
                                        expires_in=data.validated_data.get("expires_in"))
        except ValueError as exc:
            return Response({"status": [str(exc)]}, status=status.HTTP_409_CONFLICT)
        return Response(RunTokenSerializer(issued).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: RunTokenSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def tokens(self, request, pk=None):
        """The run's tokens (their first characters only), newest first, revoked ones included."""
        run = self.get_object()
        return Response(RunTokenSerializer(run.tokens.all(), many=True).data)

    @extend_schema(request=RevokeRunTokenRequest, responses={200: RunTokenSerializer})
    @action(detail=True, methods=["post"], url_path="revoke-token", filter_backends=[])
    def revoke_token(self, request, pk=None):
        """Revoke one of the run's tokens ({"token": id}): the bridge using it is refused from its next request."""
        run = self.get_object()
        self.check_object_permissions(request, run)
        data = RevokeRunTokenRequest(data=request.data)
        data.is_valid(raise_exception=True)
        token = run.tokens.filter(pk=data.validated_data["token"]).first()
        if token is None:
            raise NotFound(f"Run {run.pk} has no token {data.validated_data['token']}.")
        token.revoke()
        return Response(RunTokenSerializer(token).data)


ROUTES = [
    ("agents", AgentViewSet),
    ("agent-tokens", AgentTokenViewSet),
    ("devices", DeviceViewSet),
    ("device-requests", DeviceRequestViewSet),
    ("scripts", ScriptViewSet),
    ("tasks", TaskViewSet),
    ("task-groups", TaskGroupViewSet),
    ("runs", RunViewSet),
]
