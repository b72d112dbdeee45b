from django.utils import timezone

from accounts.models import Role
from trackreplay.api import ScopedModelViewSet
from trackreplay.api_support import human_caller

from ..models import EventDefinition, Fault, FaultStatus, PropertyDefinition
from .serializers import EventDefinitionSerializer, FaultSerializer, PropertyDefinitionSerializer


class EventDefinitionViewSet(ScopedModelViewSet):
    """The tracking plan: events the app is meant to send, with owners."""

    queryset = EventDefinition.objects.all()
    serializer_class = EventDefinitionSerializer
    filterset_fields = ["project", "name", "owner_rd", "owner_qa"]
    search_fields = ["name", "display_name", "description"]
    ordering_fields = ["name", "created_at"]


class PropertyDefinitionViewSet(ScopedModelViewSet):
    """Properties of tracking-plan events."""

    queryset = PropertyDefinition.objects.select_related("event")
    serializer_class = PropertyDefinitionSerializer
    filterset_fields = ["event", "type", "required"]
    search_fields = ["name"]


class FaultViewSet(ScopedModelViewSet):
    """Fault tickets; developers (rd) may work them too."""

    queryset = Fault.objects.all()
    serializer_class = FaultSerializer
    write_roles = (Role.ADMIN, Role.QA, Role.RD)
    filterset_fields = ["project", "status", "severity", "assignee", "event_name", "report"]
    search_fields = ["title", "event_name"]
    ordering_fields = ["created_at", "due_at", "severity"]

    def perform_create(self, serializer):
        serializer.save(reporter=human_caller(self.request))

    def perform_update(self, serializer):
        closing = serializer.validated_data.get("status") in {FaultStatus.RESOLVED, FaultStatus.CLOSED}
        if closing and serializer.instance.resolved_at is None:
            serializer.save(resolved_at=timezone.now())
        else:
            serializer.save()


ROUTES = [
    ("event-definitions", EventDefinitionViewSet),
    ("property-definitions", PropertyDefinitionViewSet),
    ("faults", FaultViewSet),
]
