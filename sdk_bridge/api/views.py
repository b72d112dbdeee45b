from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, hash_token
from trackreplay.api import ScopedModelSerializer, ScopedModelViewSet
from trackreplay.api_support import count

from ..ingest import TOO_LARGE, ingest_limits, parse_batch, store_batch, store_proxy_report, store_recording
from ..limits import DecodeError, Limits
from ..wire import GZIP_MAGIC, check_body, gunzip, load_json, maybe_gunzip
from ..models import EndpointRule


class RunTokenAuthentication(authentication.BaseAuthentication):
    """Bearer trr_… tokens: they authenticate one run's SDK bridge for ingestion and nothing else."""

    def authenticate(self, request):
        from automation.models import RunToken

        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer" or not header[1].startswith(b"trr_"):
            raise exceptions.AuthenticationFailed("Send the run token as 'Authorization: Bearer trr_…'.")
        token = RunToken.objects.select_related("run__task").filter(
            token_hash=hash_token(header[1].decode(errors="replace"))).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid run token.")
        refusal = token.refusal()  # revoked, expired, or its run has ended: a token lives only as long as its run
        if refusal is not None:
            raise exceptions.AuthenticationFailed(refusal)
        token.touch()
        return None, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="ingest"'


class HasRunToken(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.auth is not None


BatchDoc = inline_serializer("IngestBatchRequest", {
    "batch_id": serializers.CharField(help_text="Client-chosen id; posting the same batch again stores nothing."),
    "device_event_count": count(required=False, allow_null=True,
                                                   help_text="Events the device has sent so far in this run."),
    "events": serializers.ListField(child=serializers.DictField(), help_text=(
        "Canonical events in client order: {event, properties, time (ms), distinct_id, step, sdk, raw}.")),
})
ProxyReportDoc = inline_serializer("ProxyReport", {
    "mode": serializers.CharField(required=False, allow_blank=True, help_text="record, replay or capture."),
    "served": serializers.IntegerField(required=False, help_text="Exchanges answered from the mock record."),
    "global": serializers.IntegerField(required=False, help_text="Requests answered by global mocks."),
    "misses": serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Requests nothing matched (the first 200 are kept)."),
    "tracking_requests": serializers.IntegerField(required=False, help_text="Tracking requests seen."),
    "events": serializers.IntegerField(required=False, help_text="Tracking events decoded from them."),
    "decode_errors": serializers.ListField(child=serializers.CharField(), required=False,
                                           help_text="Why tracking requests could not be decoded (first 200)."),
    "recorded": serializers.IntegerField(required=False, help_text="Exchanges recorded (record mode)."),
    "scope": serializers.CharField(required=False, help_text="Which requests were recorded or replayed."),
    "passed_through": serializers.IntegerField(required=False, help_text="Requests passed to the real API."),
    "passed_through_urls": serializers.ListField(child=serializers.CharField(), required=False,
                                                 help_text="Their URLs (first 200)."),
    "uplink_failures": serializers.ListField(child=serializers.JSONField(), required=False,
                                             help_text="Forwarded tracking requests the real backend refused."),
})
BatchResult = inline_serializer("IngestBatchResult", {
    "batch_id": serializers.CharField(), "stored": serializers.IntegerField(),
    "first_seq": serializers.IntegerField(), "duplicate": serializers.BooleanField(),
    "test_record": serializers.IntegerField(),
})
ErrorDoc = inline_serializer("IngestError", {"error": serializers.CharField(),
                                             "limit": serializers.CharField(allow_null=True)})


class IngestEventsView(APIView):
    """POST a batch of tracking events from an in-app SDK bridge into the run's test record."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [HasRunToken]

    @extend_schema(request=BatchDoc, responses={201: BatchResult, 200: BatchResult,
                                                400: OpenApiResponse(ErrorDoc), 413: OpenApiResponse(ErrorDoc)})
    def post(self, request):
        limits = ingest_limits()
        # Read at most one byte past the limit, so an oversized body is refused without buffering it.
        body = request._request.read(limits.max_body_bytes + 1)
        try:
            batch = parse_batch(body, request.headers.get("Content-Encoding", ""), limits)
        except DecodeError as exc:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.limit in TOO_LARGE else status.HTTP_400_BAD_REQUEST
            return Response({"error": exc.reason, "limit": exc.limit}, status=code)
        stored, created = store_batch(request.auth.run, batch)
        return Response({"batch_id": stored.batch_id, "stored": stored.event_count if created else 0,
                         "first_seq": stored.first_seq, "duplicate": not created,
                         "test_record": stored.test_record_id},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ProxyReportView(APIView):
    """POST what the run's proxy served and missed; sets the test record's health flags (mock not enabled,
    decode errors)."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [HasRunToken]

    @extend_schema(request=ProxyReportDoc, responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(ErrorDoc)})
    def post(self, request):
        limits = ingest_limits()
        body = request._request.read(limits.max_body_bytes + 1)
        try:
            check_body(body, limits)
            flags = store_proxy_report(request.auth.run, load_json(maybe_gunzip(body, limits), limits))
        except DecodeError as exc:
            return Response({"error": exc.reason, "limit": None}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"health_flags": flags})


