from __future__ import annotations

from django.db import models

from accounts.models import ProjectScoped


class RecordSource(models.TextChoices):
    RECORDED = "recorded", "Recording run (known good)"
    REPLAYED = "replayed", "Replay run"
    UPLOADED = "uploaded", "Uploaded JSON Lines"
    CAPTURED = "captured", "Capture run"


class HealthFlag(models.TextChoices):
    NO_EVENTS = "no_events", "No tracking event was captured"
    MOCK_NOT_ENABLED = "mock_not_enabled", "The mock record never served a response"
    COUNT_MISMATCH = "count_mismatch", "The device sent a different number of events than were received"
    DECODE_ERRORS = "decode_errors", "Some tracking requests could not be decoded"
    RUN_CRASHED = "run_crashed", "The run stopped before its script finished"
    CLOCK_SKEW = "clock_skew", "Client and server times disagree by more than a minute"
    TOO_FEW_EVENTS = "too_few_events", "Fewer events than seconds of run time"
    TLS_UNTRUSTED = "tls_untrusted", ("Some HTTPS connections refused the proxy's certificate (the proxy report lists "
                                      "the hosts): if the app's own, its HTTPS calls were not intercepted")

    @classmethod
    def severity(cls, flag: str) -> str:
        """red: the record cannot be trusted as a test of the app; yellow: worth a look."""
        return "red" if flag in cls.RED else "yellow"


# Set after the class: members of a TextChoices cannot be listed inside its own body.
# TLS_UNTRUSTED stays yellow: a phone's own services (and a browser's) refuse the proxy's CA too, so a refusal
# is worth a look (which hosts) but does not by itself make the record untrustworthy.
HealthFlag.RED = frozenset({HealthFlag.MOCK_NOT_ENABLED, HealthFlag.COUNT_MISMATCH, HealthFlag.NO_EVENTS,
                            HealthFlag.RUN_CRASHED})


class TestRecord(ProjectScoped):
    """The tracking events captured in one run (or uploaded), with the run's steps and health flags."""

    __test__ = False  # not a pytest test class, despite the name

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="test_records",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="e.g. 'Baseline, Pixel 7, build 5.3.0'.")
    source = models.CharField(max_length=10, choices=RecordSource.choices, default=RecordSource.UPLOADED,
                              help_text="How the events were captured.")
    run = models.ForeignKey("automation.Run", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="test_records", help_text="The run that captured the events.")
    mock_record = models.ForeignKey("mock_records.MockRecord", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="test_records",
                                    help_text="The API exchanges that were live while the events were captured.")
    is_baseline = models.BooleanField(default=False, help_text="A known-good recording that rules are learnt from.")
    steps = models.JSONField(default=list, blank=True,
                             help_text="Step timeline: [{\"step\": n, \"action\": str, \"at\": ms epoch}, ...].")
    health_flags = models.JSONField(default=list, blank=True,
                                    help_text=f"Problems with the capture itself; any of: "
                                    f"{', '.join(HealthFlag.values)}.")
    proxy_report = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="What the run's proxy reported: mode, exchanges served, misses, tracking requests, decode errors.")
    device_event_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Events the device says it sent (for the count-mismatch flag)."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    """One tracking event as decoded from the wire (or pushed by an in-app bridge), in capture order."""

    test_record = models.ForeignKey(TestRecord, on_delete=models.CASCADE, related_name="events",
                                    help_text="The record the event was captured in.")
    seq = models.PositiveIntegerField(help_text="0-based position in the record.")
    name = models.CharField(max_length=200, help_text="Event name.")
    properties = models.JSONField(default=dict, blank=True, help_text="Event properties as sent.")
    distinct_id = models.CharField(max_length=200, blank=True, help_text="User or device id the SDK sent.")
    client_time = models.BigIntegerField(null=True, blank=True, help_text="Time on the device, ms since epoch.")
    received_at = models.DateTimeField(null=True, blank=True, help_text="When the platform received it.")
    step = models.IntegerField(null=True, blank=True, help_text="UI step of the script that preceded the event.")
    sdk = models.CharField(max_length=30, blank=True, help_text="Which decoder produced it, e.g. 'sensorsdata'.")
    raw = models.JSONField(null=True, blank=True, help_text="The raw fragment the event was decoded from.")

    PROJECT_PATH = "test_record__project"

    class Meta:
        ordering = ["test_record", "seq"]
        constraints = [models.UniqueConstraint(fields=["test_record", "seq"], name="event_unique_seq",
                                    violation_error_message="The test record already has an event at this position (seq).")]
        indexes = [models.Index(fields=["test_record", "name"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.name}"
