from rest_framework import serializers

from scenarios.repair import actions_for
from trackreplay.api import ScopedModelSerializer

from ..models import Anomaly, Report


class ReportSerializer(ScopedModelSerializer):
    class Meta:
        model = Report
        fields = ["id", "project", "test_record", "scenario_version", "global_version", "baseline_record", "run",
                  "status", "pass_rate", "events_total", "events_passed", "strong_anomalies", "weak_anomalies", "error",
                  "supersedes", "note", "created_at", "finished_at"]


class AnomalySerializer(ScopedModelSerializer):
    repairs = serializers.SerializerMethodField(help_text="The one-click repairs that fit this anomaly's rule.")

    class Meta:
        model = Anomaly
        fields = ["id", "report", "event_name", "event_index", "rule", "rule_kind", "property_path", "strength",
                  "expected", "actual", "message", "raw_event", "status", "fault", "repairs"]

    def get_repairs(self, obj) -> list[str]:
        return actions_for(obj.rule_kind) if obj.rule_id else []
