from django import forms
from django.contrib import admin

from trackreplay.admin_site import register_app

from .models import Rule, ScenarioVersion, rules_frozen_reason


class NoBulkDelete:
    """Bulk deletion is not offered: it would stop half-way at the first row that is history."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class RuleAdminForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = "__all__"

    def clean(self):
        data = super().clean()
        versions = {data.get("version")} | ({self.instance.version} if self.instance.pk else set())
        for version in filter(None, versions):
            reason = rules_frozen_reason(version.pk)
            if reason:
                raise forms.ValidationError({"version": reason})
        return data


@admin.register(Rule)
class RuleAdmin(NoBulkDelete, admin.ModelAdmin):
    """Rules of a version that is history are read-only here (the model refuses the change anyway)."""

    form = RuleAdminForm
    list_display = ("__str__", "version", "strength", "enabled")
    list_filter = ("kind", "strength")
    raw_id_fields = ("version",)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or not rules_frozen_reason(obj.version_id))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not rules_frozen_reason(obj.version_id))


@admin.register(ScenarioVersion)
class ScenarioVersionAdmin(NoBulkDelete, admin.ModelAdmin):
    """A version that is not current is read-only and cannot be deleted, nor one a report was verified
    against."""

    list_display = ("__str__", "note", "created_at")
    raw_id_fields = ("scenario", "created_by")

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_current)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or (obj.is_current
                                                                                and not obj.has_reports))


register_app("scenarios")