class RecordingView(APIView):
    """POST the HAR a record-mode proxy wrote: it becomes a new mock record of the run's project."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [HasRunToken]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT, 400: OpenApiResponse(ErrorDoc),
                                                           413: OpenApiResponse(ErrorDoc)})
    def post(self, request):
        return accept_recording(request, request.auth.run)


def accept_recording(request, run) -> Response:
    """The run's recording as a new mock record (201), or the one it already became (200: a retry after a
    lost answer); 400 and 413 say what is wrong with the body and store nothing."""
    from mock_records.har import HarError

    from ..ingest import recording_of_run

    existing = recording_of_run(run)
    if existing is not None:
        request._request.read()  # drain: the answer is the same as the first time
        return Response({"mock_record": existing.pk, "exchanges": existing.exchanges.count(), "duplicate": True})
    body = _read_recording(request)
    if isinstance(body, Response):
        return body
    try:
        mock = store_recording(run, body)
    except HarError as exc:
        return Response({"error": str(exc), "limit": None}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"mock_record": mock.pk, "exchanges": mock.exchanges.count(), "duplicate": False},
                    status=status.HTTP_201_CREATED)


def _read_recording(request) -> bytes | Response:
    """A recording's body, bounded while read and gunzipped when compressed; an error Response otherwise."""
    limit = settings.TRACKREPLAY_RECORDING_MAX_BYTES
    body = request._request.read(limit + 1)
    if len(body) > limit:
        return Response({"error": f"recording over TRACKREPLAY_RECORDING_MAX_BYTES={limit}",
                         "limit": "max_body_bytes"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if body[:2] == GZIP_MAGIC:
        try:
            body = gunzip(body, Limits(max_body_bytes=limit, max_decompressed_bytes=limit * 4))
        except DecodeError as exc:
            return Response({"error": exc.reason, "limit": exc.limit}, status=status.HTTP_400_BAD_REQUEST)
    return body


class EndpointRuleSerializer(ScopedModelSerializer):
    class Meta:
        model = EndpointRule
        fields = ["id", "project", "decoder", "host", "path", "options", "forward", "order", "enabled", "created_at",
                  "updated_at"]


class EndpointRuleViewSet(ScopedModelViewSet):
    """Per-project tracking endpoint rules (host and path patterns -> decoder)."""

    queryset = EndpointRule.objects.all()
    serializer_class = EndpointRuleSerializer
    write_roles = (Role.ADMIN, Role.QA)
    filterset_fields = ["project", "decoder", "enabled"]


ROUTES = [("endpoint-rules", EndpointRuleViewSet)]
