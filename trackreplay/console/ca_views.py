"""The proxy's CA certificate for devices, with install steps for Android, iOS and Chromium, and whether
HTTPS interception works on each of the project's devices (with a button that asks its agent to check)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from automation.models import Device, DeviceRequestKind
from mock_records.ca import ca_certificate, ca_fingerprint

from .device_views import check_words, latest
from .views import _context, _member_project


@login_required
def ca_page(request, project_slug):
    project, role = _member_project(request, project_slug)
    pem = ca_certificate()
    devices = []
    for device in Device.objects.filter(project=project).select_related("agent").order_by("platform", "name"):
        check = latest(device, DeviceRequestKind.HTTPS_CHECK)
        devices.append({"device": device, "words": check_words(device, check),
                        "checking": check is not None and check.state == "pending"})
    return render(request, "console/proxy_ca.html", _context(
        request, project, role, page=None, fingerprint=ca_fingerprint(pem),
        pem_preview=pem.decode().strip().splitlines()[1][:32] + "…", devices=devices,
        checking=any(row["checking"] for row in devices),
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
