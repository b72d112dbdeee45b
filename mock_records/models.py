from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models

from accounts.models import ProjectScoped


class UnmatchedPolicy(models.TextChoices):
    PASSTHROUGH = "passthrough", "Pass through to the real API"
    NOT_FOUND = "404", "Answer 404"
    BAD_GATEWAY = "502", "Answer 502"


class MockRecordSource(models.TextChoices):
    RECORDED = "recorded", "Recorded through the proxy"
    HAR = "har", "Imported HAR"
    FLOW = "flow", "Imported mitmproxy flows"
    API = "api", "Created through the API"


class MockRecord(ProjectScoped):
    """Every HTTP exchange of one recording run, replayed as the app's API so each replay sees the same data."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="mock_records",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="e.g. 'Home feed, logged-in user, 2026-11 catalogue'.")
    description = models.TextField(blank=True, help_text="What the recording covers (user, data set, app build).")
    source = models.CharField(max_length=10, choices=MockRecordSource.choices, default=MockRecordSource.API,
                              help_text="Where the exchanges came from.")
    unmatched_policy = models.CharField(
        max_length=12, choices=UnmatchedPolicy.choices, default=UnmatchedPolicy.NOT_FOUND,
        help_text="What replay does with a request no exchange matches.",
    )
    ignore = models.JSONField(
        default=dict, blank=True,
        help_text="Volatile fields left out of matching: {\"query\": [...], \"form\": [...], \"json\": [JSON paths], "
        "\"headers\": [...]}.",
    )
    watch_api = models.BooleanField(
        default=False, help_text="Check the real API daily for responses that drifted from this recording.")
    missing_interfaces = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="Required interfaces of the project that this record lacks (empty when usable).",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


    def replay_settings(self) -> dict:
        """What a replay proxy needs besides the exchanges, from the record and its project: the ignore lists
        (the project's, then the record's own), the global mocks, the unmatched policy and the project's TLS
        and forwarding choices. One place, for `trackreplay proxy --mock-record` and for agents' runs."""
        merged: dict[str, list] = {}
        for document in (self.project.mock_ignore, self.ignore):
            for key, values in (document or {}).items():
                merged[key] = list(dict.fromkeys([*merged.get(key, []), *values]))
        mocks = [{"id": m.pk, "method": m.method, "host": m.host, "path": m.path, "status_code": m.status_code,
                  "headers": m.response_headers, "body": m.response_body}
                 for m in GlobalMock.objects.filter(project=self.project, enabled=True).order_by("order", "pk")]
        return {"ignore": merged, "global_mocks": mocks, "unmatched": self.unmatched_policy,
                "insecure": not self.project.verify_upstream_tls, "forward_tracking": self.project.forward_tracking}


def _body_path(instance: Exchange, filename: str) -> str:
    return f"exchange-bodies/{filename}"


