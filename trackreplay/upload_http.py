"""The Django side of the bounded readers (trackreplay/uploads.py): limits from settings, a request body read
bounded, the REST API's JSON parser, the multipart upload handler and the answer a refusal gets (413 or 400
naming the limit's setting)."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler
from django.http import JsonResponse
from rest_framework import exceptions, parsers

from .uploads import UploadLimits, UploadRefused, file_limits, make_limits, parse_json, read_stream


def _setting(name: str) -> int:
    return getattr(settings, name)


def upload_limits(body: str = "TRACKREPLAY_UPLOAD_MAX_BYTES") -> UploadLimits:
    """Uploaded files: HAR and flow imports, recordings (body=TRACKREPLAY_RECORDING_MAX_BYTES), plans."""
    return file_limits(_setting, body)


def ingest_limits() -> UploadLimits:
    """Batches of events and the agents' JSON bodies."""
    return make_limits("TRACKREPLAY_INGEST_MAX_BODY_BYTES", "TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES",
                       "TRACKREPLAY_INGEST_MAX_DEPTH", "TRACKREPLAY_INGEST_MAX_EVENTS", _setting)


def api_limits() -> UploadLimits:
    """JSON bodies of the REST API (DATA_UPLOAD_MAX_MEMORY_SIZE is the same number)."""
    return make_limits("TRACKREPLAY_API_MAX_BODY_BYTES", "TRACKREPLAY_API_MAX_BODY_BYTES",
                       "TRACKREPLAY_UPLOAD_MAX_DEPTH", "TRACKREPLAY_UPLOAD_MAX_ENTRIES", _setting)


_LONG_INTEGER = re.compile(rb"\d{20,}")  # 2**64 has 20 digits: orjson reads such integers as floats


class BadJSONValue(UploadRefused):
    """Well-formed JSON holding a value no column can store; the reason names its path."""


def read_json_text(data: bytes, limits: UploadLimits, *, what: str = "body"):
    """JSON a person or a client sent (bodies, form fields, editor text), bounded like every upload, with the
    value as written: integers past 64 bits stay integers (the value check then refuses them by path rather
    than orjson turning them into floats silently), and text the strict parser refuses only for a value
    (a lone surrogate, NaN, 1e400) is refused naming that value's path."""
    import json

    from .values import first_bad_value

    try:
        value = parse_json(data, limits, what=what)
    except UploadRefused as exc:
        if exc.limit is not None:
            raise
        try:  # nesting is within the limit (checked before the strict parse failed): no deep recursion
            lenient = json.loads(data)
        except (ValueError, RecursionError):
            raise exc from None
        bad = first_bad_value(lenient, max_depth=limits.depth.value + 1)
        if bad is None:
            raise exc from None
        refusal = BadJSONValue(f"{what}.{bad.path}: {bad.problem}" if bad.path else f"{what}: {bad.problem}")
        refusal.bad = bad
        raise refusal from None
    if _LONG_INTEGER.search(data):
        value = json.loads(data)
    return value


def content_length(request) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise UploadRefused(f"Content-Length {raw[:40]!r} is not a number") from None
    if length < 0:
        raise UploadRefused(f"Content-Length {length} is negative")
    return length


def read_request(request, limits: UploadLimits, *, what: str = "body") -> bytes:
    """The request's body (a Django or DRF request), read in slices and refused as soon as it passes the
    body limit (by its Content-Length before anything is read); gunzipped with a cap when compressed."""
    raw = getattr(request, "_request", request)
    length = content_length(raw)
    if length is None and "chunked" in raw.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django's WSGI request reads nothing without a Content-Length: an empty body is not what was sent.
        raise UploadRefused(f"{what}: chunked bodies are not read; send a Content-Length", status=411)
    return read_stream(raw.read, limits, what=what, content_length=length,
                       content_encoding=raw.META.get("HTTP_CONTENT_ENCODING", ""))


def drain(request, limits: UploadLimits) -> None:
    """Read and drop a body whose content is not needed (the answer is known), bounded like any other."""
    raw = getattr(request, "_request", request)
    from .uploads import chunks_of

    for _ in chunks_of(raw.read, limits, content_length=content_length(raw)):
        pass


