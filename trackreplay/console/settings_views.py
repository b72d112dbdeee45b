"""A project's settings page: its name and the choices that change what the platform does for it (upstream
TLS checks, tracking forwarding, the egress guard's private targets, credentials in live checks). Admins only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.models import Project, Role

from .views import _context, _editor_project


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "verify_upstream_tls", "forward_tracking", "allow_private_targets",
                  "live_check_credentials"]


@login_required
def project_settings(request, project_slug):
    project, role = _editor_project(request, project_slug, (Role.ADMIN,))
    form = ProjectSettingsForm(request.POST if request.method == "POST" else None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved the project settings.")
        return redirect(reverse("console-project-settings", args=[project.slug]))
    return render(request, "console/project_settings.html", _context(request, project, role, form=form))
