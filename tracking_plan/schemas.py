"""Tracking plans as JSON Schema, without Django: one schema per event describing its properties.

Accepted documents (each schema is checked against its meta-schema with the jsonschema library):
- trackreplay's own: {"events": [{"name", "owner"?, "description"?, "schema": {JSON Schema of properties}}]};
- a list of JSON Schemas named by "title", or Snowplow Iglu self-describing schemas
  ({"self": {"vendor", "name", "format", "version"}, ...}: the event name is self.name);
- Segment Protocols tracking-plan JSON ({"rules": {"events": [{"name", "rules": schema of the whole
  message}]}}, optionally under "tracking_plan"): the event's properties are the schema's
  properties.properties.

Everything reduces to PlanDefinition: name, owner, description and the properties' JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from scenarios.inference import PlanEvent

DRAFT = "https://json-schema.org/draft/2020-12/schema"


class PlanError(ValueError):
    """A tracking plan that cannot be read; the message names the file, the event and what is wrong."""


@dataclass
class PlanDefinition:
    name: str
    schema: dict[str, Any]  # JSON Schema of the event's properties object
    owner: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required") or [])


def check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise PlanError(f"{where}: the schema must be a JSON object")
    try:
        validator_for(schema, default=validator_for({"$schema": DRAFT})).check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise PlanError(f"{where}: not a valid JSON Schema at {path}: {exc.message}") from None


def _from_entry(entry: Any, where: str) -> PlanDefinition:
    if not isinstance(entry, dict):
        raise PlanError(f"{where}: expected an object")
    if "schema" in entry and "name" in entry:  # trackreplay's own shape
        check_schema(entry["schema"], f"{where} ({entry['name']})")
        return PlanDefinition(str(entry["name"]), entry["schema"], str(entry.get("owner") or ""),
                              str(entry.get("description") or ""))
    if "rules" in entry and "name" in entry:  # Segment Protocols: a schema of the whole message
        rules = entry["rules"]
        check_schema(rules, f"{where} ({entry['name']})")
        properties = ((rules.get("properties") or {}).get("properties")) or {"type": "object"}
        return PlanDefinition(str(entry["name"]), properties, description=str(entry.get("description") or ""))
    if isinstance(entry.get("self"), dict):  # Snowplow Iglu self-describing schema
        self_ = entry["self"]
        if not isinstance(self_.get("name"), str):
            raise PlanError(f"{where}: Iglu schema has no self.name")
        schema = {k: v for k, v in entry.items() if k not in ("self", "$schema")}
        check_schema(schema, f"{where} ({self_['name']})")
        return PlanDefinition(self_["name"], schema, description=str(entry.get("description") or ""),
                              extra={"iglu": f"iglu:{self_.get('vendor')}/{self_['name']}/{self_.get('format', 'jsonschema')}/"
                                             f"{self_.get('version', '1-0-0')}"})
    if isinstance(entry.get("title"), str):  # a plain JSON Schema named by its title
        check_schema(entry, f"{where} ({entry['title']})")
        return PlanDefinition(entry["title"], entry, description=str(entry.get("description") or ""))
    raise PlanError(f"{where}: not a plan entry: expected {{name, schema}}, a Segment {{name, rules}}, "
                    "an Iglu schema with self, or a JSON Schema with a title")


def parse_plan(document: Any, where: str = "plan") -> list[PlanDefinition]:
    if isinstance(document, dict) and "tracking_plan" in document:
        document = document["tracking_plan"]
    if isinstance(document, dict) and isinstance(document.get("rules"), dict):
        document = document["rules"].get("events")
        where = f"{where}: rules.events"
    elif isinstance(document, dict) and "events" in document:
        document = document["events"]
        where = f"{where}: events"
    elif isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise PlanError(f"{where}: expected a list of event definitions")
    definitions = [_from_entry(entry, f"{where}[{index}]") for index, entry in enumerate(document)]
    seen = set()
    for definition in definitions:
        if definition.name in seen:
            raise PlanError(f"{where}: event {definition.name!r} is defined twice")
        seen.add(definition.name)
    return definitions


def read_plan_definitions(path: str | Path) -> list[PlanDefinition]:
    from trackreplay.uploads import UploadRefused, check_count, env_limits, parse_json, read_file

    path = Path(path)
    limits = env_limits()
    try:
        document = parse_json(read_file(path, limits), limits, what=str(path))
    except OSError as exc:
        raise PlanError(f"{path}: {exc.strerror or exc}") from None
    except UploadRefused as exc:
        raise PlanError(exc.reason if exc.limit else f"{path}: not valid JSON ({exc.reason})") from None
    definitions = parse_plan(document, str(path))
    try:
        check_count(len(definitions), limits, f"plan events in {path}")
    except UploadRefused as exc:
        raise PlanError(exc.reason) from None
    return definitions


def plan_events(definitions: list[PlanDefinition]) -> dict[str, PlanEvent]:
    return {d.name: PlanEvent(required=set(d.required), owner=d.owner) for d in definitions}


def read_plan(path: str | Path) -> dict[str, PlanEvent]:
    return plan_events(read_plan_definitions(path))


def export_plan(definitions: list[PlanDefinition]) -> dict[str, Any]:
    return {"events": [{"name": d.name, **({"owner": d.owner} if d.owner else {}),
                        **({"description": d.description} if d.description else {}),
                        "schema": {"$schema": DRAFT, **{k: v for k, v in d.schema.items() if k != "$schema"}}}
                       for d in definitions]}
