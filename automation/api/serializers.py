import re

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer

from ..models import Agent, AgentToken, Device, DeviceRequest, Platform, Run, RunToken, Script, Task, TaskGroup


class AgentSerializer(ScopedModelSerializer):
    class Meta:
        model = Agent
        fields = ["id", "project", "name", "hostname", "version", "last_seen_at", "created_at", "updated_at"]


class AgentTokenSerializer(ScopedModelSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself; shown only in the create response.")

    class Meta:
        model = AgentToken
        fields = ["id", "agent", "name", "hint", "created_at", "last_used_at", "revoked_at", "token"]
        read_only_fields = ["hint", "created_at", "last_used_at", "revoked_at"]


class DeviceSerializer(ScopedModelSerializer):
    https_summary = serializers.CharField(read_only=True, help_text="The last HTTPS check in words.")

    class Meta:
        model = Device
        fields = ["id", "project", "agent", "name", "platform", "serial", "model", "os_version", "screen", "battery",
                  "proxy_mode", "wda_url", "proxy_address", "labels", "status", "last_seen_at", "https_status", "https_detail",
                  "https_checked_at", "https_summary", "created_at", "updated_at"]
        # What the agent reports (and the platform's claim on the device) is not for people to set.
        read_only_fields = ["agent", "model", "os_version", "screen", "battery", "proxy_mode", "wda_url", "proxy_address", "status",
                            "last_seen_at", "https_status", "https_detail", "https_checked_at"]

    def validate_labels(self, value):
        if not isinstance(value, list) or not all(isinstance(label, str) and label.strip() for label in value):
            raise serializers.ValidationError('Must be a list of labels such as ["local", "cn"].')
        return value


# Named apart from DeviceSerializer's own request-body component ("DeviceRequest").
@extend_schema_serializer(component_name="DeviceAsk")
class DeviceRequestSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True, help_text="pending, answered, failed (the agent could not do it: "
                                  "see error) or unanswered (no answer within TRACKREPLAY_DEVICE_REQUEST_SECONDS).")
    image = serializers.SerializerMethodField(help_text="Where the screenshot is (GET), once it arrived.")

    class Meta:
        model = DeviceRequest
        fields = ["id", "device", "kind", "state", "requested_by", "created_at", "answered_at", "ok", "detail",
                  "error", "image"]
        read_only_fields = fields

    def get_image(self, request) -> str | None:
        return f"/api/v1/device-requests/{request.pk}/image/" if request.image else None


class ScriptSerializer(ScopedModelSerializer):
    class Meta:
        model = Script
        fields = ["id", "project", "name", "path", "platform", "source", "description", "created_at", "updated_at"]


class TaskSerializer(ScopedModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "project", "name", "script", "mock_record", "scenario", "baseline_record", "device_selector",
                  "app", "env", "mock_scope", "time_cap", "enabled", "created_at", "updated_at"]

    def validate_device_selector(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object such as {"platform": "android", "labels": ["cn"]}.')
        unknown = sorted(set(value) - {"platform", "labels"})
        if unknown:
            raise serializers.ValidationError(f"Unknown keys {unknown}: a selector has platform and labels.")
        if "platform" in value and value["platform"] not in Platform.values:
            raise serializers.ValidationError(f"platform must be one of {Platform.values}, not {value['platform']!r}.")
        labels = value.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise serializers.ValidationError("labels must be a list of strings.")
        return value

    def validate_env(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object such as {"KEYWORD": "green tea"}.')
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise serializers.ValidationError(f"{key!r} is not a variable name (letters, digits, _).")
            if not isinstance(item, (str, int, float, bool)):
                raise serializers.ValidationError(f"{key}: a variable's value is a string or a number.")
        return value

    def validate_mock_scope(self, value):
        from mock_records.scope import MockScope, ScopeError

        try:
            MockScope.parse(value)
        except ScopeError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class TaskGroupSerializer(ScopedModelSerializer):
    schedule = serializers.CharField(source="describe_schedule", read_only=True,
                                     help_text="The cron expression in words.")

    class Meta:
        model = TaskGroup
        fields = ["id", "project", "name", "tasks", "cron", "time_zone", "enabled", "schedule", "created_at",
                  "updated_at"]


class RunSerializer(ScopedModelSerializer):
    test_record = serializers.SerializerMethodField(help_text="The test record the run captured.")
    report = serializers.SerializerMethodField(help_text="The run's latest report.")

    class Meta:
        model = Run
        fields = ["id", "project", "task", "task_group", "mode", "device", "status", "trigger", "triggered_by",
                  "started_at", "finished_at", "error", "step_count", "timeline", "lease_expires_at", "test_record",
                  "report", "created_at", "updated_at"]
        read_only_fields = ["triggered_by", "status", "started_at", "finished_at", "error"]

    # From the prefetched rows (RunViewSet): no query per run in a list.
    def get_test_record(self, run) -> int | None:
        return min((record.pk for record in run.test_records.all()), default=None)

    def get_report(self, run) -> int | None:
        return max((report.pk for report in run.reports.all()), default=None)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None:
            task, mode = attrs["task"], attrs.get("mode", "replay")
            if mode == "replay" and task.mock_record_id is None:
                raise serializers.ValidationError({"mode": f"Task {task.name!r} has no mock record to replay: "
                                                           f"record it first."})
            device = attrs.get("device")
            if device is not None:
                wanted = (task.device_selector or {}).get("platform") or task.script.platform
                if device.platform != wanted:
                    raise serializers.ValidationError({"device": f"{device.name} is a {device.platform} device; "
                                                                 f"the task runs on {wanted}."})
        return attrs


class RunTokenSerializer(serializers.ModelSerializer):
    token = serializers.CharField(read_only=True, help_text="Send as 'Authorization: Bearer <token>' to "
                                  "/api/v1/ingest/events; shown only here.")

    class Meta:
        model = RunToken
        fields = ["id", "run", "name", "hint", "created_at", "expires_at", "last_used_at", "revoked_at", "token"]
        read_only_fields = fields


class StrictRequest(serializers.Serializer):
    """A request body whose unknown fields are refused with their names."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class RevokeRunTokenRequest(StrictRequest):
    token = serializers.IntegerField(
        help_text="The id of the run's token to revoke (GET runs/{id}/tokens/ lists them).")


class RunTokenRequest(StrictRequest):
    """What POST /runs/{id}/token/ takes; unknown fields are refused with their names."""

    name = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                 help_text="What the token is for, e.g. 'iOS bridge' (default 'sdk bridge').")
    expires_in = serializers.IntegerField(
        required=False, min_value=60, max_value=RunToken.MAX_TTL_SECONDS,
        help_text="Seconds until the token expires (default TRACKREPLAY_RUN_TOKEN_TTL_SECONDS, 24 h); it stops "
                  "working anyway when the run ends.")
