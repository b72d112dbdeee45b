"""The recorded-vs-replayed diff: nested JSON compared value by value, arrays order-insensitively.

Array elements are paired deterministically, in three passes:
1. exact matches (equal values, whatever their key order), earliest indexes first;
2. objects by an identifying key: a scalar key whose values are unique on both sides and shared by the
   most leftover elements (`id`, `sku`, `product_id`... found from the data; see _identifying_key for ties);
   elements whose key values differ are then different elements, not changed ones;
3. without such a key, by similarity (shared keys and equal values), most similar pair first, ties by index.
What is left unpaired was removed (recorded only) or added (replayed only). Paths are property paths with
the replayed index for paired and added elements and the recorded one for removed elements:
`items[2].qty`. Pure Python, no Django: reports and the CLI both use it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from scenarios.engine import canonical
from scenarios.paths import join

_SCALARS = (str, int, float, bool, type(None))


def _unordered(value):
    """The same text for values equal up to key order and array order (how arrays are compared here)."""
    if value.__class__ is list:
        return sorted((_unordered(v) for v in value), key=canonical)
    if value.__class__ is dict:
        return {k: _unordered(v) for k, v in value.items()}
    return value


def _key(value) -> bytes:
    if value.__class__ is list or value.__class__ is dict:
        return canonical(_unordered(value))
    return canonical([value.__class__ is bool, value])  # True and 1 are not the same element


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: str  # "changed", "type_changed", "added", "removed"
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "old": self.old, "new": self.new}


def _kind_of(value) -> type:
    return float if value.__class__ is int else value.__class__  # 1 and 1.0 are the same JSON number kind


def diff(recorded, replayed, path: str = "") -> list[Change]:
    changes: list[Change] = []
    _diff(recorded, replayed, path, changes)
    return changes


def _diff(old, new, path, changes):
    if old.__class__ is dict and new.__class__ is dict:
        for key, value in old.items():
            child = join(path, key)
            if key in new:
                _diff(value, new[key], child, changes)
            else:
                changes.append(Change(child, "removed", value, None))
        for key, value in new.items():
            if key not in old:
                changes.append(Change(join(path, key), "added", None, value))
        return
    if old.__class__ is list and new.__class__ is list:
        _diff_lists(old, new, path, changes)
        return
    if old == new and _kind_of(old) is _kind_of(new):  # True == 1, but bool and number differ in kind
        return
    kind = "changed" if _kind_of(old) is _kind_of(new) else "type_changed"
    changes.append(Change(path or "$", kind, old, new))


def pair_elements(old: list, new: list) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """(paired (old index, new index) sorted by new index, unpaired old indexes, unpaired new indexes)."""
    pairs: list[tuple[int, int]] = []
    # 1. exact matches
    waiting: dict[bytes, list[int]] = defaultdict(list)
    old_keys = [_key(value) for value in old]
    for index, key in enumerate(old_keys):
        waiting[key].append(index)
    for key in waiting:
        waiting[key].reverse()  # pop() from the end gives the earliest index
    left_new = []
    for index, value in enumerate(new):
        bucket = waiting.get(_key(value))
        if bucket:
            pairs.append((bucket.pop(), index))
        else:
            left_new.append(index)
    matched_old = {o for o, _ in pairs}
    left_old = [i for i in range(len(old)) if i not in matched_old]
    # 2. by an identifying key
    key = None
    if left_old and left_new:
        key = _identifying_key([old[i] for i in left_old], [new[i] for i in left_new])
        if key is not None:
            by_value = {}
            for i in left_old:
                if old[i].__class__ is dict and key in old[i]:
                    by_value[_key(old[i][key])] = i
            still_new = []
            for j in left_new:
                element = new[j]
                i = by_value.pop(_key(element[key]), None) \
                    if element.__class__ is dict and key in element and element[key].__class__ in _SCALARS else None
                if i is None:
                    still_new.append(j)
                else:
                    pairs.append((i, j))
            paired_old = {o for o, _ in pairs}
            left_old = [i for i in left_old if i not in paired_old]
            left_new = still_new
    # 3. by similarity, when no key identifies the elements (if one does, different keys are different
    #    elements: one removed, one added, not one changed)
    if left_old and left_new and key is None:
        scored = []
        for i in left_old:
            for j in left_new:
                score = _similarity(old[i], new[j])
                if score > 0:
                    scored.append((-score, i, j))
        scored.sort()
        used_old, used_new = set(), set()
        for _, i, j in scored:
            if i not in used_old and j not in used_new:
                pairs.append((i, j))
                used_old.add(i)
                used_new.add(j)
        left_old = [i for i in left_old if i not in used_old]
        left_new = [j for j in left_new if j not in used_new]
    pairs.sort(key=lambda pair: pair[1])
    return pairs, left_old, left_new


def _identifying_key(old: list, new: list):
    """The key that pairs the most leftover elements: scalar values, unique on each side. Ties go to string
    values (identifiers are mostly strings), then to names ending in "id", then alphabetically."""
    for side in (old, new):
        if not all(e.__class__ is dict for e in side):
            return None
    candidates = set.intersection(*(set(e) for e in old + new)) if old and new else set()
    best = None
    for key in sorted(candidates):
        old_values = [_key(e[key]) for e in old]
        new_values = [_key(e[key]) for e in new]
        if not all(e[key].__class__ in _SCALARS and e[key] is not None for e in old + new):
            continue
        if len(set(old_values)) != len(old_values) or len(set(new_values)) != len(new_values):
            continue
        shared = len(set(old_values) & set(new_values))
        if not shared:
            continue
        rank = (shared, all(e[key].__class__ is str for e in old + new), key.lower().endswith("id"))
        if best is None or rank > best[0]:
            best = (rank, key)
    return best[1] if best else None


def _similarity(a, b) -> float:
    """0..1; objects score for shared keys and for equal values, so two objects of one shape pair up even
    when every value changed (a type change is still the same element)."""
    if a.__class__ is dict and b.__class__ is dict:
        keys = set(a) | set(b)
        if not keys:
            return 1.0
        shared = set(a) & set(b)
        same = sum(1 for k in shared if _key(a[k]) == _key(b[k]))
        return (len(shared) + same) / (2 * len(keys))
    if a.__class__ is list and b.__class__ is list:
        if not a and not b:
            return 1.0
        return len({_key(x) for x in a} & {_key(x) for x in b}) / max(len(a), len(b))
    return 0.0  # two different scalars: no reason to pair them over any other


def _diff_lists(old, new, path, changes):
    pairs, removed, added = pair_elements(old, new)
    for i, j in pairs:
        _diff(old[i], new[j], f"{path}[{j}]", changes)
    if len(removed) == 1 and len(added) == 1 and old[removed[0]].__class__ in _SCALARS \
            and new[added[0]].__class__ in _SCALARS:
        # One scalar swapped for another: a change, as DeepDiff reports it, not a removal and an addition.
        _diff(old[removed[0]], new[added[0]], f"{path}[{added[0]}]", changes)
        return
    for i in removed:
        changes.append(Change(f"{path}[{i}]", "removed", old[i], None))
    for j in added:
        changes.append(Change(f"{path}[{j}]", "added", None, new[j]))


# ---------------------------------------------------------------------------------------------------------
# A replay against its baseline recording, event by event.


@dataclass
class EventDiff:
    event: str
    recorded_index: int | None  # None: only in the replay
    replayed_index: int | None  # None: only in the recording
    changes: list[Change]

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "recorded_index": self.recorded_index, "replayed_index": self.replayed_index,
                "changes": [c.to_dict() for c in self.changes]}


def compare_records(recorded: list[dict], replayed: list[dict], ignore: set[str] = frozenset()) -> list[EventDiff]:
    """Pair each replayed event with a recorded one of the same name (the same elements pairing as arrays:
    identical first, then by an identifying property, then by similarity) and diff their properties,
    leaving out the properties named in `ignore` (timestamps, session ids: values expected to vary)."""
    def props(event):
        properties = event.get("properties") or {}
        return {k: v for k, v in properties.items() if k not in ignore}

    by_name_old: dict[str, list[int]] = defaultdict(list)
    by_name_new: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(recorded):
        by_name_old[event["event"]].append(index)
    for index, event in enumerate(replayed):
        by_name_new[event["event"]].append(index)
    result: list[EventDiff] = []
    for name in dict.fromkeys([e["event"] for e in recorded] + [e["event"] for e in replayed]):
        old_idx, new_idx = by_name_old.get(name, []), by_name_new.get(name, [])
        old_props = [props(recorded[i]) for i in old_idx]
        new_props = [props(replayed[j]) for j in new_idx]
        pairs, removed, added = pair_elements(old_props, new_props)
        for i, j in pairs:
            result.append(EventDiff(name, old_idx[i], new_idx[j], diff(old_props[i], new_props[j])))
        for i in removed:
            result.append(EventDiff(name, old_idx[i], None, [Change("", "removed", old_props[i], None)]))
        for j in added:
            result.append(EventDiff(name, None, new_idx[j], [Change("", "added", None, new_props[j])]))
    result.sort(key=lambda d: (d.replayed_index if d.replayed_index is not None else float("inf"),
                               d.recorded_index if d.recorded_index is not None else -1))
    return result