class Exchange(models.Model):
    """One request and its response, bodies byte-exact. Small bodies are stored in the row; bodies above
    TRACKREPLAY_INLINE_BODY_MAX go to a file named by their SHA-256, so identical large bodies share one."""

    mock_record = models.ForeignKey(MockRecord, on_delete=models.CASCADE, related_name="exchanges",
                                    help_text="The mock record the exchange belongs to.")
    order = models.PositiveIntegerField(default=0, help_text="Position in the recording (0-based).")
    enabled = models.BooleanField(default=True, help_text="Disabled exchanges are never served by replay.")
    method = models.CharField(max_length=10, help_text="HTTP method, upper case.")
    live_check_unsafe = models.BooleanField(
        default=False, help_text="Live API checks may re-send this request although its method is not GET or HEAD "
        "(it may change data on the real API).")
    scheme = models.CharField(max_length=5, default="https", help_text="http or https.")
    host = models.CharField(max_length=255, help_text="Host name the app called, e.g. 'api.shop.example'.")
    port = models.PositiveIntegerField(default=443, help_text="TCP port of the host.")
    path = models.CharField(max_length=2000, help_text="Path without the query string.")
    query = models.TextField(blank=True, help_text="Raw query string, without '?'.")
    request_headers = models.JSONField(default=list, blank=True, help_text="[[name, value], ...] in wire order.")
    request_body_inline = models.BinaryField(null=True, blank=True, editable=False)
    request_body_file = models.FileField(upload_to=_body_path, blank=True, editable=False)
    status_code = models.PositiveSmallIntegerField(default=200, help_text="HTTP status of the response.")
    response_headers = models.JSONField(default=list, blank=True, help_text="[[name, value], ...] in wire order.")
    response_body_inline = models.BinaryField(null=True, blank=True, editable=False)
    response_body_file = models.FileField(upload_to=_body_path, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the request was sent.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to the full response.")

    PROJECT_PATH = "mock_record__project"

    class Meta:
        ordering = ["mock_record", "order"]
        indexes = [models.Index(fields=["mock_record", "host", "path"])]

    def __str__(self) -> str:
        return f"{self.method} {self.url}"

    @property
    def url(self) -> str:
        default_port = {"http": 80, "https": 443}.get(self.scheme)
        netloc = self.host if self.port == default_port else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}" + (f"?{self.query}" if self.query else "")

    def _set_body(self, side: str, data: bytes) -> None:
        file_field = getattr(self, f"{side}_body_file")
        if len(data) <= settings.TRACKREPLAY_INLINE_BODY_MAX:
            setattr(self, f"{side}_body_inline", bytes(data))
            file_field.name = ""
        else:
            setattr(self, f"{side}_body_inline", None)
            # Content-addressed: the same large body recorded many times is stored once.
            digest = hashlib.sha256(data).hexdigest()
            name = f"exchange-bodies/{digest[:2]}/{digest}"
            if not file_field.storage.exists(name):
                file_field.storage.save(name, ContentFile(data))
            file_field.name = name

    def _get_body(self, side: str) -> bytes:
        inline = getattr(self, f"{side}_body_inline")
        if inline is not None:
            return bytes(inline)  # PostgreSQL hands back memoryview
        file_field = getattr(self, f"{side}_body_file")
        if not file_field.name:
            return b""
        with file_field.open("rb") as fh:
            return fh.read()

    @property
    def request_body(self) -> bytes:
        return self._get_body("request")

    @request_body.setter
    def request_body(self, data: bytes) -> None:
        self._set_body("request", data)

    @property
    def response_body(self) -> bytes:
        return self._get_body("response")

    @response_body.setter
    def response_body(self, data: bytes) -> None:
        self._set_body("response", data)

    @property
    def response_size(self) -> int:
        inline = self.response_body_inline
        if inline is not None:
            return len(inline)
        return self.response_body_file.size if self.response_body_file.name else 0


class GlobalMock(ProjectScoped):
    """A project-wide canned answer (e.g. every popup endpoint answers an empty result). Replay checks these
    before the mock record's exchanges."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="global_mocks",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="What it answers, e.g. 'No popups'.")
    enabled = models.BooleanField(default=True, help_text="Disabled global mocks are never served.")
    order = models.PositiveIntegerField(default=0, help_text="Checked in this order (lowest first); the first match answers.")
    method = models.CharField(max_length=10, blank=True, help_text="HTTP method, or empty for any.")
    host = models.CharField(max_length=255, default="*", help_text="Host glob, e.g. '*.shop.example'.")
    path = models.CharField(max_length=2000, help_text="Path glob, e.g. '/api/popup/*'.")
    status_code = models.PositiveSmallIntegerField(default=200, help_text="HTTP status to answer.")
    response_headers = models.JSONField(default=list, blank=True, help_text="[[name, value], ...] to answer with.")
    response_body = models.TextField(blank=True, help_text="Body to answer with (text, e.g. JSON).")

    class Meta:
        ordering = ["project", "order", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.method or '*'} {self.host}{self.path})"


class RequiredInterface(ProjectScoped):
    """An endpoint every usable mock record of the project must contain (A/B config, home feed). A record
    without it is marked with the missing names (MockRecord.missing_interfaces)."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="required_interfaces",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="e.g. 'A/B config'.")
    method = models.CharField(max_length=10, blank=True, help_text="HTTP method, or empty for any.")
    host = models.CharField(max_length=255, default="*", help_text="Host glob, e.g. 'api.shop.example'.")
    path = models.CharField(max_length=2000, help_text="Path glob, e.g. '/api/abtest/*'.")

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="requiredinterface_unique_name",
                                               violation_error_message="The project already has a required interface with this name.")]

    def __str__(self) -> str:
        return f"{self.name} ({self.method or '*'} {self.host}{self.path})"

    def found_in(self, exchanges) -> bool:
        return any((not self.method or e.method.upper() == self.method.upper())
                   and fnmatchcase(e.host.lower(), self.host.lower() or "*") and fnmatchcase(e.path, self.path)
                   for e in exchanges)