class UploadRefusedError(SuspiciousOperation):
    """An UploadRefused raised while Django itself parses a request (multipart, in middleware such as CSRF's):
    Django answers SuspiciousOperation through handler400, which answers with the refusal's own status."""

    def __init__(self, refusal: UploadRefused) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class BoundedJSONParser(parsers.JSONParser):
    """The REST API's JSON bodies, bounded like every upload: TRACKREPLAY_API_MAX_BODY_BYTES while read,
    TRACKREPLAY_UPLOAD_MAX_DEPTH while parsed (DRF's own parser reads any size and lets a deep document
    reach Python's recursion limit)."""

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return None
        request = (parser_context or {}).get("request")
        limits = api_limits()
        length = content_length(request._request) if request is not None else None
        data = read_stream(stream.read, limits, what="body", content_length=length,
                           content_encoding=request._request.META.get("HTTP_CONTENT_ENCODING", "")
                           if request is not None else "")
        if not data.strip():
            raise exceptions.ParseError("JSON parse error - the body is empty")
        try:
            return read_json_text(data, limits)
        except BadJSONValue as exc:  # worded as StorableJSONParser words the values it refuses
            raise exceptions.ParseError(f"JSON body: {exc.bad.path or 'the body'} {exc.bad.problem}.") from None
        except UploadRefused as exc:
            if exc.limit is not None:
                raise
            raise exceptions.ParseError(f"JSON parse error - {exc.reason}") from None


class StorableJSONParser(BoundedJSONParser):
    """The bounded JSON parser (read and parsed within the upload limits), then trackreplay.values' check: a body
    holding a value no database column can store (NUL, a lone surrogate, an integer past 64 bits) is refused
    here with its path, before any serializer echoes it back in an
    error message that could not itself be encoded."""

    def parse(self, stream, media_type=None, parser_context=None):
        from .values import first_bad_value

        data = super().parse(stream, media_type, parser_context)
        # Nesting was bounded while parsing (TRACKREPLAY_UPLOAD_MAX_DEPTH, named in its refusal): one limit only.
        bad = first_bad_value(data, max_depth=api_limits().depth.value + 1)
        if bad is not None:
            raise exceptions.ParseError(f"JSON body: {bad.path or 'the body'} {bad.problem}.")
        return data



class BoundedUploadHandler(FileUploadHandler):
    """First of FILE_UPLOAD_HANDLERS: refuses a multipart body over TRACKREPLAY_UPLOAD_MAX_BYTES by its
    Content-Length, and every uploaded file passing that size while it streams in (Django would otherwise
    spool any size to a temporary file)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = upload_limits().body
        if content_length and content_length > limit.value:
            raise UploadRefusedError(UploadRefused(f"upload of {content_length} bytes is over {limit}", limit))

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data, start):
        limit = upload_limits().body
        self._received = start + len(raw_data)
        if self._received > limit.value:
            raise UploadRefusedError(UploadRefused(
                f"file {self.file_name!r} of more than {limit.value} bytes is over {limit}", limit))
        return raw_data

    def file_complete(self, file_size):
        return None


def refusal_of(exc) -> UploadRefused | None:
    """The refusal an exception stands for: ours, or Django's own bounds on request data (which it checks by
    Content-Length before reading, and reports without naming the setting)."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    from .uploads import Limit

    if isinstance(exc, UploadRefused):
        return exc
    if isinstance(exc, UploadRefusedError):
        return exc.refusal
    if isinstance(exc, RequestDataTooBig):
        limit = Limit("TRACKREPLAY_API_MAX_BODY_BYTES", settings.DATA_UPLOAD_MAX_MEMORY_SIZE, 413)
        return UploadRefused(f"request body over {limit}", limit)
    if isinstance(exc, TooManyFieldsSent):
        limit = Limit("DATA_UPLOAD_MAX_NUMBER_FIELDS", settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
        return UploadRefused(f"more form fields than {limit}", limit)
    if isinstance(exc, TooManyFilesSent):
        limit = Limit("DATA_UPLOAD_MAX_NUMBER_FILES", settings.DATA_UPLOAD_MAX_NUMBER_FILES)
        return UploadRefused(f"more files than {limit}", limit)
    return None


def bad_request(request, exception=None):
    """handler400: a refused upload answers its own status (413 or 400) naming the limit; anything else the
    usual 400."""
    refusal = refusal_of(exception)
    if refusal is not None:
        return JsonResponse(refusal.as_dict(), status=refusal.status)
    from django.views.defaults import bad_request as default

    return default(request, exception)


class BoundedJSONFormField(forms.JSONField):
    """A console form's JSON field, parsed through the bounded reader: nesting past TRACKREPLAY_UPLOAD_MAX_DEPTH
    is a form error naming the setting (Django's own field lets it reach Python's recursion limit)."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        try:
            parse_json(value.encode("utf-8", "surrogatepass"), api_limits(), what=self.label or "value")
        except UploadRefused as exc:
            if exc.limit is not None:
                raise forms.ValidationError(exc.reason, code="limit") from None
        return super().to_python(value)

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # re-shown as typed, with the error above
            from django.forms.fields import InvalidJSONInput

            return InvalidJSONInput(data)


def bounded_formfield(model_field, **kwargs):
    """formfield_callback for console ModelForms: JSON fields bounded, every other field as Django makes it."""
    from django.db.models import JSONField

    if isinstance(model_field, JSONField):
        return model_field.formfield(form_class=BoundedJSONFormField, **kwargs)
    return model_field.formfield(**kwargs)
