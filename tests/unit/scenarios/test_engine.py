"""Each rule kind, passing and broken, through the compiled verifier."""

import pytest

from scenarios.engine import ApiResponse, verify
from scenarios.paths import format_key
from scenarios.rulebook import RuleError, RuleSpec, merge_global, validate


def R(kind, event, prop="", params=None, strength="strong"):  # noqa: N802
    rule = RuleSpec(kind, event, prop, params or {}, strength)
    validate(rule)
    return rule


def ev(event_name, index_time=0, /, *, step=None, **props):
    return {"event": event_name, "properties": props, "time": 1_700_000_000_000 + index_time, "step": step}


def kinds(result):
    return sorted(((a.index, a.rule.kind, a.property) for a in result.anomalies), key=lambda k: (k[0] is not None, k))


@pytest.mark.parametrize("rule,good,bad,path", [
    (R("required", "e", "a"), {"a": 1}, {}, "a"),
    (R("required", "e", "a.b"), {"a": {"b": 1}}, {"a": {}}, "a.b"),
    (R("nullable", "e", "a", {"allowed": False}), {"a": 1}, {"a": None}, "a"),
    (R("type", "e", "a", {"types": ["number"]}), {"a": 1.5}, {"a": "1.5"}, "a"),
    (R("type", "e", "a", {"types": ["integer"]}), {"a": 1}, {"a": True}, "a"),
    (R("enum", "e", "a", {"values": ["x", "y"]}), {"a": "y"}, {"a": "z"}, "a"),
    (R("enum", "e", "a", {"values": [1, 2]}), {"a": 2}, {"a": True}, "a"),
    (R("range", "e", "a", {"min": 0, "max": 10}), {"a": 10}, {"a": -0.5}, "a"),
    (R("range", "e", "a", {"min": 0}), {"a": 1e9}, {"a": float("nan")}, "a"),
    (R("length", "e", "a", {"min": 2, "max": 3}), {"a": "abc"}, {"a": "abcd"}, "a"),
    (R("regex", "e", "a", {"pattern": r"P\d{4}"}), {"a": "P1234"}, {"a": "P1234 "}, "a"),
    (R("baseline", "e", "a", {"value": "Android"}), {"a": "Android"}, {"a": "android"}, "a"),
    (R("baseline", "e", "a", {"value": {"k": [1, 2]}}), {"a": {"k": [1, 2]}}, {"a": {"k": [2, 1]}}, "a"),
    (R("required", "e", "items[].id"), {"items": [{"id": 1}, {"id": 2}]}, {"items": [{"id": 1}, {}]}, "items[1].id"),
    (R("attribute_mapping", "e", "tab_name", {"source": "tab_id", "pairs": [[1, "Home"], [2, "Sale"]]}),
     {"tab_id": 2, "tab_name": "Sale"}, {"tab_id": 2, "tab_name": "Home"}, "tab_name"),
])
def test_a_rule_passes_good_values_and_names_the_bad_one(rule, good, bad, path):
    assert verify([ev("e", **good)], [rule]).anomalies == []
    result = verify([ev("e", **good), ev("e", **bad)], [rule])
    assert [(a.index, a.property) for a in result.anomalies] == [(1, path)]
    assert result.anomalies[0].message
    assert result.failed_names == ["e"]


def test_type_and_range_leave_null_to_the_nullable_rule():
    rules = [R("type", "e", "a", {"types": ["number"]}), R("range", "e", "a", {"min": 0, "max": 1}),
             R("nullable", "e", "a", {"allowed": False})]
    assert kinds(verify([ev("e", a=None)], rules)) == [(0, "nullable", "a")]


def test_nested_array_checks_elements_and_compares_expected_ones_ignoring_order():
    rule = R("nested_array", "e", "items", {
        "element": {"required": ["sku"], "types": {"sku": ["string"], "qty": ["number"]},
                    "enums": {"unit": ["kg", "g"]}, "arrays": {"tags": {"types": {"k": ["string"]}}}},
        "expected": [{"sku": "a", "qty": 1, "unit": "kg", "tags": [{"k": "x"}]}, {"sku": "b", "qty": 2}]})
    good = [{"sku": "b", "qty": 2}, {"qty": 1, "sku": "a", "unit": "kg", "tags": [{"k": "x"}]}]
    assert verify([ev("e", items=good)], [rule]).anomalies == []
    bad = [{"sku": "b", "qty": "2"}, {"qty": 1, "unit": "lb", "tags": [{"k": 1}]}]
    found = {(a.property, a.message.split(" ")[0]) for a in verify([ev("e", items=bad)], [rule]).anomalies}
    assert ("items[1].sku", "items[1]") in found  # missing key
    assert ("items[0].qty", "items[0].qty") in found  # wrong type
    assert ("items[1].unit", "items[1].unit") in found  # outside the enum
    assert ("items[1].tags[0].k", "items[1].tags[0].k") in found  # recursion
    assert ("items", "items") in found  # the expected elements differ


