from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="console-home"),
    path("projects/new/", views.create_project, name="console-create-project"),
    path("switch-project/", views.switch_project, name="console-switch-project"),
    path("p/<slug:project_slug>/", views.project_overview, name="console-project"),
    path("p/<slug:project_slug>/<slug:page_slug>/", views.object_list, name="console-list"),
    path("p/<slug:project_slug>/<slug:page_slug>/<int:pk>/", views.object_detail, name="console-detail"),
]
