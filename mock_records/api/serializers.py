import base64
import binascii

from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer

from ..models import ChangeRecord, Exchange, GlobalMock, LiveCheck, MockRecord, RequiredInterface


class MockRecordSerializer(ScopedModelSerializer):
    exchange_count = serializers.IntegerField(source="exchanges.count", read_only=True)

    class Meta:
        model = MockRecord
        fields = ["id", "project", "name", "description", "source", "unmatched_policy", "ignore", "watch_api",
                  "missing_interfaces", "exchange_count", "created_at", "updated_at"]


class Base64BodyField(serializers.CharField):
    """Bodies travel as base64 so binary payloads survive JSON byte-exact."""

    def __init__(self, side: str, **kwargs):
        self.side = side
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(source="*", **kwargs)

    def to_representation(self, instance: Exchange) -> str:
        return base64.b64encode(getattr(instance, f"{self.side}_body")).decode()

    def to_internal_value(self, data) -> dict:
        text = super().to_internal_value(data)
        try:
            return {f"{self.side}_body": base64.b64decode(text.encode(), validate=True)}
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError(f"Not valid base64: {exc}") from None


class ExchangeSerializer(ScopedModelSerializer):
    url = serializers.CharField(read_only=True)
    request_body_b64 = Base64BodyField("request", help_text="Request body, base64-encoded.")
    response_body_b64 = Base64BodyField("response", help_text="Response body, base64-encoded.")

    class Meta:
        model = Exchange
        fields = ["id", "mock_record", "order", "enabled", "live_check_unsafe", "method", "scheme", "host", "port", "path", "query", "url",
                  "request_headers", "request_body_b64", "status_code", "response_headers", "response_body_b64",
                  "started_at", "duration_ms"]

    def _bodies(self, validated: dict) -> dict:
        return {key: validated.pop(key) for key in ("request_body", "response_body") if key in validated}

    def create(self, validated_data):
        bodies = self._bodies(validated_data)
        exchange = Exchange(**validated_data)
        for key, value in bodies.items():
            setattr(exchange, key, value)
        exchange.save()
        return exchange

    def update(self, instance, validated_data):
        for key, value in self._bodies(validated_data).items():
            setattr(instance, key, value)
        return super().update(instance, validated_data)

    def validate_method(self, value: str) -> str:
        if not value.isalpha():
            raise serializers.ValidationError(f"{value!r} is not an HTTP method.")
        return value.upper()

    def validate_request_headers(self, value):
        return _check_headers(value)

    def validate_response_headers(self, value):
        return _check_headers(value)


def _check_headers(value):
    if not isinstance(value, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair) for pair in value
    ):
        raise serializers.ValidationError('Headers must be a list of [name, value] string pairs.')
    return value


class GlobalMockSerializer(ScopedModelSerializer):
    class Meta:
        model = GlobalMock
        fields = ["id", "project", "name", "enabled", "order", "method", "host", "path", "status_code",
                  "response_headers", "response_body", "created_at", "updated_at"]

    def validate_method(self, value: str) -> str:
        if value and not value.isalpha():
            raise serializers.ValidationError(f"{value!r} is not an HTTP method.")
        return value.upper()

    def validate_path(self, value: str) -> str:
        if not value.startswith("/") and not value.startswith("*"):
            raise serializers.ValidationError("A path glob starts with '/' (or '*').")
        return value

    def validate_response_headers(self, value):
        return _check_headers(value)


class RequiredInterfaceSerializer(ScopedModelSerializer):
    class Meta:
        model = RequiredInterface
        fields = ["id", "project", "name", "method", "host", "path", "created_at", "updated_at"]

    def validate_method(self, value: str) -> str:
        if value and not value.isalpha():
            raise serializers.ValidationError(f"{value!r} is not an HTTP method.")
        return value.upper()


class ChangeRecordSerializer(ScopedModelSerializer):
    suggested_body = serializers.SerializerMethodField(help_text="The suggested response body (text).")
    mock_record = serializers.IntegerField(source="exchange.mock_record_id", read_only=True)

    class Meta:
        model = ChangeRecord
        fields = ["id", "exchange", "mock_record", "detected_at", "live_status", "changes", "suggested_body", "status",
                  "decided_by", "decided_at"]
        read_only_fields = fields

    def get_suggested_body(self, obj) -> str:
        return bytes(obj.suggested_body).decode("utf-8", "replace")


class LiveCheckSerializer(ScopedModelSerializer):
    class Meta:
        model = LiveCheck
        fields = ["id", "mock_record", "capture", "requested_by", "status", "created_at", "finished_at", "checked",
                  "changes_found", "skipped", "error"]
        read_only_fields = fields
