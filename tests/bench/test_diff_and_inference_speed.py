"""Nested-array diff against deepdiff(ignore_order=True) on 1,000-element arrays, and inference time from 3
records of 1,000 events. Run with `.venv/bin/python -m pytest -m bench tests/bench/test_diff_and_inference_speed.py -s`."""

import random
import time

from deepdiff import DeepDiff

from reports.diff import diff
from scenarios.inference import infer

from .rule_quality.simapp import api_responses, clean_run


def arrays():
    rng = random.Random(3)
    old = [{"sku": f"S{n:05d}", "qty": rng.randint(1, 5), "price": round(rng.uniform(1, 99), 2),
            "attrs": {"color": rng.choice(["red", "blue"]), "tags": [f"t{n % 7}", f"u{n % 5}"]}} for n in range(1000)]
    new = [dict(e, attrs=dict(e["attrs"], tags=list(e["attrs"]["tags"]))) for e in old]
    for element in rng.sample(new, 20):
        element["qty"] += 1
    del new[500:510]
    new.extend({"sku": f"N{n}", "qty": 1, "price": 1.0, "attrs": {"color": "red", "tags": []}} for n in range(10))
    rng.shuffle(new)
    for element in new:
        rng.shuffle(element["attrs"]["tags"])
    return old, new


def timed(function, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def test_array_diff_against_deepdiff():
    old, new = arrays()
    ours, changes = timed(lambda: diff({"items": old}, {"items": new}), 5)
    theirs, result = timed(lambda: DeepDiff({"items": old}, {"items": new}, ignore_order=True), 1)
    print(f"\n1,000-element arrays (20 changed, 10 removed, 10 added, shuffled): "
          f"deepdiff {theirs * 1000:.0f} ms, trackreplay {ours * 1000:.1f} ms, {theirs / ours:.0f}x")
    assert sum(1 for c in changes if c.kind == "changed") == 20
    assert sum(1 for c in changes if c.kind == "removed") == 10 and sum(1 for c in changes if c.kind == "added") == 10
    assert theirs / ours >= 20, f"only {theirs / ours:.1f}x deepdiff"


def test_inference_from_three_records_of_a_thousand_events():
    records = []
    for seed in (1, 2, 3):
        events = []
        run = 0
        while len(events) < 1000:
            events.extend(clean_run(seed * 100 + run).events)
            run += 1
        records.append(events[:1000])
    seconds, rules = timed(lambda: infer(records, api=api_responses()), 3)
    print(f"\ninference from 3 records of 1,000 events: {seconds * 1000:.0f} ms, {len(rules)} rules")
    assert seconds < 1.0
