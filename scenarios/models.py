from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction

from accounts.models import ProjectScoped

from . import rulebook


class HistoryError(Exception):
    """A change to a scenario version that is history: not current, or verified against by a report. The API
    answers 409 with the message, the console shows it; the model layer raises it so no path can forget."""

    def __init__(self, message: str, version_id: int | None = None) -> None:
        super().__init__(message)
        self.version_id = version_id


def rules_frozen_reason(version_id) -> str | None:
    """Why the rules of this version may not change (it is not its scenario's current version, or a report was
    verified against it), or None when they may."""
    row = (ScenarioVersion.objects.filter(pk=version_id)
           .values("number", "scenario_id", "scenario__name", "scenario__current_version__number",
                   "scenario__current_version_id").first())
    if row is None:
        return None
    name = f"version {row['number']} of scenario '{row['scenario__name']}'"
    if row["scenario__current_version_id"] != version_id:
        current = row["scenario__current_version__number"]
        return (f"{name} is history (the current version is {current}): its rules cannot be changed or "
                f"deleted; change the current version instead")
    if (ScenarioVersion.objects.filter(pk=version_id).filter(
            models.Q(reports__isnull=False) | models.Q(global_reports__isnull=False)).exists()):
        return (f"{name} is history: reports were verified against it, so its rules cannot be changed or "
                f"deleted; make a new version (POST /api/v1/scenario-versions/ with scenario "
                f"{row['scenario_id']}, or edit in the scenario editor) and change that")
    return None


def check_rules_writable(version_ids) -> None:
    for version_id in sorted({v for v in version_ids if v is not None}):
        reason = rules_frozen_reason(version_id)
        if reason:
            raise HistoryError(reason, version_id)


