from trackreplay.api import ScopedModelViewSet

from ..models import Exchange, MockRecord
from .serializers import ExchangeSerializer, MockRecordSerializer


class MockRecordViewSet(ScopedModelViewSet):
    """Mock records: the API exchanges of recording runs."""

    queryset = MockRecord.objects.all()
    serializer_class = MockRecordSerializer
    filterset_fields = ["project", "source"]
    search_fields = ["name", "description"]
    ordering_fields = ["created_at", "name"]


class ExchangeViewSet(ScopedModelViewSet):
    """Request/response pairs of mock records; bodies as base64, byte-exact."""

    queryset = Exchange.objects.select_related("mock_record")
    serializer_class = ExchangeSerializer
    filterset_fields = ["mock_record", "method", "host", "status_code", "enabled"]
    search_fields = ["path", "host"]
    ordering_fields = ["order"]


ROUTES = [
    ("mock-records", MockRecordViewSet),
    ("exchanges", ExchangeViewSet),
]
