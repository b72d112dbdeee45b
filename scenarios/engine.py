"""Verification of a test record (a list of canonical events, as dicts) against a scenario's rules.

Property rules are compiled, per event name, into one generated Python function that reads each property
once and runs every check on it inline: no per-rule call and no per-rule lookup on the hot path, which is
what lets verification run at 100k+ events/s per core. Generated code never contains user text: every
key, path, pattern and value reaches it as a named constant in the function's namespace.

Anomalies are collected as compact tuples while checking and turned into messages only at the end."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from .paths import EACH, MISSING, parse, values
from .rulebook import ANY_EVENT, EVENT_KINDS, STRONG, RuleSpec, compile_regex, rules_for_event

NUMBER_CLASSES = frozenset({int, float})
TYPE_CLASSES = {"string": {str}, "integer": {int}, "number": {int, float}, "boolean": {bool},
                "object": {dict}, "array": {list}, "null": {type(None)}}
_HASHABLE = frozenset({str, int, float, bool, type(None)})
_NO_EXPECTED = object()


def json_type(value) -> str:
    if value is MISSING:
        return "missing"
    return {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array",
            type(None): "null"}.get(value.__class__, type(value).__name__)


def canonical(value) -> bytes:
    """One text per JSON value, whatever the key order: for comparing elements order-insensitively."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


@dataclass(slots=True)
class Anomaly:
    event: str
    index: int | None  # 0-based position of the event in the record; None for the record as a whole
    rule: RuleSpec
    property: str
    expected: Any
    actual: Any
    message: str

    @property
    def strength(self) -> str:
        return self.rule.strength

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "index": self.index, "rule": self.rule.kind, "property": self.property,
                "strength": self.rule.strength, "expected": self.expected,
                "actual": None if self.actual is MISSING else self.actual, "message": self.message}


@dataclass
class Verification:
    anomalies: list[Anomaly]
    event_names: list[str]  # distinct names judged: in the record, or required by the scenario
    failed_names: list[str]  # those with a strong anomaly
    skipped: list[tuple[RuleSpec, str]] = field(default_factory=list)  # rules that could not be evaluated

    @property
    def events_total(self) -> int:
        return len(self.event_names)

    @property
    def events_passed(self) -> int:
        return len(self.event_names) - len(self.failed_names)

    @property
    def pass_rate(self) -> float:
        return 1.0 if not self.event_names else self.events_passed / self.events_total

    @property
    def strong(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.rule.strength == STRONG]

    def to_dict(self) -> dict[str, Any]:
        return {"pass_rate": self.pass_rate, "events_total": self.events_total,
                "events_passed": self.events_passed, "anomalies": [a.to_dict() for a in self.anomalies]}


# ---------------------------------------------------------------------------------------------------------
# API index: the mock record's responses, for api_mapping rules.


@dataclass
class ApiResponse:
    method: str
    host: str
    path: str
    body: Any  # parsed JSON


def _api_matches(api: dict, response: ApiResponse) -> bool:
    return (response.path == api["path"]
            and (not api.get("method") or api["method"].upper() == response.method.upper())
            and (not api.get("host") or api["host"].lower() == response.host.lower()))


def _field_values(body, field_path: str) -> list:
    return [value for _, value in values(body, parse(field_path)) if value is not MISSING]


def _correlated(body, key_field: str, field_path: str) -> dict:
    """key -> value for list elements that hold both: the longest common `[]` prefix of the two paths is the
    element, e.g. data.items[].id and data.items[].name pair each item's id with its own name."""
    key_segments, value_segments = parse(key_field), parse(field_path)
    common = 0
    for index, (a, b) in enumerate(zip(key_segments, value_segments)):
        if a != b:
            break
        if a is EACH:
            common = index + 1
    pairs = {}
    prefix = key_segments[:common]
    elements = [body] if not prefix else [v for _, v in values(body, prefix) if v is not MISSING]
    for element in elements:
        keys = [v for _, v in values(element, key_segments[common:]) if v is not MISSING] if key_segments[common:] \
            else [element]
        found = [v for _, v in values(element, value_segments[common:]) if v is not MISSING] \
            if value_segments[common:] else [element]
        for key, value in zip(keys, found):
            if key.__class__ in _HASHABLE:
                pairs.setdefault(key, value)
    return pairs


# ---------------------------------------------------------------------------------------------------------
# Code generation for one event name's property rules.


class _Namespace:
    def __init__(self):
        self.values: dict[str, Any] = {"M": MISSING, "NUM": NUMBER_CLASSES, "NOEXP": _NO_EXPECTED,
                                       "HASHABLE": _HASHABLE, "VALUES": values}
        self.counter = itertools.count()

    def add(self, value, prefix="C") -> str:
        name = f"{prefix}{next(self.counter)}"
        self.values[name] = value
        return name


