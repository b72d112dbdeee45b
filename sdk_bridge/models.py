from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import ProjectScoped

from .registry import DECODERS


class EndpointRule(ProjectScoped):
    """Which of a project's requests are tracking requests and which decoder reads them (host and path glob
    patterns). Rules are tried in order before auto-detection."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="endpoint_rules",
                                help_text="The project it belongs to.")
    decoder = models.CharField(max_length=20, choices=[(name, name) for name in sorted(DECODERS)],
                               help_text="Decoder that reads matching requests.")
    host = models.CharField(max_length=255, blank=True,
                            help_text="Host glob, e.g. '*.sensorsdata.cn'; empty matches any host.")
    path = models.CharField(max_length=500, default="*", help_text="Path glob, e.g. '/sa*'.")
    options = models.JSONField(default=dict, blank=True,
                               help_text="Decoder options; for generic: {\"events\", \"name\", \"properties\", "
                               "\"time\", \"distinct_id\"} as dotted paths.")
    forward = models.BooleanField(default=False,
                                  help_text="Also forward matching requests to the real analytics backend.")
    order = models.PositiveIntegerField(default=0, help_text="Rules are tried from the lowest order up.")
    enabled = models.BooleanField(default=True, help_text="Disabled rules are skipped.")

    class Meta:
        ordering = ["project", "order", "pk"]

    def __str__(self) -> str:
        return f"{self.host or '*'}{self.path} -> {self.decoder}"

    def clean(self) -> None:
        if not isinstance(self.options, dict):
            raise ValidationError({"options": "Must be a JSON object."})
        if self.decoder == "generic" and not isinstance(self.options.get("name", "event"), str):
            raise ValidationError({"options": "The generic decoder's 'name' option must be a dotted path string."})

    def as_rule(self):
        from .registry import EndpointRule as Rule

        return Rule(decoder=self.decoder, host=self.host, path=self.path, options=self.options)


class IngestBatch(models.Model):
    """One batch an in-app SDK bridge posted for a run, remembered by its client batch id so that a retried
    batch is stored once."""

    test_record = models.ForeignKey("test_records.TestRecord", on_delete=models.CASCADE, related_name="ingest_batches",
                                    help_text="The record the batch's events went into.")
    batch_id = models.CharField(max_length=100, help_text="Client-chosen id, unique per run.")
    event_count = models.PositiveIntegerField(help_text="Events stored from the batch.")
    first_seq = models.PositiveIntegerField(help_text="seq of the batch's first event in the record.")
    device_event_count = models.PositiveIntegerField(null=True, blank=True,
                                                     help_text="The device's running count when it sent the batch.")
    received_at = models.DateTimeField(auto_now_add=True)

    PROJECT_PATH = "test_record__project"

    class Meta:
        ordering = ["test_record", "first_seq"]
        constraints = [models.UniqueConstraint(fields=["test_record", "batch_id"], name="ingestbatch_unique_id",
                                               violation_error_message="This batch was already stored.")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} ({self.event_count} events)"
