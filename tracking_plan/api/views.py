from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from accounts.models import Project, Role
from accounts.scoping import caller_roles
from trackreplay.api import ScopedModelViewSet
from trackreplay.api_support import BoundedJSONField, human_caller, row_id

from ..models import EventDefinition, Fault, FaultStatus, PropertyDefinition
from ..plan_io import export_project_plan, import_plan
from ..schemas import PlanError
from .serializers import EventDefinitionSerializer, FaultSerializer, PropertyDefinitionSerializer


class PlanImportRequest(serializers.Serializer):
    project = row_id(help_text="The project whose tracking plan is imported into.")
    plan = BoundedJSONField(help_text="The plan: {\"events\": [{\"name\", \"owner\", \"schema\"}]}, a list of "
                                           "JSON Schemas with titles, Iglu self-describing schemas, or Segment "
                                           "Protocols tracking-plan JSON.")


class EventDefinitionViewSet(ScopedModelViewSet):
    """The tracking plan: events the app is meant to send, with owners. Imports and exports JSON Schema."""

    queryset = EventDefinition.objects.all()
    serializer_class = EventDefinitionSerializer
    filterset_fields = ["project", "name", "owner_rd", "owner_qa"]
    search_fields = ["name", "display_name", "description"]
    ordering_fields = ["name", "created_at"]

    def _project(self, project_id, *, write: bool):
        roles = caller_roles(self.request)
        if project_id not in roles:
            raise NotFound("No such project.")
        if write and roles[project_id] not in self.write_roles:
            raise PermissionDenied("Your role in this project does not allow this change.")
        return Project.objects.get(pk=project_id)

    @extend_schema(request=PlanImportRequest, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"], url_path="import")
    def import_plan(self, request):
        """Create or update event definitions from JSON Schema; all or nothing, 400 naming the bad event."""
        data = PlanImportRequest(data=request.data)
        data.is_valid(raise_exception=True)
        project = self._project(data.validated_data["project"], write=True)
        try:
            summary = import_plan(project, data.validated_data["plan"])
        except PlanError as exc:
            raise serializers.ValidationError({"plan": [str(exc)]}) from None
        return Response(summary)

    @extend_schema(parameters=[OpenApiParameter("project", int, required=True)],
                   responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The project's tracking plan as one JSON Schema (draft 2020-12) per event."""
        try:
            project_id = int(request.query_params.get("project", ""))
        except ValueError:
            raise serializers.ValidationError({"project": ["Give the project id: ?project=N"]}) from None
        return Response(export_project_plan(self._project(project_id, write=False)))


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
