from rest_framework import serializers

from trackreplay.api import ScopedModelSerializer

from ..models import Rule, Scenario, ScenarioVersion


class ScenarioSerializer(ScopedModelSerializer):
    class Meta:
        model = Scenario
        fields = ["id", "project", "name", "description", "is_global", "current_version", "created_at", "updated_at"]


class ScenarioVersionSerializer(ScopedModelSerializer):
    rule_count = serializers.IntegerField(source="rules.count", read_only=True)

    class Meta:
        model = ScenarioVersion
        fields = ["id", "scenario", "number", "note", "created_by", "created_at", "rule_count"]
        read_only_fields = ["number", "created_by"]


class RuleSerializer(ScopedModelSerializer):
    class Meta:
        model = Rule
        fields = ["id", "version", "kind", "event", "property_path", "params", "strength", "enabled", "evidence"]
