"""Django's debug page (traceback, local variables, settings, the request's environment) only for a developer on
this machine: with DEBUG on (`make run`), a request from anywhere but loopback gets the plain 500 page. Set as
DEFAULT_EXCEPTION_REPORTER, so it covers the console, the admin and the API (DRF hands its unhandled errors to
Django's handler). Production settings never run with DEBUG, so they show the plain page to everyone."""

from __future__ import annotations

import ipaddress

from django.views.debug import ExceptionReporter

PLAIN_HTML = "<!doctype html>\n<title>Server Error (500)</title>\n<h1>Server Error (500)</h1>\n"
PLAIN_TEXT = "Server Error (500)\n"


FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def is_local(request) -> bool:
    """A loopback client that did not come through a proxy: behind a reverse proxy on the same machine every
    request arrives from loopback, so a forwarded request is never local."""
    if any(request.META.get(name) for name in FORWARDED):
        return False
    try:
        return ipaddress.ip_address((request.META.get("REMOTE_ADDR") or "").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class LocalOnlyExceptionReporter(ExceptionReporter):
    """The technical 500 page for loopback clients; the plain page for everyone else (and when there is no request)."""

    def _local(self) -> bool:
        return self.request is not None and is_local(self.request)

    def get_traceback_html(self):
        return super().get_traceback_html() if self._local() else PLAIN_HTML

    def get_traceback_text(self):
        return super().get_traceback_text() if self._local() else PLAIN_TEXT
