from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, hash_token
from trackreplay.api import ScopedModelSerializer, ScopedModelViewSet
from trackreplay.api_support import count

from trackreplay.upload_http import drain, ingest_limits, read_request, upload_limits
from trackreplay.uploads import parse_json

from ..ingest import parse_batch, store_batch, store_proxy_report, store_recording
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
    "tls_failures": serializers.ListField(child=serializers.JSONField(), required=False,
                                          help_text="Hosts whose TLS handshake the client broke off ({host, error}): "
                                                    "it does not trust the proxy's CA (first 200)."),
})
BatchResult = inline_serializer("IngestBatchResult", {
    "batch_id": serializers.CharField(), "stored": serializers.IntegerField(),
    "first_seq": serializers.IntegerField(), "duplicate": serializers.BooleanField(),
    "test_record": serializers.IntegerField(),
})
ErrorDoc = inline_serializer("IngestError", {
    "error": serializers.CharField(help_text="What is wrong, naming the field, event index or limit."),
    "limit": serializers.CharField(allow_null=True, help_text="The setting of the limit passed, e.g. "
                                                              "TRACKREPLAY_INGEST_MAX_EVENTS; null for bad input."),
    "max": serializers.IntegerField(allow_null=True, help_text="That setting's value."),
})


class IngestEventsView(APIView):
    """POST a batch of tracking events from an in-app SDK bridge into the run's test record."""

    authentication_classes = [RunTokenAuthentication]
    permission_classes = [HasRunToken]

    @extend_schema(request=BatchDoc, responses={201: BatchResult, 200: BatchResult,
                                                400: OpenApiResponse(ErrorDoc), 413: OpenApiResponse(ErrorDoc)})
    def post(self, request):
        # Refusals (UploadRefused) answer 413 or 400 through the API's exception handler.
        limits = ingest_limits()
        batch = parse_batch(read_request(request, limits), limits)
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

    @extend_schema(request=ProxyReportDoc, responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(ErrorDoc),
                                                      413: OpenApiResponse(ErrorDoc)})
    def post(self, request):
        limits = ingest_limits()
        flags = store_proxy_report(request.auth.run, parse_json(read_request(request, limits), limits))
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
    lost answer); 400 and 413 (UploadRefused, through the API's exception handler) say what is wrong with
    the body and store nothing, files included."""
    from mock_records.har import HarError

    from ..ingest import recording_of_run

    limits = upload_limits(body="TRACKREPLAY_RECORDING_MAX_BYTES")
    existing = recording_of_run(run)
    if existing is not None:
        drain(request, limits)  # the answer is the same as the first time
        return Response({"mock_record": existing.pk, "exchanges": existing.exchanges.count(), "duplicate": True})
    body = read_request(request, limits, what="recording")
    try:
        mock = store_recording(run, body, limits)
    except HarError as exc:
        return Response({"error": str(exc), "limit": None, "max": None}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"mock_record": mock.pk, "exchanges": mock.exchanges.count(), "duplicate": False},
                    status=status.HTTP_201_CREATED)


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
