from accounts.models import Role
from trackreplay.api import ScopedModelViewSet

from ..models import NotificationChannel
from .serializers import NotificationChannelSerializer


class NotificationChannelViewSet(ScopedModelViewSet):
    """Where reports are pushed; admins manage them (they hold webhook secrets)."""

    queryset = NotificationChannel.objects.all()
    serializer_class = NotificationChannelSerializer
    write_roles = (Role.ADMIN,)
    filterset_fields = ["project", "kind", "enabled"]


ROUTES = [("notification-channels", NotificationChannelViewSet)]
