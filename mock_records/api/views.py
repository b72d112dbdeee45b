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
from trackreplay.api import ScopedModelViewSet

from ..har import HarError
from ..har_io import export_har, import_har
from ..models import Exchange, GlobalMock, MockRecord, RequiredInterface
from .serializers import (
    ExchangeSerializer,
    GlobalMockSerializer,
    MockRecordSerializer,
    RequiredInterfaceSerializer,
)


class HarImportRequest(serializers.Serializer):
    project = serializers.IntegerField(help_text="The project the new mock record belongs to.")
    file = serializers.FileField(help_text="A HAR 1.2 file or a mitmproxy flow file.")
    name = serializers.CharField(required=False, help_text="Name of the new mock record (default: the file name).")


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
        try:
            record = import_har(Project.objects.get(pk=project_id), upload.read(),
                                name=data.validated_data.get("name") or upload.name)
        except HarError as exc:
            raise serializers.ValidationError({"file": [str(exc)]}) from None
        return Response(MockRecordSerializer(record, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

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


ROUTES = [
    ("mock-records", MockRecordViewSet),
    ("exchanges", ExchangeViewSet),
    ("global-mocks", GlobalMockViewSet),
    ("required-interfaces", RequiredInterfaceViewSet),
]
