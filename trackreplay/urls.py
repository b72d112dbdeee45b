from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.lockout import AdminLoginForm, LoginForm
from automation.api import agent as agent_api
from sdk_bridge.api.views import IngestEventsView, ProxyReportView, RecordingView

from .api_router import router


# A refused upload (413 or 400) names its limit even when Django met it while parsing the request itself.
handler400 = "trackreplay.upload_http.bad_request"


def healthz(request):
    return JsonResponse({"status": "ok"})


admin.site.login_form = AdminLoginForm  # the admin's sign-in says when a user is locked out, as the console's does

# The device agents' API (agent tokens only); automation/api/agent.py.
AGENT_URLS = [
    path("heartbeat", agent_api.HeartbeatView.as_view(), name="agent-heartbeat"),
    path("runs/<int:pk>/start", agent_api.StartView.as_view(), name="agent-run-start"),
    path("runs/<int:pk>/mock.har", agent_api.MockHarView.as_view(), name="agent-run-mock"),
    path("runs/<int:pk>/steps", agent_api.StepsView.as_view(), name="agent-run-steps"),
    path("runs/<int:pk>/screenshots/<int:step>", agent_api.ScreenshotView.as_view(), name="agent-run-screenshot"),
    path("runs/<int:pk>/events", agent_api.EventsView.as_view(), name="agent-run-events"),
    path("runs/<int:pk>/recording", agent_api.RecordingView.as_view(), name="agent-run-recording"),
    path("runs/<int:pk>/proxy-report", agent_api.ProxyReportView.as_view(), name="agent-run-proxy-report"),
    path("runs/<int:pk>/logs", agent_api.LogsView.as_view(), name="agent-run-logs"),
    path("runs/<int:pk>/finish", agent_api.FinishView.as_view(), name="agent-run-finish"),
    path("devices/<int:pk>/https-check", agent_api.HttpsCheckView.as_view(), name="agent-device-https-check"),
    path("devices/<int:pk>/screenshot", agent_api.DeviceScreenshotView.as_view(), name="agent-device-screenshot"),
    path("devices/<int:pk>/request-failed", agent_api.RequestFailedView.as_view(), name="agent-device-request-failed"),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html", authentication_form=LoginForm),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/ingest/events", IngestEventsView.as_view(), name="ingest-events"),
    path("api/v1/ingest/proxy-report", ProxyReportView.as_view(), name="ingest-proxy-report"),
    path("api/v1/ingest/recording", RecordingView.as_view(), name="ingest-recording"),
    path("api/v1/agent/", include(AGENT_URLS)),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("", include("trackreplay.console.urls")),
]
