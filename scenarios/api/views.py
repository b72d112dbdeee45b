from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from trackreplay.api import ScopedModelViewSet, ScopedViewSetMixin
from trackreplay.api_support import human_caller, row_id

from test_records.models import TestRecord

from ..learning import infer_version
from ..models import Rule, Scenario, ScenarioVersion
from .serializers import RuleSerializer, ScenarioSerializer, ScenarioVersionSerializer


class InferRequest(serializers.Serializer):
    test_records = serializers.ListField(child=row_id(), min_length=1,
                                         help_text="Known-good test records of the scenario's project to learn from.")


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

    @extend_schema(request=InferRequest, responses={201: ScenarioVersionSerializer})
    @action(detail=True, methods=["post"])
    def infer(self, request, pk=None):
        """Learn rules from known-good test records into a new current version (the old versions stay)."""
        scenario = self.get_object()  # scoped; the object permission asks for a write role
        data = InferRequest(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["test_records"]
        found = {r.pk: r for r in TestRecord.objects.filter(project_id=scenario.project_id, pk__in=wanted)}
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            raise serializers.ValidationError({"test_records": f"not test records of this project: {missing}"})
        empty = [found[pk].name for pk in wanted if not found[pk].events.exists()]
        if empty:
            raise serializers.ValidationError({"test_records": f"these records have no events: {', '.join(empty)}"})
        version = infer_version(scenario, [found[pk] for pk in wanted], user=human_caller(request))
        return Response(ScenarioVersionSerializer(version, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


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
