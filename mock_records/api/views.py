from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.models import Project
from accounts.scoping import caller_roles
from trackreplay.api import ScopedModelViewSet, ScopedReadOnlyViewSet
from trackreplay.api_support import human_caller, row_id
from trackreplay.upload_http import upload_limits
from trackreplay.uploads import read_file

from ..har import HarError
from ..har_io import export_har, import_har
from ..live_check import ChangeError, apply_change, withdraw_change
from ..models import ChangeRecord, Exchange, GlobalMock, LiveCheck, MockRecord, RequiredInterface
from ..tasks import queue_live_check
from .serializers import (
    ChangeRecordSerializer,
    ExchangeSerializer,
    GlobalMockSerializer,
    LiveCheckSerializer,
    MockRecordSerializer,
    RequiredInterfaceSerializer,
)


class HarImportRequest(serializers.Serializer):
    project = row_id(help_text="The project the new mock record belongs to.")
    file = serializers.FileField(help_text="A HAR 1.2 file or a mitmproxy flow file, gzipped or not; bounded by "
                                            "the TRACKREPLAY_UPLOAD_MAX_* settings (413 or 400 naming the limit).")
    name = serializers.CharField(required=False, help_text="Name of the new mock record (default: the file name).")


class CheckLiveRequest(serializers.Serializer):
    capture = row_id(required=False, allow_null=True,
                                       help_text="A mock record of a capture run to read the live answers from, "
                                                 "instead of calling the API.")


class MockRecordViewSet(ScopedModelViewSet):
    """Mock records: the API exchanges of recording runs. Import and export HAR 1.2."""

    queryset = MockRecord.objects.all()
    serializer_class = MockRecordSerializer
    filterset_fields = ["project", "source"]
    search_fields = ["name", "description"]
    ordering_fields = ["created_at", "name"]

    @extend_schema(request={"multipart/form-data": HarImportRequest}, responses={201: MockRecordSerializer})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_har(self, request):
        """A new mock record from a HAR or mitmproxy flow file; a corrupt or truncated file imports nothing (400
        names the entry)."""
        data = HarImportRequest(data=request.data)
        data.is_valid(raise_exception=True)
        roles = caller_roles(request)
        project_id = data.validated_data["project"]
        if project_id not in roles:
            raise NotFound("No such project.")
        if roles[project_id] not in self.write_roles:
            raise PermissionDenied("Your role in this project does not allow this change.")
        upload = data.validated_data["file"]
        # Bounded as received (the upload handler), after gunzip, in nesting and entries; a refusal
        # (UploadRefused) answers 413 or 400 naming the limit through the API's exception handler.
        limits = upload_limits()
        try:
            record = import_har(Project.objects.get(pk=project_id), read_file(upload, limits, what=upload.name),
                                name=data.validated_data.get("name") or upload.name, limits=limits)
        except HarError as exc:
            raise serializers.ValidationError({"file": [str(exc)]}) from None
        return Response(MockRecordSerializer(record, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=CheckLiveRequest, responses={202: LiveCheckSerializer})
    @action(detail=True, methods=["post"], url_path="check-live")
    def check_live(self, request, pk=None):
        """Queue a live check: the record's requests against the real API through the egress guard (or, with
        capture, the answers a capture run recorded); drifted responses become change records. The answer is
        the live check: GET live-checks/{id}/ shows how many exchanges were compared and every one skipped or
        refused, with the reason."""
        record = self.get_object()  # scoped; the object permission asks for a write role
        data = CheckLiveRequest(data=request.data)
        data.is_valid(raise_exception=True)
        capture_id = data.validated_data.get("capture")
        capture = None
        if capture_id is not None:
            capture = MockRecord.objects.filter(pk=capture_id, project_id=record.project_id).first()
            if capture is None:
                raise serializers.ValidationError({"capture": ["Not a mock record of this project."]})
        check = queue_live_check(record, capture=capture, user=human_caller(request))
        return Response(LiveCheckSerializer(check, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def har(self, request, pk=None):
        """The mock record as a HAR 1.2 file, bodies byte-exact."""
        record = self.get_object()
        response = JsonResponse(export_har(record), json_dumps_params={"ensure_ascii": False})
        response["Content-Disposition"] = f'attachment; filename="mock-record-{record.pk}.har"'
        return response


class ExchangeViewSet(ScopedModelViewSet):
    """Request/response pairs of mock records; bodies as base64, byte-exact."""

    queryset = Exchange.objects.select_related("mock_record")
    serializer_class = ExchangeSerializer
    filterset_fields = ["mock_record", "method", "host", "status_code", "enabled"]
    search_fields = ["path", "host"]
    ordering_fields = ["order"]


class GlobalMockViewSet(ScopedModelViewSet):
    """Project-wide canned answers that replay serves before the mock record (method, host and path globs)."""

    queryset = GlobalMock.objects.all()
    serializer_class = GlobalMockSerializer
    filterset_fields = ["project", "enabled", "method"]
    search_fields = ["name", "path", "host"]
    ordering_fields = ["order", "name"]


class RequiredInterfaceViewSet(ScopedModelViewSet):
    """Endpoints every usable mock record of the project must contain; records without them list the
    missing ones in missing_interfaces."""

    queryset = RequiredInterface.objects.all()
    serializer_class = RequiredInterfaceSerializer
    filterset_fields = ["project"]
    search_fields = ["name", "path"]


class ChangeRecordViewSet(ScopedReadOnlyViewSet):
    """Responses of the real API that drifted from the recording. POST apply/ rewrites the exchange with the
    suggested response; POST withdraw/ restores the previous one."""

    queryset = ChangeRecord.objects.select_related("exchange__mock_record")
    serializer_class = ChangeRecordSerializer
    filterset_fields = ["exchange", "exchange__mock_record", "status"]

    def _decide(self, request, decide):
        change = self.get_object()  # scoped; the object permission asks for a write role
        try:
            change = decide(change, user=human_caller(request))
        except ChangeError as exc:
            raise serializers.ValidationError({"status": [str(exc)]}) from None
        return Response(ChangeRecordSerializer(change, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: ChangeRecordSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        return self._decide(request, apply_change)

    @extend_schema(request=None, responses={200: ChangeRecordSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._decide(request, withdraw_change)


class LiveCheckViewSet(ScopedReadOnlyViewSet):
    """API change checks of mock records (POST mock-records/{id}/check-live/ starts one): how many exchanges
    were compared, the changes found, and every exchange skipped or refused with the reason."""

    queryset = LiveCheck.objects.select_related("mock_record")
    serializer_class = LiveCheckSerializer
    filterset_fields = ["mock_record", "status"]
    ordering_fields = ["created_at"]


ROUTES = [
    ("mock-records", MockRecordViewSet),
    ("exchanges", ExchangeViewSet),
    ("global-mocks", GlobalMockViewSet),
    ("required-interfaces", RequiredInterfaceViewSet),
    ("change-records", ChangeRecordViewSet),
    ("live-checks", LiveCheckViewSet),
]