class Scenario(ProjectScoped):
    """The rules for one test case, grouped by event. Rules live on versions, and a version that is no longer
    current or that a report was verified against is never rewritten (HistoryError), so a report always names
    the exact rules it was verified against. One scenario per project may be global:
    its rules apply to every scenario of the project unless a scenario overrides them."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="scenarios",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="Test-case name, e.g. 'Browse and add to cart'.")
    description = models.TextField(blank=True, help_text="What the test case covers.")
    is_global = models.BooleanField(default=False, help_text="The project's global scenario (at most one).")
    current_version = models.ForeignKey(
        "ScenarioVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False,
        help_text="The version used for new verifications.",
    )

    class Meta:
        ordering = ["-is_global", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="scenario_unique_name",
                                    violation_error_message="The project already has a scenario with this name."),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(is_global=True), name="scenario_one_global_per_project",
                violation_error_message="The project already has a global scenario.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (global)" if self.is_global else self.name

    @transaction.atomic
    def new_version(self, *, note: str = "", created_by=None, copy_rules: bool = True) -> ScenarioVersion:
        """Create the next version, copying the current rules, and make it current."""
        # Lock the scenario row so two editors cannot both create version N+1.
        locked = Scenario.objects.select_for_update().get(pk=self.pk)
        previous = locked.current_version
        number = (locked.versions.aggregate(m=models.Max("number"))["m"] or 0) + 1
        version = ScenarioVersion.objects.create(scenario=locked, number=number, note=note, created_by=created_by)
        # Current first: rules may only be written into the current version (Rule's guards).
        Scenario.objects.filter(pk=self.pk).update(current_version=version)
        self.current_version = version
        if copy_rules and previous is not None:
            rules = list(previous.rules.all())
            for rule in rules:
                rule.pk = None
                rule.version = version
            Rule.objects.bulk_create(rules)
        return version


class ScenarioVersionQuerySet(models.QuerySet):
    """Bulk paths guarded like the instance ones: no update of a version that is not current, no deletion of
    one a report points at."""

    def update(self, **kwargs):
        old = list(self.exclude(scenario__current_version=models.F("pk")).values_list("pk", "number")[:1])
        if old:
            raise HistoryError(f"version {old[0][1]} is history: it is not its scenario's current version and "
                               f"cannot be changed", old[0][0])
        return super().update(**kwargs)

    def delete(self):
        for version in self.filter(models.Q(reports__isnull=False) | models.Q(global_reports__isnull=False)
                                   ).distinct()[:1]:
            raise HistoryError(version.referenced_message(), version.pk)
        for version in self.exclude(scenario__current_version=models.F("pk"))[:1]:
            raise HistoryError(version.history_message(), version.pk)
        return super().delete()


class ScenarioVersion(models.Model):
    """A numbered snapshot of a scenario's rules. Repairs and edits create a new version; one that is no longer
    current is neither edited nor deleted, and one a report was verified against is not deleted."""

    objects = ScenarioVersionQuerySet.as_manager()

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="versions",
                                 help_text="The scenario this is a version of.")
    number = models.PositiveIntegerField(help_text="1, 2, 3… within the scenario.")
    note = models.CharField(max_length=300, blank=True, help_text="Why this version exists, e.g. the repair made.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    PROJECT_PATH = "scenario__project"

    class Meta:
        ordering = ["scenario", "-number"]
        constraints = [models.UniqueConstraint(fields=["scenario", "number"], name="scenarioversion_unique_number",
                                    violation_error_message="This scenario already has a version with this number.")]

    def __str__(self) -> str:
        return f"{self.scenario.name} v{self.number}"

    @property
    def is_current(self) -> bool:
        return Scenario.objects.filter(pk=self.scenario_id, current_version_id=self.pk).exists()

    @property
    def has_reports(self) -> bool:
        return self.reports.exists() or self.global_reports.exists()

    def referenced_message(self) -> str:
        return (f"version {self.number} of scenario '{self.scenario.name}' is history: reports were verified "
                f"against it, so it cannot be deleted")

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding and not self.is_current:
            raise HistoryError(f"version {self.number} of scenario '{self.scenario.name}' is history (not the "
                               f"current version): it cannot be changed", self.pk)
        super().save(*args, **kwargs)

    def history_message(self) -> str:
        return (f"version {self.number} of scenario '{self.scenario.name}' is history (not the current "
                f"version): it cannot be deleted")

    def delete(self, *args, **kwargs):
        # Deleting a whole scenario that no report uses still takes its versions along (Django's cascade).
        if self.has_reports:
            raise HistoryError(self.referenced_message(), self.pk)
        if not self.is_current:
            raise HistoryError(self.history_message(), self.pk)
        return super().delete(*args, **kwargs)

    def copy_of(self, rule: Rule) -> Rule:
        """This version's copy of a rule of the version it was made from (new_version copies them all)."""
        return self.rules.filter(kind=rule.kind, event=rule.event, property_path=rule.property_path,
                                 params=rule.params, strength=rule.strength, enabled=rule.enabled).order_by("pk").first()


class RuleKind(models.TextChoices):
    # event level
    COUNT = "count", "Count"
    ORDER = "order", "Order"
    DUPLICATE = "duplicate", "Duplicate"
    TRIGGER = "trigger", "Trigger"
    ABSENT = "absent", "Absent"
    # property level
    REQUIRED = "required", "Required"
    NULLABLE = "nullable", "Nullable"
    TYPE = "type", "Type"
    ENUM = "enum", "Enum"
    RANGE = "range", "Numeric range"
    LENGTH = "length", "String length"
    REGEX = "regex", "Regex"
    NESTED_ARRAY = "nested_array", "Nested JSON array"
    ATTRIBUTE_MAPPING = "attribute_mapping", "Attribute mapping"
    API_MAPPING = "api_mapping", "API mapping"
    BASELINE = "baseline", "Baseline value"


class Strength(models.TextChoices):
    STRONG = "strong", "Strong"  # counts toward the pass rate
    WEAK = "weak", "Weak"  # reported only


