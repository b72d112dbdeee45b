from django.urls import path

from . import automation_views, ca_views, change_views, edit_views, report_views, scenario_views, views

urlpatterns = [
    path("", views.home, name="console-home"),
    path("projects/new/", views.create_project, name="console-create-project"),
    path("switch-project/", views.switch_project, name="console-switch-project"),
    path("p/<slug:project_slug>/", views.project_overview, name="console-project"),
    path("p/<slug:project_slug>/proxy-ca/", ca_views.ca_page, name="console-proxy-ca"),
    path("p/<slug:project_slug>/proxy-ca/<str:filename>", ca_views.ca_download, name="console-proxy-ca-file"),
    path("p/<slug:project_slug>/<slug:page_slug>/", views.object_list, name="console-list"),
    path("p/<slug:project_slug>/<slug:page_slug>/new/", edit_views.create, name="console-create"),
    path("p/<slug:project_slug>/<slug:page_slug>/<int:pk>/edit/", edit_views.edit, name="console-edit"),
    # The report page has its own view (anomalies by event, repair buttons, diff); before the generic detail.
    path("p/<slug:project_slug>/reports/<int:pk>/", report_views.report_detail, name="console-report"),
    path("p/<slug:project_slug>/reports/<int:pk>/anomalies/<int:anomaly_pk>/repair/", report_views.repair,
         name="console-repair"),
    path("p/<slug:project_slug>/scenarios/<int:pk>/", scenario_views.scenario_detail, name="console-scenario"),
    path("p/<slug:project_slug>/runs/<int:pk>/", automation_views.run_detail, name="console-run"),
    path("p/<slug:project_slug>/runs/<int:pk>/cancel/", automation_views.cancel, name="console-cancel-run"),
    path("p/<slug:project_slug>/runs/<int:pk>/screenshots/<int:step>.png", automation_views.run_screenshot,
         name="console-run-screenshot"),
    path("p/<slug:project_slug>/runs/<int:pk>/tokens/", automation_views.issue_run_token,
         name="console-issue-run-token"),
    path("p/<slug:project_slug>/runs/<int:pk>/tokens/<int:token_pk>/revoke/", automation_views.revoke_run_token,
         name="console-revoke-run-token"),
    path("p/<slug:project_slug>/agents/<int:pk>/tokens/<int:token_pk>/revoke/", automation_views.revoke_token,
         name="console-revoke-token"),
    path("p/<slug:project_slug>/<slug:page_slug>/<int:pk>/do/<slug:action_name>/", automation_views.action,
         name="console-action"),
    path("p/<slug:project_slug>/api-changes/<int:pk>/", change_views.change_detail, name="console-api-change"),
    path("p/<slug:project_slug>/api-changes/<int:pk>/<str:decision>/", change_views.decide,
         name="console-api-change-decide"),
    path("p/<slug:project_slug>/scenarios/<int:pk>/rules/<int:rule_pk>/", scenario_views.edit_rule,
         name="console-rule-edit"),
    path("p/<slug:project_slug>/scenarios/<int:pk>/infer/", scenario_views.infer, name="console-scenario-infer"),
    path("p/<slug:project_slug>/<slug:page_slug>/<int:pk>/", views.object_detail, name="console-detail"),
]
