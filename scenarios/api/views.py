from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from trackreplay.api import ScopedModelViewSet, ScopedViewSetMixin
from trackreplay.api_support import human_caller

from ..models import Rule, Scenario, ScenarioVersion
from .serializers import RuleSerializer, ScenarioSerializer, ScenarioVersionSerializer


class ScenarioViewSet(ScopedModelViewSet):
    """Scenarios (test cases) of the caller's projects. Creating one also creates its version 1."""

    queryset = Scenario.objects.select_related("current_version")
    serializer_class = ScenarioSerializer
    filterset_fields = ["project", "is_global", "name"]
    search_fields = ["name", "description"]

    def perform_create(self, serializer):
        with transaction.atomic():
            scenario = serializer.save()
            scenario.new_version(note="created", created_by=human_caller(self.request))


class ScenarioVersionViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Numbered rule sets of a scenario. Create copies the current version's rules into a new current one."""

    queryset = ScenarioVersion.objects.select_related("scenario")
    serializer_class = ScenarioVersionSerializer
    filterset_fields = ["scenario"]

    def perform_create(self, serializer):
        serializer.instance = serializer.validated_data["scenario"].new_version(
            note=serializer.validated_data.get("note", ""),
            created_by=human_caller(self.request),
        )

    @extend_schema(responses=RuleSerializer(many=True))
    @action(detail=True, methods=["get"])
    def rules(self, request, pk=None):
        version = self.get_object()
        return Response(RuleSerializer(version.rules.all(), many=True, context=self.get_serializer_context()).data)


class RuleViewSet(ScopedModelViewSet):
    """Rules of scenario versions."""

    queryset = Rule.objects.select_related("version__scenario")
    serializer_class = RuleSerializer
    filterset_fields = ["version", "version__scenario", "kind", "event", "strength", "enabled"]
    search_fields = ["event", "property_path"]


ROUTES = [
    ("scenarios", ScenarioViewSet),
    ("scenario-versions", ScenarioVersionViewSet),
    ("rules", RuleViewSet),
]
