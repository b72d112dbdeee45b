from __future__ import annotations

from django.db import models

from accounts.models import ProjectScoped


class ReportStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


class Report(ProjectScoped):
    """A test record verified against one scenario version: pass rate and anomalies."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="reports",
                                help_text="The project it belongs to.")
    test_record = models.ForeignKey("test_records.TestRecord", on_delete=models.CASCADE, related_name="reports",
                                    help_text="The record that was verified.")
    scenario_version = models.ForeignKey("scenarios.ScenarioVersion", on_delete=models.PROTECT,
                                         related_name="reports", help_text="The exact rules used.")
    global_version = models.ForeignKey(
        "scenarios.ScenarioVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="global_reports",
        editable=False, help_text="The version of the project's global scenario whose rules were merged in, if any.")
    baseline_record = models.ForeignKey(
        "test_records.TestRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Known-good recording the record is compared with value by value.",
    )
    run = models.ForeignKey("automation.Run", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="reports")
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.PENDING,
                              editable=False)
    pass_rate = models.FloatField(null=True, blank=True, editable=False,
                                  help_text="Distinct event names with no strong anomaly / distinct event names.")
    events_total = models.PositiveIntegerField(default=0, editable=False)
    events_passed = models.PositiveIntegerField(default=0, editable=False)
    strong_anomalies = models.PositiveIntegerField(default=0, editable=False)
    weak_anomalies = models.PositiveIntegerField(default=0, editable=False)
    error = models.TextField(blank=True, editable=False)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_by", editable=False,
        help_text="The report this one re-verified after a rule repair, with the same test record.",
    )
    note = models.CharField(max_length=500, blank=True, editable=False,
                            help_text="What changed since the superseded report, e.g. the repair made.")
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Report #{self.pk} on {self.test_record}"


class AnomalyStatus(models.TextChoices):
    OPEN = "open"
    REPAIRED = "repaired"
    FAULT_RAISED = "fault_raised"
    IGNORED = "ignored"


class Anomaly(models.Model):
    """One broken rule on one event (or on the record as a whole: a missing event, a wrong count)."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="anomalies")
    event_name = models.CharField(max_length=200)
    event_index = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="0-based index of the event in the record; null when "
                                              "the anomaly is about the record as a whole.")
    rule = models.ForeignKey("scenarios.Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rule_kind = models.CharField(max_length=20)
    property_path = models.CharField(max_length=300, blank=True)
    strength = models.CharField(max_length=6, choices=[("strong", "Strong"), ("weak", "Weak")])
    expected = models.JSONField(null=True, blank=True)
    actual = models.JSONField(null=True, blank=True)
    message = models.TextField()
    raw_event = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=AnomalyStatus.choices, default=AnomalyStatus.OPEN,
                              help_text="What was done about it.")
    fault = models.ForeignKey("tracking_plan.Fault", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="anomalies", help_text="The fault raised for it.")

    PROJECT_PATH = "report__project"

    class Meta:
        ordering = ["report", "event_name", "event_index"]
        verbose_name_plural = "anomalies"

    def __str__(self) -> str:
        return f"{self.event_name}: {self.message}"
