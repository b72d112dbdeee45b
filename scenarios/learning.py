"""Inference as the platform runs it: stored known-good test records (with the first one's mock record and the
project's tracking plan) into a new scenario version holding the inferred rules."""

from __future__ import annotations

from django.db import transaction

from reports.verification import api_responses, record_events
from tracking_plan.models import EventDefinition

from .inference import PlanEvent, infer
from .models import Rule, Scenario, ScenarioVersion


def project_plan(project_id: int) -> dict[str, PlanEvent]:
    plan = {}
    for definition in EventDefinition.objects.filter(project_id=project_id).select_related("owner_rd").prefetch_related("properties"):
        plan[definition.name] = PlanEvent(
            required={p.name for p in definition.properties.all() if p.required},
            owner=definition.owner_rd.username if definition.owner_rd else "")
    return plan


def infer_version(scenario: Scenario, records: list, *, user=None) -> ScenarioVersion:
    if not records:
        raise ValueError("inference needs at least one test record")
    rules = infer([record_events(record) for record in records], api=api_responses(records[0]),
                  plan=project_plan(scenario.project_id))
    names = ", ".join(record.name for record in records)
    with transaction.atomic():
        version = scenario.new_version(note=f"inferred from {names}"[:300], created_by=user, copy_rules=False)
        Rule.objects.bulk_create([Rule.from_spec(rule, version) for rule in rules], batch_size=1000)
    return version
