"""Tracking plan import and export between JSON Schema documents (see schemas.py) and the project's
EventDefinition / PropertyDefinition rows. Import is all or nothing."""

from __future__ import annotations

import json

from django.db import transaction

from accounts.models import Membership
from trackreplay.values import BadValue, check_instance, first_bad_value

from .models import EventDefinition, PropertyDefinition, PropertyType
from .schemas import DRAFT, PlanDefinition, PlanError, export_plan, parse_plan

_TYPES = {"string", "integer", "number", "boolean", "object", "array"}


def _properties(schema: dict, prefix: str = "", depth: int = 0) -> list[dict]:
    """Flatten a properties schema into PropertyDefinition fields: nested objects as `a.b`, arrays of
    objects as `items[].key`."""
    rows = []
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}{name}"
        types = sub.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        concrete = [t for t in types if t in _TYPES]
        rows.append({"name": path, "type": concrete[0] if len(concrete) == 1 else PropertyType.ANY,
                     "required": name in required, "nullable": "null" in types,
                     "enum": sub.get("enum") if isinstance(sub.get("enum"), list) else None,
                     "description": str(sub.get("description") or "")})
        if depth < 3 and "object" in types:
            rows.extend(_properties(sub, f"{path}.", depth + 1))
        items = sub.get("items")
        if depth < 3 and "array" in types and isinstance(items, dict) and "properties" in items:
            rows.extend(_properties(items, f"{path}[].", depth + 1))
    return rows


@transaction.atomic
def import_plan(project, document, *, replace_properties: bool = True) -> dict:
    """Create or update the project's event definitions from a plan document. Returns a summary; raises
    PlanError (nothing written) when any part of the document is unusable."""
    bad = first_bad_value(document, "plan")
    if bad is not None:
        raise PlanError(str(bad))
    from trackreplay.upload_http import upload_limits
    from trackreplay.uploads import check_count

    definitions = parse_plan(document)
    limits = upload_limits()
    check_count(len(definitions), limits, "plan events")  # UploadRefused (400) names the setting
    check_count(sum(len(_properties(d.schema)) for d in definitions), limits, "plan properties")
    members = {m.user.username: m.user for m in Membership.objects.filter(project=project).select_related("user")}
    created = updated = 0
    unknown_owners = []
    for index, definition in enumerate(definitions):
        # Every value is checked against its column before anything is written (max_length, NUL...).
        try:
            check_instance(EventDefinition(project=project, name=definition.name,
                                           description=definition.description or ""), f"events[{index}]")
        except BadValue as exc:
            raise PlanError(f"event {json.dumps(str(definition.name)[:100])}: {exc}") from None
        for row in _properties(definition.schema):
            if len(row["name"]) > 300:
                raise PlanError(f"{definition.name}: property path {row['name'][:60]}... is over 300 characters")
            try:
                check_instance(PropertyDefinition(**row), f"events[{index}].properties")
            except BadValue as exc:
                raise PlanError(f"event {json.dumps(str(definition.name)[:100])}: {exc}") from None
    for definition in definitions:
        event, was_created = EventDefinition.objects.get_or_create(project=project, name=definition.name)
        created += was_created
        updated += not was_created
        if definition.description:
            event.description = definition.description
        if definition.owner:
            if definition.owner in members:
                event.owner_rd = members[definition.owner]
            else:
                unknown_owners.append(definition.owner)
        event.save()
        if replace_properties:
            event.properties.all().delete()
        for row in _properties(definition.schema):
            PropertyDefinition.objects.update_or_create(event=event, name=row["name"], defaults=row)
    return {"events": len(definitions), "created": created, "updated": updated,
            "unknown_owners": sorted(set(unknown_owners))}


def _schema_of(event: EventDefinition) -> dict:
    properties: dict = {}
    required: list = []
    for prop in event.properties.all():
        if "." in prop.name or "[]" in prop.name:
            continue  # nested paths are exported inside their parent below
        sub: dict = {}
        if prop.type != PropertyType.ANY:
            sub["type"] = [prop.type, "null"] if prop.nullable else prop.type
        if prop.enum:
            sub["enum"] = prop.enum + ([None] if prop.nullable and None not in prop.enum else [])
        if prop.description:
            sub["description"] = prop.description
        properties[prop.name] = sub
        if prop.required:
            required.append(prop.name)
    for prop in event.properties.all():
        parts = prop.name.split(".")
        if len(parts) < 2 or "[]" in prop.name:
            continue
        node = properties.setdefault(parts[0], {"type": "object"})
        for part in parts[1:-1]:
            node = node.setdefault("properties", {}).setdefault(part, {"type": "object"})
        leaf = {"type": prop.type} if prop.type != PropertyType.ANY else {}
        node.setdefault("properties", {})[parts[-1]] = leaf
        if prop.required:
            node.setdefault("required", []).append(parts[-1])
    schema = {"$schema": DRAFT, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def export_project_plan(project) -> dict:
    definitions = [PlanDefinition(e.name, _schema_of(e), e.owner_rd.username if e.owner_rd else "", e.description)
                   for e in EventDefinition.objects.filter(project=project).select_related("owner_rd")
                   .prefetch_related("properties")]
    return export_plan(definitions)
