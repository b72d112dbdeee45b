from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from sdk_bridge.api.views import IngestEventsView, ProxyReportView, RecordingView

from .api_router import router


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/ingest/events", IngestEventsView.as_view(), name="ingest-events"),
    path("api/v1/ingest/proxy-report", ProxyReportView.as_view(), name="ingest-proxy-report"),
    path("api/v1/ingest/recording", RecordingView.as_view(), name="ingest-recording"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("", include("trackreplay.console.urls")),
]
