"""Pagination and error handling for the REST API. Kept apart from trackreplay.api because DRF imports these
while it builds its own generic views, which trackreplay.api itself imports."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .values import INT64_MAX, INTEGER_RANGES, MAX_EPOCH_MS

INT32_MAX = INTEGER_RANGES["IntegerField"][1]


def row_id(**kwargs) -> serializers.IntegerField:
    """An integer naming a row (a project, a record...): 1 to 2**63-1. An unbounded IntegerField lets a number
    past 64 bits reach the database's lookup, which overflows (a 500) instead of finding nothing."""
    return serializers.IntegerField(min_value=1, max_value=INT64_MAX, **kwargs)


def count(**kwargs) -> serializers.IntegerField:
    """A non-negative number stored in an integer column (step counts, indexes): 0 to 2**31-1."""
    return serializers.IntegerField(**{"min_value": 0, "max_value": INT32_MAX, **kwargs})


def ms_time(**kwargs) -> serializers.IntegerField:
    """A time in ms since the epoch that names a calendar day (1970 to the year 9999)."""
    return serializers.IntegerField(min_value=0, max_value=MAX_EPOCH_MS, **kwargs)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def model_clean_errors(exc: DjangoValidationError) -> dict:
    """A Django ValidationError as DRF's error shape: {field: [messages]}."""
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}


def human_caller(request):
    """The signed-in user, or None when the caller is an agent (recorded as created_by, triggered_by...)."""
    return request.user if getattr(request.user, "pk", None) else None


def exception_handler(exc, context):
    from django.db.models import ProtectedError

    from scenarios.models import HistoryError

    if isinstance(exc, HistoryError):
        # History is immutable (scenarios.models): a conflict with the state of the data, not a bad request.
        return Response({"detail": str(exc), "version": exc.version_id}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ProtectedError):
        kinds = sorted({f"{type(obj)._meta.verbose_name} {obj.pk}" for obj in list(exc.protected_objects)[:10]})
        return Response({"detail": f"Still in use by {', '.join(kinds)}: remove those first.",
                         "protected": kinds}, status=status.HTTP_409_CONFLICT)
    from .upload_http import refusal_of

    refusal = refusal_of(exc)
    if refusal is not None:  # an upload over a limit: 413 or 400 naming the limit's setting
        return Response(refusal.as_dict(), status=refusal.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(model_clean_errors(exc))
    elif isinstance(exc, IntegrityError):
        # A race past the serializer's uniqueness checks: report it rather than answer 500.
        return Response({"non_field_errors": [f"Conflicts with an existing row: {exc}"]}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


class BoundedJSONField(serializers.JSONField):
    """DRF's JSONField, but JSON text (a form or multipart field) is parsed like every body: bounded in size
    and nesting (DRF's own json.loads lets a deeply nested text reach Python's recursion limit: a 500) and
    refusing NaN, Infinity and lone surrogates; values no column can store are refused with their path."""

    def to_internal_value(self, data):
        from .upload_http import api_limits, read_json_text
        from .uploads import UploadRefused
        from .values import first_bad_value

        if self.binary or getattr(data, "is_json_string", False):
            raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
            try:
                data = read_json_text(raw, api_limits(), what=self.field_name or "value")
            except UploadRefused as exc:
                raise serializers.ValidationError(exc.reason) from None
        else:
            data = super().to_internal_value(data)
        bad = first_bad_value(data, self.field_name or "")
        if bad is not None:
            raise serializers.ValidationError(f"{bad.path or 'the value'} {bad.problem}")
        return data

