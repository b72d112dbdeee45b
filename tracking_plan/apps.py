from django.apps import AppConfig


class TrackingPlanConfig(AppConfig):
    name = "tracking_plan"
    verbose_name = "Tracking plan"
