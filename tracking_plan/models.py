from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import ProjectScoped


class PropertyType(models.TextChoices):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"


class EventDefinition(ProjectScoped):
    """One tracking event the app is meant to send, with its owners (RD, QA, leader) who receive its faults."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="event_definitions",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="Event name exactly as sent on the wire, e.g. 'product_click'.")
    display_name = models.CharField(max_length=200, blank=True, help_text="Readable name for reports.")
    description = models.TextField(blank=True, help_text="When the event fires and what it means.")
    owner_rd = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Developer who owns the implementation; faults are assigned to them.",
    )
    owner_qa = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="QA engineer who owns the event's checks.",
    )
    owner_leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Leader that overdue faults escalate to.",
    )
    tags = models.JSONField(default=list, blank=True, help_text="Free labels, a JSON list of strings.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="eventdef_unique_name",
                                    violation_error_message="The tracking plan already has an event with this name.")]

    def __str__(self) -> str:
        return self.name


class PropertyDefinition(models.Model):
    """One property of an event definition: its type, whether it is required or nullable, allowed values."""

    event = models.ForeignKey(EventDefinition, on_delete=models.CASCADE, related_name="properties",
                              help_text="The event definition the property belongs to.")
    name = models.CharField(
        max_length=300, help_text="Property path; nested keys joined with '.', array elements with '[]'."
    )
    type = models.CharField(max_length=10, choices=PropertyType.choices, default=PropertyType.STRING,
                            help_text="Expected JSON type of the value.")
    required = models.BooleanField(default=True, help_text="The property must be present on every event.")
    nullable = models.BooleanField(default=False, help_text="null is an acceptable value.")
    enum = models.JSONField(null=True, blank=True, help_text="Allowed values as a JSON list, or null for any.")
    description = models.TextField(blank=True, help_text="What the value means.")

    PROJECT_PATH = "event__project"

    class Meta:
        ordering = ["event", "name"]
        constraints = [models.UniqueConstraint(fields=["event", "name"], name="propdef_unique_name",
                                    violation_error_message="This event already has a property with this name.")]

    def __str__(self) -> str:
        return f"{self.event.name}.{self.name}"


class FaultStatus(models.TextChoices):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Fault(ProjectScoped):
    """A ticket raised from one or more anomalies of a report, assigned to the event's owner."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="faults",
                                help_text="The project it belongs to.")
    title = models.CharField(max_length=300, help_text="One line: what is broken.")
    description = models.TextField(blank=True, help_text="Details, steps, expected vs actual.")
    event_definition = models.ForeignKey(
        EventDefinition, null=True, blank=True, on_delete=models.SET_NULL, related_name="faults",
        help_text="The tracking-plan event the fault is about.",
    )
    event_name = models.CharField(max_length=200, blank=True, help_text="Event name as captured.")
    report = models.ForeignKey(
        "reports.Report", null=True, blank=True, on_delete=models.SET_NULL, related_name="faults",
        help_text="The report whose anomalies raised the fault.",
    )
    status = models.CharField(max_length=12, choices=FaultStatus.choices, default=FaultStatus.OPEN,
                              help_text="Workflow state.")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM,
                                help_text="How bad the breakage is.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_faults",
        help_text="Who must fix it; defaults to the event's RD owner.",
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_faults",
    )
    due_at = models.DateTimeField(null=True, blank=True, help_text="When it escalates to the leader if still open.")
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
