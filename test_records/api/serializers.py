from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer
from trackreplay.values import time_problem

from ..models import Event, HealthFlag, TestRecord


class TestRecordSerializer(ScopedModelSerializer):
    event_count = serializers.IntegerField(source="events.count", read_only=True)

    class Meta:
        model = TestRecord
        fields = ["id", "project", "name", "source", "run", "mock_record", "is_baseline", "steps", "health_flags",
                  "device_event_count", "event_count", "created_at", "updated_at"]

    def validate_health_flags(self, value):
        if not isinstance(value, list):
            raise serializers.ValidationError("Must be a list of flag names.")
        unknown = [flag for flag in value if flag not in HealthFlag.values]
        if unknown:
            raise serializers.ValidationError(f"Unknown health flags {unknown}; known: {HealthFlag.values}.")
        return value


class EventSerializer(ScopedModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "test_record", "seq", "name", "properties", "distinct_id", "client_time", "received_at",
                  "step", "sdk", "raw"]

    def validate_properties(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate_client_time(self, value):
        problem = None if value is None else time_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value
