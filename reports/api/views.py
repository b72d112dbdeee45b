from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.scoping import caller_roles, scope
from scenarios.models import Scenario
from scenarios.repair import ACTIONS
from test_records.models import TestRecord
from trackreplay.api import ScopedReadOnlyViewSet
from trackreplay.api_support import human_caller, row_id

from ..models import Anomaly, Report
from ..repair import RepairError, repair_anomaly
from ..verification import baseline_diff, verify_record
from .serializers import AnomalySerializer, ReportSerializer

WRITE_ROLES = ("admin", "qa")


class VerifyRequest(serializers.Serializer):
    test_record = row_id(help_text="The test record to verify.")
    scenario = row_id(help_text="The scenario whose current version (merged with the project's "
                                "global scenario) is verified against.")
    baseline_record = row_id(required=False, allow_null=True,
                             help_text="A known-good recording to diff the record with, value by value.")


class RepairRequest(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(ACTIONS), help_text="The repair to make: "
                                     + "; ".join(f"{k} ({v})" for k, v in ACTIONS.items()))
    pattern = serializers.CharField(required=False, help_text="For replace_regex: the new RE2 pattern (default: one "
                                                              "generalised from the values seen).")


class RepairResponse(serializers.Serializer):
    report = row_id(help_text="The new report of the same test record.")
    version = row_id(help_text="The new scenario version holding the repaired rule.")
    change = serializers.CharField(help_text="What changed.")


class ReportViewSet(ScopedReadOnlyViewSet):
    """Verification reports. They are produced by verification (POST verify/), never written directly."""

    queryset = Report.objects.select_related("test_record", "scenario_version")
    serializer_class = ReportSerializer
    filterset_fields = ["project", "status", "test_record", "run", "scenario_version"]
    ordering_fields = ["created_at", "pass_rate"]

    @extend_schema(request=VerifyRequest, responses={201: ReportSerializer})
    @action(detail=False, methods=["post"])
    def verify(self, request):
        """Verify a stored test record against a scenario now (no device needed) and store the report."""
        data = VerifyRequest(data=request.data)
        data.is_valid(raise_exception=True)
        roles = caller_roles(request)
        record = get_object_or_404(scope(TestRecord.objects.all(), roles), pk=data.validated_data["test_record"])
        if roles.get(record.project_id) not in WRITE_ROLES:
            raise PermissionDenied("Your role in this project does not allow verifying.")
        scenario = get_object_or_404(Scenario.objects.filter(project_id=record.project_id),
                                     pk=data.validated_data["scenario"])
        if scenario.current_version_id is None:
            raise serializers.ValidationError({"scenario": "The scenario has no version yet."})
        baseline = None
        if data.validated_data.get("baseline_record"):
            baseline = get_object_or_404(TestRecord.objects.filter(project_id=record.project_id),
                                         pk=data.validated_data["baseline_record"])
        report = verify_record(record, scenario.current_version, baseline=baseline)
        return Response(ReportSerializer(report, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: serializers.ListSerializer(child=serializers.DictField())})
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """The record against its baseline recording, event by event (empty without a baseline)."""
        return Response([d.to_dict() for d in baseline_diff(self.get_object())])


class AnomalyViewSet(ScopedReadOnlyViewSet):
    """Anomalies of reports, per event. POST repair/ fixes the rule behind one in a click."""

    queryset = Anomaly.objects.select_related("report")
    serializer_class = AnomalySerializer
    filterset_fields = ["report", "event_name", "rule_kind", "strength", "status"]
    search_fields = ["event_name", "property_path", "message"]
    write_roles = WRITE_ROLES

    @extend_schema(request=RepairRequest, responses={201: RepairResponse})
    @action(detail=True, methods=["post"])
    def repair(self, request, pk=None):
        """Change the rule (new scenario version) and re-verify the stored records without a device."""
        anomaly = self.get_object()  # scoped; the object permission asks for a write role
        data = RepairRequest(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            report, change = repair_anomaly(anomaly, data.validated_data["action"], user=human_caller(request),
                                            pattern=data.validated_data.get("pattern"))
        except RepairError as exc:
            raise serializers.ValidationError({"action": [str(exc)]}) from None
        return Response({"report": report.pk, "version": report.scenario_version_id, "change": change},
                        status=status.HTTP_201_CREATED)


ROUTES = [
    ("reports", ReportViewSet),
    ("anomalies", AnomalyViewSet),
]
