"""Rule quality: infer a scenario from 3 clean recordings of the simulated app, then count false alarms on
clean replays and detections of injected regressions. Run with
`.venv/bin/python -m pytest -m bench tests/bench/rule_quality -s`.

A false alarm is a clean replay with any strong anomaly. A regression is detected when its replay has a
strong anomaly (rule kind, event, property) that the same replay without the regression did not have, so
a false alarm never counts as a detection. Thirty different training triples, so one lucky triple cannot
make the figures."""

import random
from collections import Counter, defaultdict

from scenarios.engine import Verifier
from scenarios.inference import infer

from .simapp import KINDS, api_responses, clean_run, inject

TRAININGS = 30
CLEAN_REPLAYS = 100  # per training triple
INJECTIONS = 10  # per kind and training triple


def strong_keys(result):
    return {(a.rule.kind, a.event, a.property) for a in result.strong}


def test_inferred_rules_rarely_false_alarm_and_catch_injected_regressions():
    api = api_responses()
    false_alarms = 0
    culprits: Counter = Counter()
    detected: dict[str, int] = defaultdict(int)
    missed: dict[str, Counter] = defaultdict(Counter)
    rule_counts = []
    for training in range(TRAININGS):
        seeds = [training * 3 + 1, training * 3 + 2, training * 3 + 3]
        recordings = [clean_run(seed) for seed in seeds]
        rules = infer([run.events for run in recordings], api=api)
        rule_counts.append(len(rules))
        verifier = Verifier(rules, api)
        for replay in range(CLEAN_REPLAYS):
            run = clean_run(10_000 + training * 1000 + replay)
            result = verifier.verify(run.events, run.steps)
            if result.strong:
                false_alarms += 1
                culprits.update(f"{a.rule.kind} {a.event}.{a.property}".rstrip(".") for a in result.strong)
        rng = random.Random(training)
        for kind in KINDS:
            for injection in range(INJECTIONS):
                run = clean_run(50_000 + training * 1000 + injection)
                baseline = strong_keys(verifier.verify(run.events, run.steps))
                regression = inject(kind, run, rng)
                if strong_keys(verifier.verify(regression.events, run.steps)) - baseline:
                    detected[kind] += 1
                else:
                    missed[kind][regression.description] += 1
    replays = TRAININGS * CLEAN_REPLAYS
    per_kind = TRAININGS * INJECTIONS
    false_rate = false_alarms / replays
    overall = sum(detected.values()) / (per_kind * len(KINDS))
    print(f"\n{TRAININGS} training triples, {sum(rule_counts) / len(rule_counts):.0f} rules on average")
    print(f"false alarms: {false_alarms}/{replays} clean replays = {false_rate:.1%}  "
          f"(causes: {culprits.most_common(5)})")
    print(f"{'regression kind':28s} {'detected':>10s}")
    for kind in KINDS:
        print(f"{kind:28s} {detected[kind]:>4d}/{per_kind:<4d} {detected[kind] / per_kind:6.1%}"
              + (f"  missed: {missed[kind].most_common(2)}" if missed[kind] else ""))
    print(f"{'overall':28s} {sum(detected.values()):>4d}/{per_kind * len(KINDS):<4d} {overall:6.1%}")
    assert false_rate <= 0.02, f"false-alarm rate {false_rate:.1%} over 2%: {culprits.most_common(5)}"
    assert overall >= 0.95, f"detection {overall:.1%} under 95%"
