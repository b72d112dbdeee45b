from trackreplay.api import ScopedModelSerializer

from ..models import EventDefinition, Fault, PropertyDefinition


class PropertyDefinitionSerializer(ScopedModelSerializer):
    class Meta:
        model = PropertyDefinition
        fields = ["id", "event", "name", "type", "required", "nullable", "enum", "description"]


class EventDefinitionSerializer(ScopedModelSerializer):
    class Meta:
        model = EventDefinition
        fields = ["id", "project", "name", "display_name", "description", "owner_rd", "owner_qa", "owner_leader",
                  "tags", "created_at", "updated_at"]


class FaultSerializer(ScopedModelSerializer):
    class Meta:
        model = Fault
        fields = ["id", "project", "title", "description", "event_definition", "event_name", "report", "status",
                  "severity", "assignee", "reporter", "due_at", "escalated_at", "resolved_at", "created_at",
                  "updated_at"]
        read_only_fields = ["reporter"]
