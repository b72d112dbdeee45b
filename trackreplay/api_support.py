"""Pagination and error handling for the REST API. Kept apart from trackreplay.api because DRF imports these
while it builds its own generic views, which trackreplay.api itself imports."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, pagination, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


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


