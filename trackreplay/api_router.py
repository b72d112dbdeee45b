"""One router for /api/v1/: every app contributes the ROUTES list of its api/views.py."""

from rest_framework.routers import DefaultRouter

from accounts.api.views import ROUTES as ACCOUNTS
from automation.api.views import ROUTES as AUTOMATION
from mock_records.api.views import ROUTES as MOCK_RECORDS
from notifications.api.views import ROUTES as NOTIFICATIONS
from reports.api.views import ROUTES as REPORTS
from sdk_bridge.api.views import ROUTES as SDK_BRIDGE
from scenarios.api.views import ROUTES as SCENARIOS
from test_records.api.views import ROUTES as TEST_RECORDS
from tracking_plan.api.views import ROUTES as TRACKING_PLAN

ROUTES = ACCOUNTS + TRACKING_PLAN + SCENARIOS + MOCK_RECORDS + TEST_RECORDS + REPORTS + AUTOMATION + NOTIFICATIONS + SDK_BRIDGE

router = DefaultRouter()
for prefix, viewset in ROUTES:
    router.register(prefix, viewset)
