"""Rules as plain data: the kinds, what parameters each takes, validation with errors that name the rule and
the field, the scenario JSON file (`trackreplay infer` writes it, `trackreplay verify` reads it), and the
merge of a project's global scenario into a scenario. No Django here: the CLI and the engine use it as is.

Scenario file:
    {"format": "trackreplay.scenario/1", "name": "...", "rules": [
        {"kind": "range", "event": "product_click", "property": "price", "params": {"min": 0, "max": 100},
         "strength": "strong", "enabled": true, "evidence": {"samples": 12, "values": [...]}}, ...]}

`event` may be "*" (every event) in a global scenario."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import re2

from .paths import PathError, parse

FORMAT = "trackreplay.scenario/1"
STRONG, WEAK = "strong", "weak"
ANY_EVENT = "*"

EVENT_KINDS = ("count", "order", "duplicate", "trigger", "absent")
PROPERTY_KINDS = ("required", "nullable", "type", "enum", "range", "length", "regex", "nested_array",
                  "attribute_mapping", "api_mapping", "baseline")
KINDS = EVENT_KINDS + PROPERTY_KINDS
JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule and the field."""


@dataclass(slots=True)
class RuleSpec:
    kind: str
    event: str
    property: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    strength: str = STRONG
    enabled: bool = True
    evidence: dict[str, Any] = field(default_factory=dict)
    id: Any = None  # the database id when the rule comes from one

    def key(self) -> tuple:
        """What a scenario rule overrides in the global scenario: same event, property and kind (order rules
        also by their sequence, mapping rules by their source)."""
        extra: Any = None
        if self.kind == "order":
            extra = tuple(self.params.get("sequence") or ())
        elif self.kind == "attribute_mapping":
            extra = self.params.get("source")
        return (self.event, self.property, self.kind, extra)

    def label(self) -> str:
        target = f"{self.event}.{self.property}" if self.property else self.event
        return f"{self.kind} rule on {target}"

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, "event": self.event, "property": self.property, "params": self.params,
                "strength": self.strength, "enabled": self.enabled, "evidence": self.evidence}
        if self.id is not None:
            data["id"] = self.id
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "rule") -> RuleSpec:
        if not isinstance(data, dict):
            raise RuleError(f"{where}: a rule must be a JSON object, not {type(data).__name__}")
        unknown = set(data) - {"kind", "event", "property", "params", "strength", "enabled", "evidence", "id"}
        if unknown:
            raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        rule = cls(kind=data.get("kind"), event=data.get("event"), property=data.get("property") or "",
                   params=data.get("params") if data.get("params") is not None else {},
                   strength=data.get("strength") or STRONG, enabled=data.get("enabled", True),
                   evidence=data.get("evidence") or {}, id=data.get("id"))
        validate(rule, where)
        return rule


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_types(types, where):
    if not isinstance(types, list) or not types or any(t not in JSON_TYPES for t in types):
        raise RuleError(f"{where}: params.types must be a non-empty list of {', '.join(JSON_TYPES)}")


def _check_bounds(params, where, *, integers=False):
    low, high = params.get("min"), params.get("max")
    if low is None and high is None:
        raise RuleError(f"{where}: params needs min, max or both")
    for name, value in (("min", low), ("max", high)):
        if value is not None and not (_number(value) and (not integers or isinstance(value, int))):
            raise RuleError(f"{where}: params.{name} must be {'an integer' if integers else 'a number'}")
    if low is not None and high is not None and low > high:
        raise RuleError(f"{where}: params.min ({low}) is greater than params.max ({high})")


def compile_regex(pattern: Any, where: str = "regex rule"):
    """RE2 only (linear time): a pattern RE2 cannot compile is rejected, naming the rule and RE2's reason."""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"{where}: params.pattern must be a non-empty string")
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise RuleError(f"{where}: params.pattern {pattern!r} is not a valid RE2 expression: {exc}") from None


def _check_element_schema(schema, where):
    if not isinstance(schema, dict):
        raise RuleError(f"{where} must be an object")
    unknown = set(schema) - {"required", "types", "enums", "arrays"}
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(schema.get("required", []), list):
        raise RuleError(f"{where}.required must be a list of keys")
    for key, types in (schema.get("types") or {}).items():
        _check_types(types, f"{where}.types.{key}")
    for key, values in (schema.get("enums") or {}).items():
        if not isinstance(values, list) or not values:
            raise RuleError(f"{where}.enums.{key} must be a non-empty list")
    for key, sub in (schema.get("arrays") or {}).items():
        _check_element_schema(sub, f"{where}.arrays.{key}")