def refresh_missing_interfaces(record: MockRecord) -> list[str]:
    """Recompute and store which of the project's required interfaces the record lacks."""
    exchanges = list(record.exchanges.filter(enabled=True).only("method", "host", "path"))
    missing = [r.name for r in RequiredInterface.objects.filter(project_id=record.project_id) if not r.found_in(exchanges)]
    if missing != record.missing_interfaces:
        MockRecord.objects.filter(pk=record.pk).update(missing_interfaces=missing)
        record.missing_interfaces = missing
    return missing


class ChangeStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DISMISSED = "dismissed", "Dismissed"


class ChangeRecord(models.Model):
    """The real API answered an exchange's request with a differently shaped response: the key diff and a
    suggested updated response. Applying it rewrites the exchange's response (the previous one is kept
    here); withdrawing restores it."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="changes",
                                 help_text="The recorded exchange whose live response drifted.")
    detected_at = models.DateTimeField(auto_now_add=True)
    live_status = models.PositiveSmallIntegerField(help_text="HTTP status the live API answered with.")
    changes = models.JSONField(help_text="[{path, kind: added|removed|retyped, recorded: [types], live: [types]}].")
    suggested_body = models.BinaryField(help_text="The recorded values in the live structure.")
    previous_body = models.BinaryField(null=True, blank=True, editable=False,
                                       help_text="The exchange's response before the change was applied.")
    status = models.CharField(max_length=10, choices=ChangeStatus.choices, default=ChangeStatus.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    PROJECT_PATH = "exchange__mock_record__project"

    class Meta:
        ordering = ["-detected_at", "-pk"]

    def __str__(self) -> str:
        kinds = ", ".join(f"{c['kind']} {c['path']}" for c in self.changes[:3])
        return f"{self.exchange.method} {self.exchange.path}: {kinds}"


class LiveCheckStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LiveCheck(models.Model):
    """One API change check of a mock record (against the live API, or a capture run's answers): how many
    exchanges were compared, how many changes it found, and every exchange it skipped or that was refused,
    with the reason, so nothing is dropped silently."""

    mock_record = models.ForeignKey(MockRecord, on_delete=models.CASCADE, related_name="live_checks",
                                    help_text="The mock record checked.")
    capture = models.ForeignKey(MockRecord, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The capture run's record the live answers were read from, if any.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="Who asked for it (empty: the daily watch).")
    status = models.CharField(max_length=10, choices=LiveCheckStatus.choices, default=LiveCheckStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0, help_text="Exchanges whose live answer was compared.")
    changes_found = models.PositiveIntegerField(default=0, help_text="New change records.")
    skipped = models.JSONField(default=list, blank=True, help_text="[{exchange, method, url, reason, detail}] for "
                               "every exchange not compared: refused address, unsafe method, too large, timeout...")
    error = models.TextField(blank=True, help_text="Why the check itself failed, if it did.")

    PROJECT_PATH = "mock_record__project"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Live check #{self.pk} of {self.mock_record}"