class RuleQuerySet(models.QuerySet):
    """Every bulk write checks the versions it touches (check_rules_writable), so a new code path cannot rewrite
    history by going around Rule.save."""

    def _versions(self) -> set:
        return set(self.order_by().values_list("version_id", flat=True).distinct())

    def update(self, **kwargs):
        target = kwargs.get("version_id", getattr(kwargs.get("version"), "pk", None))
        check_rules_writable(self._versions() | ({target} if target else set()))
        return super().update(**kwargs)

    def delete(self):
        check_rules_writable(self._versions())
        return super().delete()

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        check_rules_writable({obj.version_id for obj in objs})
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        objs = list(objs)
        stored = Rule.objects.filter(pk__in=[obj.pk for obj in objs]).values_list("version_id", flat=True)
        check_rules_writable({obj.version_id for obj in objs} | set(stored))
        return super().bulk_update(objs, fields, *args, **kwargs)


class Rule(models.Model):
    """One check on an event or one of its properties, strong (counts toward the pass rate) or weak. Only the
    rules of a scenario's current version that no report was verified against can change (HistoryError)."""

    objects = RuleQuerySet.as_manager()

    version = models.ForeignKey(ScenarioVersion, on_delete=models.CASCADE, related_name="rules",
                                help_text="The scenario version the rule belongs to.")
    kind = models.CharField(max_length=20, choices=RuleKind.choices, help_text="What the rule checks.")
    event = models.CharField(max_length=200, help_text="Target event name.")
    property_path = models.CharField(
        max_length=300, blank=True,
        help_text="Property path for property-level rules ('a.b', 'items[].id'); empty for event-level rules.",
    )
    params = models.JSONField(default=dict, blank=True,
                              help_text="Kind-specific parameters, e.g. {\"min\": 1, \"max\": 3} for count.")
    strength = models.CharField(max_length=6, choices=Strength.choices, default=Strength.STRONG,
                                help_text="strong rules lower the pass rate when broken; weak ones are reported only.")
    enabled = models.BooleanField(default=True, help_text="Disabled rules are kept but not evaluated.")
    evidence = models.JSONField(default=dict, blank=True,
                                help_text="What inference saw: sample count and values behind the rule.")

    PROJECT_PATH = "version__scenario__project"

    class Meta:
        ordering = ["version", "event", "property_path", "kind"]
        indexes = [models.Index(fields=["version", "event"])]

    def __str__(self) -> str:
        target = f"{self.event}.{self.property_path}" if self.property_path else self.event
        return f"{self.kind} on {target}"

    def save(self, *args, **kwargs):
        versions = {self.version_id}
        if self.pk is not None and not self._state.adding:
            versions |= set(Rule.objects.filter(pk=self.pk).values_list("version_id", flat=True))  # moved from
        check_rules_writable(versions)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        check_rules_writable({self.version_id})
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        """The engine's own validation, so a rule that cannot run (say a regex RE2 rejects) is never saved."""
        try:
            rulebook.validate(self.to_spec(), "rule")
        except rulebook.RuleError as exc:
            message = str(exc)
            field = ("params" if "params" in message else "property_path" if "property" in message
                     else "kind" if "kind" in message else "event" if "event" in message else "params")
            raise ValidationError({field: message}) from None

    def to_spec(self) -> rulebook.RuleSpec:
        return rulebook.RuleSpec(kind=self.kind, event=self.event, property=self.property_path,
                                 params=self.params if self.params is not None else {}, strength=self.strength,
                                 enabled=self.enabled, evidence=self.evidence or {}, id=self.pk)

    @classmethod
    def from_spec(cls, spec: rulebook.RuleSpec, version: ScenarioVersion) -> Rule:
        return cls(version=version, kind=spec.kind, event=spec.event, property_path=spec.property,
                   params=spec.params, strength=spec.strength, enabled=spec.enabled, evidence=spec.evidence)
