"""One-click repair from an anomaly: a new version of the scenario that owns the rule (the global scenario
for a global rule) with the rule changed, then the stored records re-verified without any device. The new
reports supersede the old ones and say what changed."""

from __future__ import annotations

from django.db import transaction

from scenarios import repair as pure
from scenarios.models import HistoryError, Rule, Scenario
from scenarios.rulebook import RuleError

from .models import Anomaly, AnomalyStatus, Report, ReportStatus
from .verification import verify_record


class RepairError(ValueError):
    pass


def repair_anomaly(anomaly: Anomaly, action: str, *, user=None, pattern: str | None = None) -> tuple[Report, str]:
    """Returns the new report for the anomaly's test record and the sentence saying what changed."""
    if anomaly.rule_id is None:
        raise RepairError("the rule behind this anomaly no longer exists")
    old_rule = Rule.objects.select_related("version__scenario").get(pk=anomaly.rule_id)
    scenario: Scenario = old_rule.version.scenario
    if scenario.current_version_id != old_rule.version_id:
        raise RepairError(f"the rule belongs to version {old_rule.version.number} of {scenario.name}, which is no longer "
                          "current: re-verify against the current version first")
    try:
        fixed, change = pure.repair(old_rule.to_spec(), action, anomaly.actual, pattern=pattern)
    except RuleError as exc:
        raise RepairError(str(exc)) from None
    # Always a new version: the old one is history (the anomaly's report was verified against it).
    try:
        with transaction.atomic():
            version = scenario.new_version(note=f"repair: {change}"[:300], created_by=user)
            copy = version.copy_of(old_rule)
            for name in ("kind", "params", "strength", "enabled"):
                setattr(copy, name, getattr(fixed, name))
            copy.evidence = {**(copy.evidence or {}), "repaired": change}
            copy.clean()
            copy.save()
            Anomaly.objects.filter(pk=anomaly.pk).update(status=AnomalyStatus.REPAIRED)
    except HistoryError as exc:  # a newer version appeared meanwhile
        raise RepairError(str(exc)) from None
    # Re-verify: the anomaly's record first, then every other record whose latest report used the old rules.
    old_report = anomaly.report
    target_version = version if not scenario.is_global else old_report.scenario_version
    new_report = verify_record(old_report.test_record, target_version if not scenario.is_global
                               else old_report.scenario_version.scenario.current_version,
                               baseline=old_report.baseline_record, supersedes=old_report, note=change)
    latest = (Report.objects.filter(project_id=old_report.project_id, status=ReportStatus.DONE,
                                    superseded_by__isnull=True)
              .exclude(pk__in=[old_report.pk, new_report.pk]))
    if scenario.is_global:
        latest = latest.filter(scenario_version__scenario__project_id=scenario.project_id)
    else:
        latest = latest.filter(scenario_version__scenario=scenario)
    for report in latest.select_related("scenario_version__scenario", "test_record")[:50]:
        current = report.scenario_version.scenario.current_version
        verify_record(report.test_record, current, baseline=report.baseline_record, supersedes=report, note=change)
    return new_report, change