def _regex_matcher(compiled):
    cache: dict[str, bool] = {}
    fullmatch = compiled.fullmatch

    def matches(text: str) -> bool:
        known = cache.get(text)
        if known is None:
            known = fullmatch(text) is not None
            if len(cache) < 20_000:
                cache[text] = known
        return known
    return matches


def _element_checker(schema: dict, expected: list | None):
    """Checks for a nested JSON array: each element's required keys, types and enums (recursively through
    `arrays`), and, where the recording fixed them, the elements themselves compared order-insensitively.
    Returns (sub-path, expected, actual, message) tuples."""
    required = list(schema.get("required") or ())
    types = {key: frozenset(itertools.chain.from_iterable(TYPE_CLASSES[t] for t in ts))
             for key, ts in (schema.get("types") or {}).items()}
    enums = {key: list(vals) for key, vals in (schema.get("enums") or {}).items()}
    arrays = {key: _element_checker(sub, None) for key, sub in (schema.get("arrays") or {}).items()}
    expected_counts = Counter(canonical(e) for e in expected) if expected is not None else None

    def check(value, path: str) -> list:
        problems = []
        if value.__class__ is not list:
            return [(path, "array", json_type(value), f"{path} is {json_type(value)}, not an array")]
        for index, element in enumerate(value):
            where = f"{path}[{index}]"
            if element.__class__ is not dict:
                if required or types or enums or arrays:
                    problems.append((where, "object", json_type(element),
                                     f"{where} is {json_type(element)}, not an object"))
                continue
            for key in required:
                if key not in element:
                    problems.append((f"{where}.{key}", "present", None, f"{where} has no {key!r}"))
            for key, classes in types.items():
                item = element.get(key, MISSING)
                if item is not MISSING and item is not None and item.__class__ not in classes:
                    problems.append((f"{where}.{key}", sorted(t for t in schema["types"][key]), json_type(item),
                                     f"{where}.{key} is {json_type(item)}, expected {' or '.join(schema['types'][key])}"))
            for key, allowed in enums.items():
                item = element.get(key, MISSING)
                if item is not MISSING and item is not None and not any(
                        item == a and item.__class__ is a.__class__ for a in allowed):
                    problems.append((f"{where}.{key}", allowed, item, f"{where}.{key} = {item!r} is not one of {allowed!r}"))
            for key, sub in arrays.items():
                item = element.get(key, MISSING)
                if item is not MISSING and item is not None:
                    problems.extend(sub(item, f"{where}.{key}"))
        if expected_counts is not None:
            actual_counts = Counter(canonical(e) for e in value)
            if actual_counts != expected_counts:
                missing = list((expected_counts - actual_counts).elements())
                extra = list((actual_counts - expected_counts).elements())
                parts = []
                if missing:
                    parts.append(f"missing {len(missing)} expected element(s): " + ", ".join(m.decode() for m in missing[:3]))
                if extra:
                    parts.append(f"{len(extra)} unexpected element(s): " + ", ".join(x.decode() for x in extra[:3]))
                problems.append((path, expected, value, f"{path} elements differ (order ignored): " + "; ".join(parts)))
        return problems
    return check


