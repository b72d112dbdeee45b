"""One-click repairs: how a rule changes when a person says an anomaly was not a defect. Pure: takes a rule
and the anomaly's actual value, returns the repaired rule (a copy) and a sentence saying what changed."""

from __future__ import annotations

import copy
import math
from typing import Any

from .inference import shape_regex
from .paths import MISSING
from .rulebook import WEAK, RuleError, RuleSpec, compile_regex, validate

ACTIONS = {
    "make_optional": "Make the property optional",
    "allow_null": "Allow null",
    "add_to_enum": "Add the value to the enum",
    "widen_range": "Widen the range to include the value",
    "replace_regex": "Replace the regex",
    "turn_weak": "Turn the rule weak (reported, not judged)",
    "disable": "Disable the rule",
}

# Which repairs make sense for which kind of rule (turn_weak and disable fit every kind).
FITS = {
    "required": ["make_optional"],
    "nullable": ["allow_null"],
    "type": ["allow_null"],
    "enum": ["add_to_enum"],
    "baseline": ["add_to_enum"],
    "range": ["widen_range"],
    "length": ["widen_range"],
    "count": ["widen_range"],
    "regex": ["replace_regex"],
}


def actions_for(kind: str) -> list[str]:
    return FITS.get(kind, []) + ["turn_weak", "disable"]


def _widen(low, high, value) -> tuple[Any, Any]:
    if low is not None and value < low:
        low = math.floor(value - abs(value) * 0.25) if value != 0 else 0
        if isinstance(value, int) and not isinstance(value, bool):
            low = int(low)
    if high is not None and value > high:
        high = math.ceil(value + abs(value) * 0.25)
    return low, high


def repair(rule: RuleSpec, action: str, actual: Any = None, *, pattern: str | None = None) -> tuple[RuleSpec, str]:
    """The repaired copy of `rule` and what changed. RuleError when the action does not fit the rule or the
    value (the message says why)."""
    if action not in ACTIONS:
        raise RuleError(f"unknown repair {action!r}; known: {', '.join(ACTIONS)}")
    if action not in actions_for(rule.kind):
        raise RuleError(f"'{ACTIONS[action]}' does not apply to a {rule.kind} rule; "
                        f"possible: {', '.join(actions_for(rule.kind))}")
    fixed = copy.deepcopy(rule)
    fixed.id = None
    target = rule.label()
    if action == "disable":
        fixed.enabled = False
        return fixed, f"disabled the {target}"
    if action == "turn_weak":
        fixed.strength = WEAK
        return fixed, f"turned the {target} weak"
    if action == "make_optional":
        fixed.enabled = False
        return fixed, f"made {rule.event}.{rule.property} optional (required rule disabled)"
    if action == "allow_null":
        if rule.kind == "nullable":
            fixed.params = {**rule.params, "allowed": True}
        else:
            fixed.params = {**rule.params, "types": sorted(set(rule.params["types"]) | {"null"})}
        return fixed, f"allowed null for {rule.event}.{rule.property}"
    if action == "add_to_enum":
        if actual is MISSING or actual is None:
            raise RuleError("there is no value to add: the property was missing or null")
        if rule.kind == "baseline":
            fixed.kind = "enum"
            fixed.params = {"values": [rule.params["value"], actual]}
        else:
            if actual in rule.params["values"]:
                raise RuleError(f"{actual!r} is already allowed")
            fixed.params = {**rule.params, "values": [*rule.params["values"], actual]}
        return fixed, f"added {actual!r} to the allowed values of {rule.event}.{rule.property}"
    if action == "widen_range":
        measured = actual
        if rule.kind == "length":
            if not isinstance(actual, (str, list)):
                raise RuleError("the value has no length")
            measured = len(actual)
        if isinstance(measured, bool) or not isinstance(measured, (int, float)) or measured != measured:
            raise RuleError(f"cannot widen a range to include {actual!r}")
        low, high = _widen(rule.params.get("min"), rule.params.get("max"), measured)
        if rule.kind in ("length", "count"):
            low = None if low is None else max(0, int(low))
            high = None if high is None else int(high)
        fixed.params = {**rule.params, **({"min": low} if low is not None else {}),
                        **({"max": high} if high is not None else {})}
        bounds = " to ".join(str(fixed.params.get(k, "…")) for k in ("min", "max"))
        return fixed, f"widened the {target} to {bounds}"
    if action == "replace_regex":
        if pattern is None:
            seen = [v for v in (rule.evidence.get("values") or []) if isinstance(v, str)]
            if isinstance(actual, str):
                seen.append(actual)
            shape = shape_regex(seen)
            if not shape:
                raise RuleError("no pattern given and none generalises the values seen; give one")
            pattern = shape[0]
        compile_regex(pattern, target)
        fixed.params = {**rule.params, "pattern": pattern}
        return fixed, f"replaced the regex of {rule.event}.{rule.property} with /{pattern}/"
    raise RuleError(action)  # pragma: no cover


def check(rule: RuleSpec) -> None:
    validate(rule, "repaired rule")
