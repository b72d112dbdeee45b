from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer

from ..models import Agent, AgentToken, Device, Platform, Run, RunToken, Script, Task, TaskGroup


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
    class Meta:
        model = Device
        fields = ["id", "project", "agent", "name", "platform", "serial", "model", "os_version", "labels", "status",
                  "last_seen_at", "created_at", "updated_at"]


class ScriptSerializer(ScopedModelSerializer):
    class Meta:
        model = Script
        fields = ["id", "project", "name", "platform", "flow", "description", "created_at", "updated_at"]

    def validate_flow(self, value):
        if not isinstance(value, list):
            raise serializers.ValidationError("Must be a JSON list of steps.")
        for index, step in enumerate(value):
            if not isinstance(step, dict) or not isinstance(step.get("action"), str):
                raise serializers.ValidationError(f"Step {index} must be an object with an 'action' string.")
        return value


class TaskSerializer(ScopedModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "project", "name", "script", "mock_record", "scenario", "baseline_record", "device_selector",
                  "enabled", "created_at", "updated_at"]

    def validate_device_selector(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Must be an object such as {"platform": "android", "labels": ["cn"]}.')
        if "platform" in value and value["platform"] not in Platform.values:
            raise serializers.ValidationError(f"platform must be one of {Platform.values}, not {value['platform']!r}.")
        return value


class TaskGroupSerializer(ScopedModelSerializer):
    schedule = serializers.CharField(source="describe_schedule", read_only=True,
                                     help_text="The cron expression in words.")

    class Meta:
        model = TaskGroup
        fields = ["id", "project", "name", "tasks", "cron", "time_zone", "enabled", "schedule", "created_at",
                  "updated_at"]


class RunSerializer(ScopedModelSerializer):
    class Meta:
        model = Run
        fields = ["id", "project", "task", "task_group", "mode", "device", "status", "trigger", "triggered_by",
                  "started_at", "finished_at", "error", "created_at", "updated_at"]
        read_only_fields = ["triggered_by"]


class RunTokenSerializer(serializers.ModelSerializer):
    token = serializers.CharField(read_only=True, help_text="Send as 'Authorization: Bearer <token>' to "
                                  "/api/v1/ingest/events; shown only here.")

    class Meta:
        model = RunToken
        fields = ["id", "run", "name", "hint", "created_at", "token"]
        read_only_fields = fields