class _EventProgram:
    """The compiled checks for one event name."""

    def __init__(self, event: str, rules: list[RuleSpec], api: list[ApiResponse] | None):
        self.event = event
        self.rules = rules  # indexes in anomaly tuples refer to this list
        self.skipped: list[tuple[RuleSpec, str]] = []
        self.per_event = [(i, r) for i, r in enumerate(rules) if r.kind in ("duplicate", "trigger")]
        self.check = self._compile(api)

    def _compile(self, api):
        ns = _Namespace()
        lines = ["def check(props, index, out):"]
        by_path: dict[str, list[int]] = {}
        for number, rule in enumerate(self.rules):
            if rule.property:
                by_path.setdefault(rule.property, []).append(number)
        if not by_path:
            return None
        for path, numbers in by_path.items():
            segments = parse(path)
            body: list[str] = []
            self._checks(ns, numbers, body, api)
            if not body:
                continue
            if EACH in segments:
                seg = ns.add(segments, "S")
                lines.append(f"    for path, v in VALUES(props, {seg}):")
                indent = "        "
            else:
                const = ns.add(path, "P")
                first = ns.add(segments[0], "K")
                lines.append(f"    v = props.get({first}, M)")
                for key in segments[1:]:
                    name = ns.add(key, "K")
                    lines.append(f"    if v is not M: v = v.get({name}, M) if v.__class__ is dict else M")
                lines.append(f"    path = {const}")
                indent = "    "
            lines.extend(indent + line for line in body)
        if len(lines) == 1:
            return None
        source = "\n".join(lines) + "\n"
        namespace = dict(ns.values)
        exec(compile(source, f"<rules for {self.event!r}>", "exec"), namespace)  # noqa: S102 (no user text)
        check = namespace["check"]
        check.source = source
        return check

    def _checks(self, ns: _Namespace, numbers: list[int], body: list[str], api) -> None:
        """Lines checking the value `v` at `path` (both bound by the caller's code) for the given rules."""
        present: list[str] = []
        for number in numbers:
            rule = self.rules[number]
            kind, params = rule.kind, rule.params
            add = present.append
            if kind == "required":
                body.append(f"if v is M: out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "nullable":
                if not params["allowed"]:
                    add(f"if v is None: out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "type":
                classes = ns.add(frozenset(itertools.chain.from_iterable(TYPE_CLASSES[t] for t in params["types"])))
                add(f"if v is not None and v.__class__ not in {classes}: out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "enum":
                allowed = params["values"]
                classes = ns.add(frozenset(a.__class__ for a in allowed) | ({int} if any(
                    a.__class__ is float and a.is_integer() for a in allowed) else set()))
                if all(a.__class__ in _HASHABLE for a in allowed):
                    members = ns.add(frozenset(allowed))
                else:
                    members = ns.add(list(allowed))
                add(f"if v is not None and (v.__class__ not in {classes} or v not in {members}): "
                    f"out.append((index, {number}, path, v, NOEXP, None))")
            elif kind in ("range", "length"):
                low, high = params.get("min"), params.get("max")
                measure = "v" if kind == "range" else "len(v)"
                guard = "v.__class__ in NUM" if kind == "range" else "(v.__class__ is str or v.__class__ is list)"
                tests = []
                if low is not None:
                    tests.append(f"{measure} < {ns.add(low)}")
                if high is not None:
                    tests.append(f"{measure} > {ns.add(high)}")
                if kind == "range":
                    tests.append("v != v")  # NaN is outside every range
                add(f"if {guard} and ({' or '.join(tests)}): out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "regex":
                matcher = ns.add(_regex_matcher(compile_regex(params["pattern"], rule.label())))
                add(f"if v.__class__ is str and not {matcher}(v): out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "baseline":
                expected = params["value"]
                const = ns.add(expected)
                if expected.__class__ in _HASHABLE:
                    add(f"if v.__class__ is not {ns.add(expected.__class__)} or v != {const}: "
                        f"out.append((index, {number}, path, v, NOEXP, None))")
                else:
                    canon = ns.add(canonical(expected))
                    fn = ns.add(canonical)
                    add(f"if v.__class__ is not {ns.add(expected.__class__)} or {fn}(v) != {canon}: "
                        f"out.append((index, {number}, path, v, NOEXP, None))")
            elif kind == "nested_array":
                checker = ns.add(_element_checker(params.get("element") or {}, params.get("expected")))
                add(f"if v is not None:\n    for sub, exp, act, msg in {checker}(v, path): "
                    f"out.append((index, {number}, sub, act, exp, msg))")
            elif kind == "attribute_mapping":
                source = params["source"]
                source_segments = parse(source)
                pairs = {}
                for key, value in params["pairs"]:
                    if key.__class__ in _HASHABLE:
                        pairs[(key.__class__, key)] = value
                table = ns.add(pairs)
                if EACH in source_segments:
                    self.skipped.append((rule, "the source of an attribute mapping must not go through an array"))
                    continue
                fetch = ns.add(source_segments, "S")
                add(f"s = VALUES(props, {fetch})[0][1]\n"
                    f"e = {table}.get((s.__class__, s), M) if s.__class__ in HASHABLE else M\n"
                    f"if e is not M and (v != e or v.__class__ is not e.__class__): "
                    f"out.append((index, {number}, path, v, e, s))")
            elif kind == "api_mapping":
                if api is None:
                    self.skipped.append((rule, "no mock record given: API mappings need the API responses"))
                    continue
                responses = [r for r in api if _api_matches(params["api"], r)]
                if not responses:
                    self.skipped.append((rule, f"the mock record has no response for {params['api']}"))
                    continue
                if params.get("key_property"):
                    table: dict = {}
                    for response in responses:
                        for key, value in _correlated(response.body, params["key_field"], params["field"]).items():
                            table.setdefault(key, value)
                    table_name = ns.add(table)
                    fetch = ns.add(parse(params["key_property"]), "S")
                    add(f"s = VALUES(props, {fetch})\n"
                        f"s = s[0][1] if s else M\n"
                        f"e = {table_name}.get(s, M) if s.__class__ in HASHABLE else M\n"
                        f"if e is M or v != e: out.append((index, {number}, path, v, e, s))")
                else:
                    allowed = [v for r in responses for v in _field_values(r.body, params["field"])]
                    hashable = [a for a in allowed if a.__class__ in _HASHABLE]
                    name = ns.add(frozenset(hashable))
                    add(f"if v.__class__ not in HASHABLE or v not in {name}: out.append((index, {number}, path, v, NOEXP, None))")
        if present:
            body.append("if v is not M:")
            for statement in present:
                body.extend("    " + line for line in statement.split("\n"))


# ---------------------------------------------------------------------------------------------------------
# Messages (built only for the anomalies found).


def _describe(rule: RuleSpec, path: str, actual, expected, extra) -> tuple[Any, str]:
    kind, params = rule.kind, rule.params
    shown = "missing" if actual is MISSING else repr(actual)
    if kind == "required":
        return "present", f"{path} is missing"
    if kind == "nullable":
        return "not null", f"{path} is null"
    if kind == "type":
        return params["types"], f"{path} is {json_type(actual)} ({shown}), expected {' or '.join(params['types'])}"
    if kind == "enum":
        return params["values"], f"{path} = {shown} is not one of {params['values']!r}"
    if kind in ("range", "length"):
        bounds = {k: params[k] for k in ("min", "max") if params.get(k) is not None}
        text = " and ".join(f"{'>=' if k == 'min' else '<='} {v}" for k, v in bounds.items())
        measured = f" (length {len(actual)})" if kind == "length" else ""
        return bounds, f"{path} = {shown}{measured} is not {text}"
    if kind == "regex":
        return params["pattern"], f"{path} = {shown} does not match /{params['pattern']}/"
    if kind == "baseline":
        return params["value"], f"{path} = {shown}, the recording had {params['value']!r}"
    if kind == "nested_array":
        return expected, extra
    if kind == "attribute_mapping":
        return expected, f"{path} = {shown}, but {params['source']} = {extra!r} maps to {expected!r}"
    if kind == "api_mapping":
        if expected is MISSING:
            return None, f"{params['key_property']} = {extra!r} is not in the API response's {params['key_field']}"
        if params.get("key_property"):
            return expected, (f"{path} = {shown}, but the API's {params['field']} for "
                              f"{params['key_property']} = {extra!r} is {expected!r}")
        return None, f"{path} = {shown} is not among the API response's {params['field']} values"
    return None, f"{path}: {kind} rule broken"


# ---------------------------------------------------------------------------------------------------------


class Verifier:
    """Compile once, verify many records. `api` is the mock record's parsed responses (for api_mapping)."""

    def __init__(self, rules: list[RuleSpec], api: list[ApiResponse] | None = None):
        self.rules = [rule for rule in rules if rule.enabled]
        self.api = api
        self._programs: dict[str, _EventProgram] = {}
        self.event_rules = [r for r in self.rules if r.kind in EVENT_KINDS]

    def program(self, event: str) -> _EventProgram:
        program = self._programs.get(event)
        if program is None:
            own = [r for r in rules_for_event(self.rules, event) if r.kind not in ("count", "order", "absent")]
            program = self._programs[event] = _EventProgram(event, own, self.api)
        return program

    def verify(self, events: list[dict], steps: list[dict] | None = None) -> Verification:
        raw: list[tuple] = []
        programs: dict[str, _EventProgram] = {}
        first_seen: dict[str, int] = {}
        positions: dict[str, list[int]] = {}  # the event's indexes, in order (counts, per-event rules)
        names: list[str] = []
        for index, event in enumerate(events):
            name = event.get("event")
            program = programs.get(name)
            if program is None:
                program = programs[name] = self.program(name)
                first_seen[name] = index
                positions[name] = []
                names.append(name)
            positions[name].append(index)
            check = program.check
            if check is not None:
                props = event.get("properties")
                check(props if props.__class__ is dict else {}, index, raw)
        anomalies: list[Anomaly] = []
        for index, number, path, actual, expected, extra in raw:
            name = events[index]["event"]
            rule = programs[name].rules[number]
            described_expected, message = _describe(rule, path, actual, expected, extra)
            anomalies.append(Anomaly(name, index, rule, path, described_expected, actual, message))
        step_times = {s.get("step"): s.get("at") for s in steps or () if isinstance(s, dict)}
        for name, program in programs.items():
            if program.per_event:
                anomalies.extend(self._per_event(name, program, events, positions[name], step_times))
        counts = {name: len(indexes) for name, indexes in positions.items()}
        required_names = self._record_level(counts, first_seen, anomalies)
        judged = names + [n for n in required_names if n not in first_seen]
        failed_set = {a.event for a in anomalies if a.rule.strength == STRONG}
        failed = [n for n in judged if n in failed_set]
        anomalies.sort(key=lambda a: (a.index if a.index is not None else -1, a.event, a.property))
        skipped = [s for program in programs.values() for s in program.skipped]
        return Verification(anomalies, judged, failed, skipped)

    def _per_event(self, name, program, events, indexes, step_times) -> list[Anomaly]:
        found = []
        for _, rule in program.per_event:
            if rule.kind == "duplicate":
                window = rule.params.get("window_ms", 1000)
                ignore = set(rule.params.get("ignore") or ())
                last_seen: dict[bytes, tuple[int, float]] = {}
                for index in indexes:
                    event = events[index]
                    moment = event.get("time") if event.get("time") is not None else event.get("received_at")
                    if moment.__class__ not in NUMBER_CLASSES:
                        continue
                    props = event.get("properties") if isinstance(event.get("properties"), dict) else {}
                    identity = canonical([event.get("distinct_id"),
                                          {k: v for k, v in props.items() if k not in ignore}])
                    previous = last_seen.get(identity)
                    if previous is not None and 0 <= moment - previous[1] <= window:
                        gap = moment - previous[1]
                        found.append(Anomaly(name, index, rule, "", f"no identical {name} within {window} ms", gap,
                                             f"{name} #{index} repeats #{previous[0]} after {gap:.0f} ms "
                                             f"(window {window} ms)"))
                    last_seen[identity] = (index, moment)
            elif rule.kind == "trigger":
                allowed = rule.params["steps"]
                window = rule.params.get("window_ms")
                for index in indexes:
                    event = events[index]
                    step = event.get("step")
                    if step not in allowed:
                        found.append(Anomaly(name, index, rule, "", allowed, step,
                                             f"{name} #{index} fired at step {step}, expected after step "
                                             f"{' or '.join(map(str, allowed))}"))
                    elif window is not None and step_times.get(step) is not None and event.get("time") is not None:
                        delay = event["time"] - step_times[step]
                        if not 0 <= delay <= window:
                            found.append(Anomaly(name, index, rule, "", f"within {window} ms of step {step}", delay,
                                                 f"{name} #{index} fired {delay} ms after step {step} "
                                                 f"(window {window} ms)"))
        return found

    def _record_level(self, counts, first_seen, anomalies) -> list[str]:
        """count, absent and order rules; returns the event names the scenario requires."""
        required = []
        for rule in self.event_rules:
            if rule.event == ANY_EVENT:
                continue
            name, params = rule.event, rule.params
            seen = counts.get(name, 0)
            if rule.kind == "count":
                low, high = params.get("min"), params.get("max")
                if low:
                    required.append(name)
                if (low is not None and seen < low) or (high is not None and seen > high):
                    expected = {k: params[k] for k in ("min", "max") if params.get(k) is not None}
                    if seen == 0:
                        message = f"{name} never fired (expected at least {low})"
                    elif low == high:
                        message = f"{name} fired {seen} times, expected exactly {low}"
                    else:
                        message = f"{name} fired {seen} times, expected {'at least ' + str(low) if low is not None and seen < low else 'at most ' + str(high)}"
                    anomalies.append(Anomaly(name, None, rule, "", expected, seen, message))
            elif rule.kind == "absent":
                if seen:
                    anomalies.append(Anomaly(name, first_seen[name], rule, "", 0, seen,
                                             f"{name} must not fire, fired {seen} times"))
            elif rule.kind == "order":
                sequence = params["sequence"]
                positions = [(n, first_seen[n]) for n in sequence if n in first_seen]
                for (before, at_before), (after, at_after) in zip(positions, positions[1:]):
                    if at_after < at_before:
                        anomalies.append(Anomaly(
                            after, at_after, rule, "", sequence, [n for n, _ in sorted(positions, key=lambda p: p[1])],
                            f"{after} first fired at #{at_after}, before {before} (first at #{at_before}); "
                            f"expected order {' -> '.join(sequence)}"))
        return list(dict.fromkeys(required))


def verify(events: list[dict], rules: list[RuleSpec], *, api: list[ApiResponse] | None = None,
           steps: list[dict] | None = None) -> Verification:
    return Verifier(rules, api).verify(events, steps)
