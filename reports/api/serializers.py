from trackreplay.api import ScopedModelSerializer

from ..models import Anomaly, Report


class ReportSerializer(ScopedModelSerializer):
    class Meta:
        model = Report
        fields = ["id", "project", "test_record", "scenario_version", "baseline_record", "run", "status", "pass_rate",
                  "events_total", "events_passed", "strong_anomalies", "weak_anomalies", "error", "created_at",
                  "finished_at"]


class AnomalySerializer(ScopedModelSerializer):
    class Meta:
        model = Anomaly
        fields = ["id", "report", "event_name", "event_index", "rule", "rule_kind", "property_path", "strength",
                  "expected", "actual", "message", "raw_event", "status", "fault"]
