"""Register an app's models with the Django admin, showing their most useful columns."""

from django.apps import apps
from django.contrib import admin


def register_app(app_label: str, list_display: dict[str, tuple[str, ...]] | None = None) -> None:
    list_display = list_display or {}
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            continue
        names = {f.name for f in model._meta.fields}
        options = {
            "list_display": list_display.get(model.__name__) or ("__str__",) + tuple(
                n for n in ("project", "status", "created_at") if n in names
            ),
            "list_filter": tuple(n for n in ("project", "status", "kind") if n in names),
            "raw_id_fields": tuple(
                f.name for f in model._meta.fields if f.is_relation and f.name not in {"project"}
            ),
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (admin.ModelAdmin,), options))
