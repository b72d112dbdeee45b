"""A URLconf with views that fail, for the tests of what a 500 shows (tests/integration/test_abuse_limits.py)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


def boom(request):
    password_in_a_local = "local-variable-secret-value"  # noqa: F841  (the debug page would show it)
    raise RuntimeError("the console broke")


class ApiBoom(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        token_in_a_local = "api-local-variable-secret"  # noqa: F841
        raise RuntimeError("the API broke")


urlpatterns = [path("boom/", boom), path("api/v1/boom/", ApiBoom.as_view())]
