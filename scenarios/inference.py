"""Rule inference from known-good test records (plus, when given, the mock record's API responses and the
tracking plan). The aim is rules that hold on every clean replay yet break on real regressions, with no
hand repair, so every rule here is only as tight as the evidence allows:

- counts: exact only for events that fired exactly once in every recording; otherwise a band around what
  was seen, wide enough for exposure lists that vary by one or two;
- enums only where values repeat (each value in two recordings, or seen twice when there is one);
  baselines only for values that never vary and do not look like identifiers or timestamps;
- identifiers, timestamps, UUIDs, URLs and prefixed numbers get a generalising regex, never their values;
- ranges keep the sign and leave generous room above;
- order rules only between events that different UI steps (or a clear time gap) separate;
- attribute and API mappings only where every sample agrees and each source value was seen twice.

Every rule's evidence says how many samples it rests on and which values were seen. Output is
deterministic: events in order of first appearance, then property paths, then kinds."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .engine import ApiResponse, canonical, json_type
from .paths import MISSING, format_key, parse, values
from .rulebook import STRONG, WEAK, RuleSpec

MAX_ENUM = 12
MAX_DEPTH = 4
EVIDENCE_VALUES = 10

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?")
_URL = re.compile(r"(https?)://([^/\s?#]+)([^\s]*)")
_PREFIXED = re.compile(r"([A-Za-z][A-Za-z_\-:.#/]*?[_\-:.#/]?)(\d+)")
_HEX = re.compile(r"[0-9a-f]+")


@dataclass
class PlanEvent:
    """What the tracking plan says about one event."""

    required: set[str] = field(default_factory=set)
    owner: str = ""


# ---------------------------------------------------------------------------------------------------------
# Value shapes


def _digits_range(lengths) -> str:
    low, high = min(lengths), max(lengths)
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def shape_regex(samples: list[str]) -> tuple[str, str] | None:
    """(pattern, shape name) that every sample fully matches and that generalises beyond them, or None."""
    if not samples:
        return None
    if all(_UUID.fullmatch(s) for s in samples):
        return r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "uuid"
    if all(_ISO.fullmatch(s) for s in samples):
        return r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?", "timestamp"
    if all(s.isdigit() and s.isascii() for s in samples):
        return r"\d" + _digits_range([len(s) for s in samples]), "number"
    urls = [_URL.fullmatch(s) for s in samples]
    if all(urls):
        schemes = sorted({m.group(1) for m in urls})
        hosts = sorted({m.group(2) for m in urls})
        scheme = "https?" if len(schemes) > 1 else re.escape(schemes[0])
        host = re.escape(hosts[0]) if len(hosts) == 1 else r"[^/\s?#]+"
        return f"{scheme}://{host}" + r"(/[^\s]*)?([?#][^\s]*)?", "url"
    prefixed = [_PREFIXED.fullmatch(s) for s in samples]
    if all(prefixed):
        prefixes = {m.group(1) for m in prefixed}
        if len(prefixes) == 1:
            return re.escape(prefixes.pop()) + r"\d" + _digits_range([len(m.group(2)) for m in prefixed]), "prefixed number"
    lengths = {len(s) for s in samples}
    if all(_HEX.fullmatch(s) for s in samples) and min(lengths) >= 8 and any(not s.isdigit() for s in samples):
        return "[0-9a-f]" + _digits_range(list(lengths)), "hex"
    if all(_HEX.fullmatch(s.lower()) for s in samples) and min(lengths) >= 16 and len(lengths) == 1:
        return "[0-9a-fA-F]" + _digits_range(list(lengths)), "hex"
    return None


def _looks_volatile(value) -> bool:
    """Identifiers and timestamps: never pinned to a value, even when only one was seen."""
    if value.__class__ is str:
        return bool(_UUID.fullmatch(value) or _ISO.fullmatch(value)
                    or (value.isdigit() and len(value) >= 8) or (len(value) >= 16 and _HEX.fullmatch(value.lower())))
    if value.__class__ in (int, float):
        return abs(value) >= 1e9  # epoch seconds/milliseconds, large ids
    return False


def _numeric_range(numbers: list[float]) -> dict:
    """Bounds that a few samples of a duration or a price will not outgrow on the next clean run, but that a
    sign flip, a unit slip (ms sent as s, yuan as fen) or a garbage value breaks: a factor of four either
    side of what was seen (plus twice the spread above), never crossing zero when no sample did."""
    low, high = min(numbers), max(numbers)
    width = high - low
    if low >= 0:
        bounds = {"min": 0 if low == 0 else _round_out(low / 4, down=True),
                  "max": _round_out(max(high + 2 * width, high * 4, 1), down=False)}
    else:
        bounds = {"min": _round_out(low - max(2 * width, abs(low) * 3), down=True),
                  "max": _round_out(high + max(2 * width, abs(high) * 3, 1), down=False)}
    return bounds


def _round_out(value: float, *, down: bool) -> float | int:
    if value == int(value):
        return int(value)
    return math.floor(value) if down else math.ceil(value)


# ---------------------------------------------------------------------------------------------------------
# Samples


@dataclass
class _Samples:
    """Every value a property path took: (record index, occurrence index in the event's list, value)."""

    values: list[tuple[int, int, Any]] = field(default_factory=list)

    def present(self):
        return [v for _, _, v in self.values if v is not MISSING]


def _collect_paths(properties: dict, prefix: str, depth: int, into: dict, record: int, occurrence: int):
    for key, value in properties.items():
        path = f"{prefix}.{format_key(key)}" if prefix else format_key(key)
        into.setdefault(path, _Samples()).values.append((record, occurrence, value))
        if value.__class__ is dict and depth < MAX_DEPTH:
            _collect_paths(value, path, depth + 1, into, record, occurrence)


def _evidence(samples: list, records: int, **extra) -> dict:
    distinct = []
    seen = set()
    for value in samples:
        key = canonical(value)
        if key not in seen:
            seen.add(key)
            if len(distinct) < EVIDENCE_VALUES:
                distinct.append(value)
    return {"samples": len(samples), "records": records, "distinct": len(seen), "values": distinct, **extra}


# ---------------------------------------------------------------------------------------------------------


class Inferrer:
    def __init__(self, records: list[list[dict]], api: list[ApiResponse] | None = None,
                 plan: dict[str, PlanEvent] | None = None):
        if not records:
            raise ValueError("inference needs at least one test record")
        self.records = records
        self.api = api or []
        self.plan = plan or {}
        self.rules: list[RuleSpec] = []

    @cached_property
    def api_index(self) -> _ApiIndex:
        return _ApiIndex(self.api)  # once per inference, not once per event

    def run(self) -> list[RuleSpec]:
        names: list[str] = []
        occurrences: dict[str, list[list[dict]]] = defaultdict(lambda: [[] for _ in self.records])
        for number, record in enumerate(self.records):
            for event in record:
                name = event["event"]
                if name not in occurrences:
                    names.append(name)
                occurrences[name][number].append(event)
        for name in names:
            self._event_rules(name, occurrences[name])
        self._order_rules(names, occurrences)
        for name in self.plan:
            if name not in occurrences:
                plan = self.plan[name]
                self.rules.append(RuleSpec("count", name, params={"min": 1}, evidence={
                    "samples": 0, "records": len(self.records), "source": "tracking plan", "owner": plan.owner}))
        return self.rules

    # -- event level ------------------------------------------------------------------------------------

    def _event_rules(self, name: str, per_record: list[list[dict]]):
        n_records = len(self.records)
        counts = [len(events) for events in per_record]
        plan = self.plan.get(name)
        owner = {"owner": plan.owner} if plan and plan.owner else {}
        if all(counts):
            low, high = min(counts), max(counts)
            if high == 1:
                params = {"min": 1, "max": 1}
            else:
                # Exposure-like events vary by one or two between clean runs, and the recordings may all sit
                # at one end of that: leave the spread seen plus a quarter of the count on both sides.
                slack = max(2, high - low) + max(1, math.ceil(high * 0.25))
                params = {"min": max(1, low - slack), "max": high + slack}
            self.rules.append(RuleSpec("count", name, params=params,
                                       evidence={"samples": sum(counts), "records": n_records, "counts": counts, **owner}))
        elif plan:
            self.rules.append(RuleSpec("count", name, params={"min": 1}, evidence={
                "samples": sum(counts), "records": n_records, "counts": counts, "source": "tracking plan", **owner}))
        events = [e for record in per_record for e in record]
        # Properties
        paths: dict[str, _Samples] = {}
        for record_number, record in enumerate(per_record):
            for occurrence, event in enumerate(record):
                props = event.get("properties") or {}
                _collect_paths(props, "", 1, paths, record_number, occurrence)
        total = len(events)
        for path in paths:
            samples = paths[path]
            # Pad with MISSING for occurrences that lacked the path.
            have = {(r, o) for r, o, _ in samples.values}
            for record_number, record in enumerate(per_record):
                for occurrence in range(len(record)):
                    if (record_number, occurrence) not in have:
                        samples.values.append((record_number, occurrence, MISSING))
        volatile: set[str] = set()
        for path, samples in paths.items():
            if self._property_rules(name, path, samples, total, plan, owner):
                volatile.add(path)
        if plan:
            for prop in sorted(plan.required - set(paths)):
                self.rules.append(RuleSpec("required", name, prop, evidence={
                    "samples": 0, "records": n_records, "source": "tracking plan", **owner}))
        self._mapping_rules(name, paths, volatile)
        self._api_rules(name, paths, volatile)
        self._duplicate_rule(name, per_record, volatile)
        self._trigger_rule(name, per_record)

    def _duplicate_rule(self, name, per_record, volatile):
        ignore = sorted(p for p in volatile if "." not in p)
        window = 1000
        for record in per_record:
            seen: dict[bytes, float] = {}
            for event in record:
                moment = event.get("time")
                if moment is None:
                    continue
                props = event.get("properties") or {}
                identity = canonical([event.get("distinct_id"), {k: v for k, v in props.items() if k not in ignore}])
                if identity in seen and 0 <= moment - seen[identity] <= window:
                    return  # the app does this when all is well: no rule
                seen[identity] = moment
        if any(e.get("time") is not None for record in per_record for e in record):
            self.rules.append(RuleSpec("duplicate", name, params={"window_ms": window, "ignore": ignore},
                                       evidence={"samples": sum(map(len, per_record)), "records": len(per_record)}))

    def _trigger_rule(self, name, per_record):
        step_sets = [{e.get("step") for e in record} for record in per_record if record]
        if not step_sets or any(None in steps for steps in step_sets):
            return
        union = sorted(set().union(*step_sets))
        strength = STRONG if all(steps == step_sets[0] for steps in step_sets) else WEAK
        self.rules.append(RuleSpec("trigger", name, params={"steps": union}, strength=strength,
                                   evidence={"samples": sum(map(len, per_record)), "records": len(per_record),
                                             "steps_per_record": [sorted(s) for s in step_sets]}))

    def _order_rules(self, names, occurrences):
        """Consecutive pairs of events present in every recording, in their order of first appearance, when
        every recording separates them by a UI step or by more than 300 ms."""
        everywhere = [n for n in names if all(occurrences[n])]
        first_index = [{} for _ in self.records]
        for number, record in enumerate(self.records):
            for position, event in enumerate(record):
                first_index[number].setdefault(event["event"], position)
        firsts = {n: [record[0] for record in occurrences[n]] for n in everywhere}
        ordered = sorted(everywhere, key=lambda n: (first_index[0][n], n))
        for before, after in zip(ordered, ordered[1:]):
            separated = True
            for a, b in zip(firsts[before], firsts[after]):
                step_a, step_b = a.get("step"), b.get("step")
                time_a, time_b = a.get("time"), b.get("time")
                by_step = step_a is not None and step_b is not None and step_a < step_b
                by_time = time_a is not None and time_b is not None and time_b - time_a > 300
                if not (by_step or by_time):
                    separated = False
                    break
            consistent = all(firsts_at[before] < firsts_at[after] for firsts_at in first_index)
            if consistent:
                self.rules.append(RuleSpec("order", before, params={"sequence": [before, after]},
                                           strength=STRONG if separated else WEAK,
                                           evidence={"records": len(self.records), "separated": separated}))

    # -- property level ---------------------------------------------------------------------------------

    def _property_rules(self, name, path, samples: _Samples, total, plan, owner) -> bool:
        """Add the rules for one property path; returns True when its values are volatile."""
        present = samples.present()
        records = len(self.records)
        evidence = _evidence(present, records, **owner)
        add = self.rules.append
        in_plan = plan is not None and path in plan.required
        if len(present) == total or in_plan:
            add(RuleSpec("required", name, path, evidence={**evidence, "missing": total - len(present)}))
        if not present:
            return False
        nulls = sum(1 for v in present if v is None)
        add(RuleSpec("nullable", name, path, params={"allowed": bool(nulls)}, evidence={**evidence, "nulls": nulls}))
        typed = [v for v in present if v is not None]
        if not typed:
            return False
        types = sorted({json_type(v) for v in typed})
        if "integer" in types or "number" in types:
            types = sorted(set(types) - {"integer"} | {"number"})
        add(RuleSpec("type", name, path, params={"types": types}, evidence=evidence))
        if len(types) != 1:
            return False
        kind = types[0]
        distinct = Counter(canonical(v) for v in typed)
        by_record: dict[bytes, set[int]] = defaultdict(set)
        for record, _, value in samples.values:
            if value is not MISSING and value is not None:
                by_record[canonical(value)].add(record)
        volatile_shape = any(_looks_volatile(v) for v in typed)
        per_record_constant = records > 1 and len(distinct) > 1 and all(
            len({canonical(v) for r, _, v in samples.values if r == record and v is not MISSING and v is not None}) <= 1
            for record in range(records))
        volatile = volatile_shape or per_record_constant or (len(distinct) > 0.8 * len(typed) and len(typed) >= 5)
        if kind in ("string", "number", "boolean"):
            repeats = (all(len(recs) >= 2 for recs in by_record.values()) if records > 1
                       else all(count >= 2 for count in distinct.values()))
            # An event sent several times per run (exposures) whose value is new on each one within a run is
            # a position or an item, not a category: its set of values follows how far the user scrolled.
            per_run = [sum(1 for r, _, v in samples.values if r == record and v is not MISSING and v is not None)
                       for record in range(records)]
            per_run_distinct = [len({canonical(v) for r, _, v in samples.values
                                     if r == record and v is not MISSING and v is not None}) for record in range(records)]
            categorical = (all(n <= 1 for n in per_run) or sum(per_run) >= 2 * sum(per_run_distinct)
                           or (len(set(per_run)) == 1 and len(distinct) <= 4))  # e.g. home and product page views
            # Values of a property that only some events carry rest on fewer samples: reported, not judged.
            strength = STRONG if len(present) == total else WEAK
            if len(distinct) == 1 and not volatile and (records > 1 or len(typed) > 1):
                add(RuleSpec("baseline", name, path, params={"value": typed[0]}, strength=strength, evidence=evidence))
                return False
            if 1 < len(distinct) <= MAX_ENUM and repeats and categorical and not volatile:
                allowed = sorted({v for v in typed}, key=lambda v: (str(type(v)), v))
                add(RuleSpec("enum", name, path, params={"values": allowed}, strength=strength, evidence=evidence))
                return False
        if kind == "number":
            numbers = [v for v in typed if v.__class__ in (int, float)]
            add(RuleSpec("range", name, path, params=_numeric_range(numbers),
                         evidence={**evidence, "min": min(numbers), "max": max(numbers)}))
        elif kind == "string":
            shape = shape_regex(typed)
            if shape:
                pattern, shape_name = shape
                add(RuleSpec("regex", name, path, params={"pattern": pattern}, evidence={**evidence, "shape": shape_name}))
            else:
                lengths = [len(v) for v in typed]
                add(RuleSpec("length", name, path, params={"min": 1 if min(lengths) > 0 else 0,
                                                            "max": max(lengths) * 2 + 10},
                             strength=WEAK, evidence={**evidence, "lengths": [min(lengths), max(lengths)]}))
        elif kind == "array":
            self._array_rule(name, path, samples, typed, evidence)
        return volatile

    def _array_rule(self, name, path, samples, arrays, evidence):
        elements = [e for array in arrays for e in array]
        params: dict[str, Any] = {}
        schema = _element_schema(elements, len(self.records))
        if schema:
            params["element"] = schema
        # The recording fixes the elements when every occurrence held the same ones (order aside).
        if len({tuple(sorted(map(canonical, a))) for a in arrays}) == 1 and len(arrays) >= 2:
            params["expected"] = arrays[0]
        if params:
            self.rules.append(RuleSpec("nested_array", name, path, params=params,
                                       evidence={**evidence, "elements": len(elements)}))

    def _mapping_rules(self, name, paths: dict[str, _Samples], volatile: set[str]):
        """tab_id -> tab_name: the target's value is a function of the source's, every source value was seen
        at least twice, the source takes several values and the target is not constant."""
        candidates = {}
        for path, samples in paths.items():
            if path in volatile or "." in path:
                continue
            values_ = [v for _, _, v in samples.values]
            if any(v is MISSING or v.__class__ not in (str, int, float, bool) for v in values_):
                continue
            if 2 <= len(set(values_)) <= 50:
                candidates[path] = values_
        for target in candidates:
            for source in candidates:
                if source == target:
                    continue
                pairs: dict = {}
                ok = True
                for s, t in zip(candidates[source], candidates[target]):
                    key = (s.__class__, s)
                    if pairs.setdefault(key, t) != t:
                        ok = False
                        break
                if not ok:
                    continue
                seen = Counter((s.__class__, s) for s in candidates[source])
                if min(seen.values()) < 2:
                    continue
                inverse = len(set(pairs.values())) == len(pairs)
                if inverse and not _preferred_source(source, target):
                    continue  # one-to-one: keep one direction only
                self.rules.append(RuleSpec(
                    "attribute_mapping", name, target,
                    params={"source": source, "pairs": [[k[1], v] for k, v in sorted(pairs.items(), key=lambda i: str(i[0][1]))]},
                    evidence={"samples": len(candidates[source]), "records": len(self.records)}))

    def _api_rules(self, name, paths: dict[str, _Samples], volatile):
        if not self.api:
            return
        index = self.api_index
        plain, keys = {}, {}
        for path, samples in paths.items():
            values_ = [v for _, _, v in samples.values]
            if any(v is MISSING or v.__class__ not in (str, int, float) for v in values_):
                continue
            # Any scalar can be the key that picks the list element (tab_id 2 -> the tab named 'Fresh'), even
            # one too small to be looked up on its own: the pairing with the target is the evidence.
            keys[path] = values_
            if all(_informative(v) for v in values_):
                plain[path] = values_
        for path, values_ in plain.items():
            fields = index.fields_holding_all(values_)
            if not fields:
                continue
            # Correlated with another property through the same list element?
            correlated = None
            for key_path, key_values in keys.items():
                if key_path == path:
                    continue
                for api_key, field_path in fields:
                    key_fields = index.sibling_fields(api_key, field_path, key_values, values_)
                    if key_fields:
                        correlated = (api_key, field_path, key_path, key_fields[0])
                        break
                if correlated:
                    break
            if correlated:
                api_key, field_path, key_path, key_field = correlated
                params = {"api": dict(zip(("method", "host", "path"), api_key)), "field": field_path,
                          "key_property": key_path, "key_field": key_field}
            else:
                if len(set(map(canonical, values_))) == 1:
                    continue  # a constant found somewhere in the API: too weak to call a mapping
                api_key, field_path = fields[0]
                params = {"api": dict(zip(("method", "host", "path"), api_key)), "field": field_path}
            self.rules.append(RuleSpec("api_mapping", name, path, params=params,
                                       evidence={"samples": len(values_), "records": len(self.records)}))


def _preferred_source(source: str, target: str) -> bool:
    def id_like(p):
        return p.lower().endswith("id") or p.lower().endswith("_id")
    if id_like(source) != id_like(target):
        return id_like(source)
    return source < target


def _informative(value) -> bool:
    if value.__class__ is str:
        return len(value) >= 2
    if value.__class__ in (int, float):
        return abs(value) >= 100 or (value.__class__ is float and not value.is_integer())
    return False


class _ApiIndex:
    """Where each scalar value occurs in the API responses: (method, host, path) x generalised field path."""

    def __init__(self, responses: list[ApiResponse]):
        self.where: dict[tuple, set[tuple]] = defaultdict(set)
        self.bodies: dict[tuple, list] = defaultdict(list)
        for response in responses:
            key = (response.method.upper(), response.host, response.path)
            self.bodies[key].append(response.body)
            for field_path, value in _scalar_fields(response.body, ""):
                if _informative(value):
                    self.where[(value.__class__ is str, value)].add((key, field_path))

    def fields_holding_all(self, values_: list) -> list[tuple]:
        common = None
        for value in values_:
            found = self.where.get((value.__class__ is str, value), set())
            common = found if common is None else common & found
            if not common:
                return []
        return sorted(common, key=lambda item: (item[1].count("[]"), len(item[1]), item))

    def sibling_fields(self, api_key, field_path, key_values, target_values) -> list[str]:
        """Fields in the same list element as field_path whose value pairs with target_values sample by sample."""
        if "[]" not in field_path:
            return []
        prefix = field_path[: field_path.rindex("[]") + 2]
        candidates: dict[str, dict] = {}
        for body in self.bodies[api_key]:
            for element in (v for _, v in values(body, parse(prefix)) if v is not MISSING):
                if element.__class__ is not dict:
                    continue
                target = dict(_scalar_fields(element, ""))
                name = field_path[len(prefix) + 1:]
                if name not in target:
                    continue
                for sibling, value in _scalar_fields(element, ""):
                    if sibling != name and value.__class__ in (str, int, float):
                        candidates.setdefault(sibling, {}).setdefault((value.__class__ is str, value), target[name])
        found = []
        for sibling, table in sorted(candidates.items()):
            if all(table.get((k.__class__ is str, k), MISSING) == t for k, t in zip(key_values, target_values)):
                found.append(f"{prefix}.{sibling}")
        return found


def _scalar_fields(node, prefix: str):
    if node.__class__ is dict:
        for key, value in node.items():
            yield from _scalar_fields(value, f"{prefix}.{format_key(key)}" if prefix else format_key(key))
    elif node.__class__ is list:
        for element in node:
            yield from _scalar_fields(element, f"{prefix}[]")
    elif node.__class__ in (str, int, float) and prefix:
        yield prefix, node


def _element_schema(elements: list, records: int) -> dict:
    objects = [e for e in elements if e.__class__ is dict]
    if not objects or len(objects) != len(elements):
        return {}
    keys = list(dict.fromkeys(k for o in objects for k in o))
    schema: dict[str, Any] = {"required": [k for k in keys if all(k in o for o in objects)]}
    types, enums, arrays = {}, {}, {}
    for key in keys:
        found = [o[key] for o in objects if key in o and o[key] is not None]
        if not found:
            continue
        kinds = sorted({json_type(v) for v in found})
        if "integer" in kinds or "number" in kinds:
            kinds = sorted(set(kinds) - {"integer"} | {"number"})
        types[key] = kinds
        distinct = Counter(canonical(v) for v in found)
        if (kinds in (["string"], ["boolean"]) and 1 < len(distinct) <= MAX_ENUM
                and all(c >= 2 for c in distinct.values()) and not any(_looks_volatile(v) for v in found)):
            enums[key] = sorted(set(found), key=str)
        if kinds == ["array"]:
            sub = _element_schema([e for v in found for e in v], records)
            if sub:
                arrays[key] = sub
    if types:
        schema["types"] = types
    if enums:
        schema["enums"] = enums
    if arrays:
        schema["arrays"] = arrays
    return schema


def infer(records: list[list[dict]], *, api: list[ApiResponse] | None = None,
          plan: dict[str, PlanEvent] | None = None) -> list[RuleSpec]:
    return Inferrer(records, api, plan).run()

