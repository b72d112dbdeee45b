from trackreplay.api import ScopedModelViewSet

from ..models import Event, TestRecord
from .serializers import EventSerializer, TestRecordSerializer


class TestRecordViewSet(ScopedModelViewSet):
    """Test records: tracking events captured in runs or uploaded."""

    queryset = TestRecord.objects.all()
    serializer_class = TestRecordSerializer
    filterset_fields = ["project", "source", "run", "mock_record", "is_baseline"]
    search_fields = ["name"]
    ordering_fields = ["created_at", "name"]


class EventViewSet(ScopedModelViewSet):
    """Captured tracking events, in record order."""

    queryset = Event.objects.select_related("test_record")
    serializer_class = EventSerializer
    filterset_fields = ["test_record", "name", "step", "sdk"]
    search_fields = ["name"]
    ordering_fields = ["seq", "client_time"]


ROUTES = [
    ("test-records", TestRecordViewSet),
    ("events", EventViewSet),
]
