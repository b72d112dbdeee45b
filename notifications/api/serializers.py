from trackreplay.api import ScopedModelSerializer

from ..models import NotificationChannel


class NotificationChannelSerializer(ScopedModelSerializer):
    class Meta:
        model = NotificationChannel
        fields = ["id", "project", "name", "kind", "target", "secret", "push_strategy", "enabled", "created_at",
                  "updated_at"]
        extra_kwargs = {"secret": {"write_only": True}}