def validate(rule: RuleSpec, where: str = "rule") -> None:
    where = f"{where} ({rule.kind} on {rule.event}{'.' + rule.property if rule.property else ''})" \
        if isinstance(rule.kind, str) and isinstance(rule.event, str) else where
    if rule.kind not in KINDS:
        raise RuleError(f"{where}: unknown kind {rule.kind!r}; known: {', '.join(KINDS)}")
    if not isinstance(rule.event, str) or not rule.event:
        raise RuleError(f"{where}: event must be a non-empty string")
    if rule.strength not in (STRONG, WEAK):
        raise RuleError(f"{where}: strength must be 'strong' or 'weak', not {rule.strength!r}")
    if not isinstance(rule.enabled, bool):
        raise RuleError(f"{where}: enabled must be true or false")
    if not isinstance(rule.params, dict):
        raise RuleError(f"{where}: params must be an object")
    if not isinstance(rule.evidence, dict):
        raise RuleError(f"{where}: evidence must be an object")
    params = rule.params
    if rule.kind in PROPERTY_KINDS:
        if not isinstance(rule.property, str) or not rule.property:
            raise RuleError(f"{where}: a {rule.kind} rule needs a property path")
        try:
            parse(rule.property)
        except PathError as exc:
            raise RuleError(f"{where}: {exc}") from None
    elif rule.property:
        raise RuleError(f"{where}: a {rule.kind} rule is about the event, it takes no property path")
    kind = rule.kind
    if kind == "count":
        _check_bounds(params, where, integers=True)
        if (params.get("min") or 0) < 0:
            raise RuleError(f"{where}: params.min cannot be negative")
    elif kind == "order":
        sequence = params.get("sequence")
        if (not isinstance(sequence, list) or len(sequence) < 2 or not all(isinstance(s, str) and s for s in sequence)
                or len(set(sequence)) != len(sequence)):
            raise RuleError(f"{where}: params.sequence must list at least two different event names")
        if sequence[0] != rule.event:
            raise RuleError(f"{where}: params.sequence must start with the rule's event {rule.event!r}")
    elif kind == "duplicate":
        window = params.get("window_ms", 1000)
        if not _number(window) or window <= 0:
            raise RuleError(f"{where}: params.window_ms must be a positive number")
        if not isinstance(params.get("ignore", []), list):
            raise RuleError(f"{where}: params.ignore must be a list of property names")
    elif kind == "trigger":
        steps = params.get("steps")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, int) and not isinstance(s, bool)
                                                                 for s in steps):
            raise RuleError(f"{where}: params.steps must be a non-empty list of step numbers")
        if "window_ms" in params and (not _number(params["window_ms"]) or params["window_ms"] <= 0):
            raise RuleError(f"{where}: params.window_ms must be a positive number")
    elif kind == "nullable":
        if not isinstance(params.get("allowed"), bool):
            raise RuleError(f"{where}: params.allowed must be true or false")
    elif kind == "type":
        _check_types(params.get("types"), where)
    elif kind == "enum":
        if not isinstance(params.get("values"), list) or not params["values"]:
            raise RuleError(f"{where}: params.values must be a non-empty list")
    elif kind == "range":
        _check_bounds(params, where)
    elif kind == "length":
        _check_bounds(params, where, integers=True)
    elif kind == "regex":
        compile_regex(params.get("pattern"), where)
    elif kind == "nested_array":
        _check_element_schema(params.get("element", {}), f"{where}: params.element")
        if "expected" in params and not isinstance(params["expected"], list):
            raise RuleError(f"{where}: params.expected must be a list")
    elif kind == "attribute_mapping":
        source = params.get("source")
        if not isinstance(source, str) or not source:
            raise RuleError(f"{where}: params.source must name the property that determines this one")
        pairs = params.get("pairs")
        if not isinstance(pairs, list) or not pairs or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise RuleError(f"{where}: params.pairs must be a non-empty list of [source value, value] pairs")
    elif kind == "api_mapping":
        api = params.get("api")
        if not isinstance(api, dict) or not isinstance(api.get("path"), str):
            raise RuleError(f"{where}: params.api must be an object with at least a path (and method, host)")
        for name in ("field", "key_property", "key_field"):
            value = params.get(name)
            if name == "field" or value is not None:
                if not isinstance(value, str) or not value:
                    raise RuleError(f"{where}: params.{name} must be a path")
                try:
                    parse(value)
                except PathError as exc:
                    raise RuleError(f"{where}: params.{name}: {exc}") from None
        if (params.get("key_property") is None) != (params.get("key_field") is None):
            raise RuleError(f"{where}: params.key_property and params.key_field go together")
    elif kind == "baseline":
        if "value" not in params:
            raise RuleError(f"{where}: params.value is required")


@dataclass
class ScenarioFile:
    name: str
    rules: list[RuleSpec]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, **self.meta, "rules": [rule.to_dict() for rule in self.rules]}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def load_scenario(data: Any, where: str = "scenario") -> ScenarioFile:
    if not isinstance(data, dict):
        raise RuleError(f"{where}: expected a JSON object with a rules list")
    if data.get("format", FORMAT) != FORMAT:
        raise RuleError(f"{where}: format {data.get('format')!r} is not {FORMAT!r}")
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise RuleError(f"{where}: rules must be a list")
    parsed = [RuleSpec.from_dict(rule, f"{where}: rules[{index}]") for index, rule in enumerate(rules)]
    meta = {k: v for k, v in data.items() if k not in ("format", "name", "rules")}
    return ScenarioFile(name=str(data.get("name") or ""), rules=parsed, meta=meta)


def merge_global(global_rules: list[RuleSpec], rules: list[RuleSpec]) -> list[RuleSpec]:
    """The scenario's rules plus the global ones it does not override (same key). A global rule for every
    event ("*") gives way, event by event, to a rule with the same property and kind for that event: the
    engine resolves that when it groups rules by event (`rules_for_event`)."""
    own = {rule.key() for rule in rules}
    return list(rules) + [rule for rule in global_rules if rule.key() not in own]


def rules_for_event(rules: list[RuleSpec], event: str) -> list[RuleSpec]:
    named = [rule for rule in rules if rule.event == event]
    keys = {(rule.property, rule.kind, rule.key()[3]) for rule in named}
    return named + [rule for rule in rules if rule.event == ANY_EVENT and rule.key()[1:] not in keys]
