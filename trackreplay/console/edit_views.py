"""Editing declared pages: a page that lists `editable` fields gets an edit form on its detail page and, if
`creatable`, a "New" form on its list page (global mocks, required interfaces, an exchange's switch). Forms
are ModelForms, so the model's own validation applies; QA and admins only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.scoping import project_of
from trackreplay.upload_http import bounded_formfield

from .automation_forms import StorableValues
from .views import _context, _editor_project, _page_or_404


class StorableModelForm(StorableValues, forms.ModelForm):
    pass


def form_for(page, data=None, instance=None):
    form_class = page.form or forms.modelform_factory(page.model, form=StorableModelForm, fields=list(page.editable),
                                                      formfield_callback=bounded_formfield)
    return form_class(data=data, instance=instance)


def _object(page, project, pk):
    obj = page.model.objects.filter(pk=pk).first()
    if obj is None or getattr(project_of(obj), "pk", None) != project.pk:
        raise Http404("No such object in this project")
    return obj


@login_required
def edit(request, project_slug, page_slug, pk):
    page = _page_or_404(page_slug)
    if not page.editable:
        raise Http404("Not editable")
    project, role = _editor_project(request, project_slug, page.edit_roles)
    obj = _object(page, project, pk)
    form = form_for(page, request.POST if request.method == "POST" else None, obj)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Saved {obj}.")
        return redirect(reverse("console-detail", args=[project.slug, page.slug, obj.pk]))
    return render(request, "console/edit.html", _context(request, project, role, page=page, obj=obj, form=form))


@login_required
def create(request, project_slug, page_slug):
    page = _page_or_404(page_slug)
    if not page.creatable:
        raise Http404("Not creatable here")
    project, role = _editor_project(request, project_slug, page.edit_roles)
    form = form_for(page, request.POST if request.method == "POST" else None, page.model(project=project))
    if request.method == "POST" and form.is_valid():
        obj = form.save()
        messages.success(request, f"Created {obj}.")
        return redirect(reverse("console-detail", args=[project.slug, page.slug, obj.pk]))
    return render(request, "console/edit.html", _context(request, project, role, page=page, obj=None, form=form))
