"""The recorded-vs-replayed diff: deterministic pairing of array elements, and agreement with
deepdiff.DeepDiff(ignore_order=True) wherever the pairing is unambiguous."""

import re
from collections import Counter

from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.diff import compare_records, diff, pair_elements


def test_reordered_arrays_are_equal():
    assert diff({"items": [{"a": 1}, {"b": [2, 3]}]}, {"items": [{"b": [3, 2]}, {"a": 1}]}) == []


def test_elements_pair_by_identifying_key_before_similarity():
    old = [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}, {"sku": "c", "qty": 3}]
    new = [{"sku": "c", "qty": 3}, {"sku": "a", "qty": 5}, {"sku": "d", "qty": 1}]
    changes = {(c.path, c.kind, repr(c.old), repr(c.new)) for c in diff({"items": old}, {"items": new})}
    assert changes == {("items[1].qty", "changed", "1", "5"), ("items[1]", "removed", "{'sku': 'b', 'qty': 2}", "None"),
                       ("items[2]", "added", "None", "{'sku': 'd', 'qty': 1}")}


def test_pairing_is_deterministic_for_identical_candidates():
    old = [{"x": 1, "y": 1}, {"x": 1, "y": 2}]
    new = [{"x": 1, "y": 3}, {"x": 1, "y": 4}]
    assert pair_elements(old, new) == pair_elements(old, new) == ([(0, 0), (1, 1)], [], [])


def test_one_scalar_swapped_for_another_is_a_change():
    # DeepDiff calls this a change in longer lists and a removal plus an addition in short ones: ambiguous, so
    # not part of the agreement test; a report reads better with "b -> x".
    assert [(c.path, c.kind, c.old, c.new) for c in diff(["a", "b"], ["x", "a"])] == [("[0]", "changed", "b", "x")]


def test_types_and_nested_paths_are_named():
    changes = diff({"a": {"b": [1, {"c": "1"}]}, "n": 1}, {"a": {"b": [{"c": 1}, 1]}, "n": True})
    assert {(c.path, c.kind) for c in changes} == {("a.b[0].c", "type_changed"), ("n", "type_changed")}


def test_records_are_compared_event_by_event_ignoring_volatile_properties():
    recorded = [{"event": "view", "properties": {"page": "home", "t": 1}},
                {"event": "expo", "properties": {"pid": "P1", "pos": 1, "t": 2}},
                {"event": "expo", "properties": {"pid": "P2", "pos": 2, "t": 3}}]
    replayed = [{"event": "view", "properties": {"page": "home", "t": 9}},
                {"event": "expo", "properties": {"pid": "P2", "pos": 1, "t": 8}},
                {"event": "expo", "properties": {"pid": "P3", "pos": 3, "t": 7}},
                {"event": "buy", "properties": {}}]
    diffs = compare_records(recorded, replayed, ignore={"t"})
    summary = [(d.event, d.recorded_index, d.replayed_index, [(c.path, c.kind) for c in d.changes]) for d in diffs]
    assert summary == [("view", 0, 0, []), ("expo", 2, 1, [("pos", "changed")]), ("expo", None, 2, [("", "added")]),
                       ("buy", None, 3, [("", "added")]), ("expo", 1, None, [("", "removed")])]


def _ours(old, new):
    found = Counter()
    for change in diff(old, new):
        found[(change.kind, re.sub(r"\[\d+\]", "[]", change.path), repr(change.old), repr(change.new))] += 1
    return found


def _theirs(old, new):
    found = Counter()
    result = DeepDiff(old, new, ignore_order=True, verbose_level=2)
    names = {"values_changed": "changed", "type_changes": "type_changed", "iterable_item_added": "added",
             "iterable_item_removed": "removed", "dictionary_item_added": "added", "dictionary_item_removed": "removed"}
    for kind, entries in result.items():
        for path, value in entries.items():
            ours = re.sub(r"\[\d+\]", "[]", path[len("root"):])
            ours = re.sub(r"\['([^']*)'\]", r".\1", ours).lstrip(".")
            if kind in ("values_changed", "type_changes"):
                found[(names[kind], ours, repr(value["old_value"]), repr(value["new_value"]))] += 1
            elif kind.endswith("added"):
                found[(names[kind], ours, "None", repr(value))] += 1
            else:
                found[(names[kind], ours, repr(value), "None")] += 1
    return found


# Unambiguous: elements differ from each other in every field, and at most one field of one element changes,
# so each changed element is far more like its old self than like any other.
element_ids = st.lists(st.integers(0, 10_000), min_size=1, max_size=12, unique=True)


@settings(max_examples=300, deadline=None)
@given(ids=element_ids, data=st.data())
def test_agrees_with_deepdiff_ignore_order_on_unambiguous_cases(ids, data):
    old = [{"id": f"i{n}", "name": f"n{n}", "qty": n, "tags": [f"t{n}", f"u{n}"]} for n in ids]
    new = [dict(e, tags=list(e["tags"])) for e in old]
    action = data.draw(st.sampled_from(["none", "change", "retype", "remove", "add", "tag"]))
    index = data.draw(st.integers(0, len(new) - 1))
    if action == "change":
        new[index]["qty"] = new[index]["qty"] + 100_000
    elif action == "retype":
        new[index]["qty"] = str(new[index]["qty"])
    elif action == "remove":
        del new[index]
    elif action == "add":
        new.append({"id": "new", "name": "new", "qty": -1, "tags": ["new"]})
    elif action == "tag":
        new[index]["tags"].append("extra")
    new = data.draw(st.permutations(new))
    for element in new:
        element["tags"] = data.draw(st.permutations(element["tags"]))
    assert _ours({"items": old}, {"items": new}) == _theirs({"items": old}, {"items": new})