def test_count_order_absent_and_missing_events_are_record_level():
    rules = [R("count", "view", params={"min": 1, "max": 1}), R("count", "buy", params={"min": 1}),
             R("order", "view", params={"sequence": ["view", "click"]}), R("absent", "crash")]
    events = [ev("click", 0), ev("view", 10), ev("view", 20), ev("crash", 30)]
    result = verify(events, rules)
    assert kinds(result) == [(None, "count", ""), (None, "count", ""), (0, "order", ""), (3, "absent", "")]
    messages = " | ".join(a.message for a in result.anomalies)
    assert "buy never fired" in messages and "view fired 2 times, expected exactly 1" in messages
    assert result.event_names == ["click", "view", "crash", "buy"]
    assert result.pass_rate == 0.0


def test_duplicates_within_the_window_ignoring_volatile_properties():
    rule = R("duplicate", "click", params={"window_ms": 1000, "ignore": ["uuid"]})
    events = [ev("click", 0, pid="P1", uuid="a"), ev("click", 500, pid="P1", uuid="b"),
              ev("click", 2000, pid="P1", uuid="c"), ev("click", 2100, pid="P2", uuid="d")]
    assert kinds(verify(events, [rule])) == [(1, "duplicate", "")]


def test_trigger_requires_the_ui_step_and_its_window():
    rule = R("trigger", "buy", params={"steps": [3], "window_ms": 2000})
    steps = [{"step": 3, "at": 1_700_000_000_000}]
    events = [ev("buy", 100, step=3), ev("buy", 5000, step=3), ev("buy", 100, step=2)]
    assert kinds(verify(events, [rule], steps=steps)) == [(1, "trigger", ""), (2, "trigger", "")]


def test_weak_rules_are_reported_but_do_not_lower_the_pass_rate():
    result = verify([ev("e", a="x")], [R("enum", "e", "a", {"values": ["y"]}, strength="weak")])
    assert len(result.anomalies) == 1 and result.pass_rate == 1.0 and not result.strong


def test_disabled_rules_are_not_evaluated():
    rule = R("required", "e", "a")
    rule.enabled = False
    assert verify([ev("e")], [rule]).anomalies == []


def test_api_mapping_with_list_element_correlation():
    api = [ApiResponse("GET", "api.test", "/feed", {"data": {"items": [{"id": "P1", "name": "Tea"},
                                                                         {"id": "P2", "name": "Cup"}]}})]
    rule = R("api_mapping", "click", "name", {"api": {"method": "GET", "path": "/feed"}, "field": "data.items[].name",
                                              "key_property": "pid", "key_field": "data.items[].id"})
    events = [ev("click", pid="P2", name="Cup"), ev("click", pid="P1", name="Cup"), ev("click", pid="P9", name="X")]
    result = verify(events, [rule], api=api)
    assert kinds(result) == [(1, "api_mapping", "name"), (2, "api_mapping", "name")]
    assert "is 'Tea'" in result.anomalies[0].message
    skipped = verify(events, [rule])
    assert skipped.anomalies == [] and "no mock record" in skipped.skipped[0][1]


def test_global_rules_apply_to_every_event_unless_a_scenario_rule_overrides_them():
    global_rules = [R("required", "*", "distinct"), R("type", "*", "os", {"types": ["string"]})]
    own = [R("type", "click", "os", {"types": ["number"]})]
    rules = merge_global(global_rules, own)
    result = verify([ev("click", os=1), ev("view", os=1)], rules)
    assert kinds(result) == [(0, "required", "distinct"), (1, "required", "distinct"), (1, "type", "os")]


@pytest.mark.parametrize("rule,message", [
    (RuleSpec("regex", "e", "a", {"pattern": "(a)\\1"}), "not a valid RE2 expression"),
    (RuleSpec("regex", "e", "a", {"pattern": "(?=x)"}), "not a valid RE2 expression"),
    (RuleSpec("range", "e", "a", {"min": 3, "max": 1}), "greater than params.max"),
    (RuleSpec("count", "e", "a", {"min": 1}), "takes no property path"),
    (RuleSpec("required", "e", "a..b"), "empty key"),
    (RuleSpec("order", "e", "", {"sequence": ["x", "e"]}), "must start with"),
    (RuleSpec("bogus", "e"), "unknown kind"),
])
def test_bad_rules_are_rejected_with_the_field_named(rule, message):
    with pytest.raises(RuleError, match=message):
        validate(rule)


def test_generated_code_never_contains_property_names_or_values():
    nasty = "x'); import os; os._exit(1) #"
    rule = R("enum", "e", format_key(nasty), {"values": [nasty]})  # quoted: the name holds a dot
    assert verify([ev("e", **{nasty: nasty})], [rule]).anomalies == []
    assert len(verify([ev("e", **{nasty: "other"})], [rule]).anomalies) == 1
