"""The proxy's CA certificate for devices, with install steps for Android, iOS and Chromium."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from mock_records.ca import ca_certificate, ca_fingerprint

from .views import _context, _member_project


@login_required
def ca_page(request, project_slug):
    project, role = _member_project(request, project_slug)
    pem = ca_certificate()
    return render(request, "console/proxy_ca.html", _context(
        request, project, role, page=None, fingerprint=ca_fingerprint(pem),
        pem_preview=pem.decode().strip().splitlines()[1][:32] + "…",
    ))


FILES = ("trackreplay-ca.pem", "trackreplay-ca.crt", "trackreplay-ca.cer")


@login_required
def ca_download(request, project_slug, filename):
    _member_project(request, project_slug)
    if filename not in FILES:
        raise Http404("No such file")
    # .pem for Android and Chromium, .crt for Android's file picker, .cer for iOS: the same PEM certificate.
    response = HttpResponse(ca_certificate(), content_type="application/x-x509-ca-cert")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
