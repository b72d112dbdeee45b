from trackreplay.api import ScopedReadOnlyViewSet

from ..models import Anomaly, Report
from .serializers import AnomalySerializer, ReportSerializer


class ReportViewSet(ScopedReadOnlyViewSet):
    """Verification reports. They are produced by verification, never written through the API."""

    queryset = Report.objects.select_related("test_record", "scenario_version")
    serializer_class = ReportSerializer
    filterset_fields = ["project", "status", "test_record", "run", "scenario_version"]
    ordering_fields = ["created_at", "pass_rate"]


class AnomalyViewSet(ScopedReadOnlyViewSet):
    """Anomalies of reports, per event."""

    queryset = Anomaly.objects.select_related("report")
    serializer_class = AnomalySerializer
    filterset_fields = ["report", "event_name", "rule_kind", "strength", "status"]
    search_fields = ["event_name", "property_path", "message"]


ROUTES = [
    ("reports", ReportViewSet),
    ("anomalies", AnomalyViewSet),
]
