"""A run's device log split by step (automation/step_logs.py): a step owns what was logged from its start
until the next step started; the app starting and ending have places of their own."""

from automation.step_logs import AFTER, BEFORE, excerpt, split_by_step

T0 = 1_796_119_200_000  # 2026-12-01 08:00:00 UTC, in ms


def iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def step(index, start, end):
    return {"index": index, "started_at": iso(T0 + start) if start is not None else None,
            "finished_at": iso(T0 + end) if end is not None else None}


def lines(*offsets):
    return [{"at": T0 + offset, "level": "I", "text": str(offset)} for offset in offsets]


def texts(buckets):
    return {key: [line["text"] for line in value] for key, value in buckets.items()}


def test_a_step_owns_its_lines_until_the_next_step_starts():
    timeline = [step(1, 0, 1000), step(2, 2000, 3000), step(3, None, None)]  # step 3 never ran
    assert texts(split_by_step(timeline, lines(-1, 0, 999, 1500, 2000, 3000, 3001))) == {
        BEFORE: ["-1"], 1: ["0", "999", "1500"], 2: ["2000", "3000"], AFTER: ["3001"]}


def test_while_the_last_step_runs_its_lines_are_its_own():
    timeline = [step(1, 0, 1000), step(2, 2000, None)]
    assert texts(split_by_step(timeline, lines(5000))) == {2: ["5000"]}


def test_a_run_that_never_reached_a_step_logged_before_it():
    assert texts(split_by_step([step(1, None, None)], lines(0, 10))) == {BEFORE: ["0", "10"]}
    assert split_by_step([], []) == {}


def test_steps_reported_out_of_order_are_placed_by_their_times():
    timeline = [step(2, 2000, 3000), step(1, 0, 1000)]
    assert texts(split_by_step(timeline, lines(500, 2500))) == {1: ["500"], 2: ["2500"]}


def test_a_long_list_keeps_its_first_and_last_lines():
    assert excerpt(list(range(20)), 20) == (list(range(20)), [], 0)
    assert excerpt(list(range(21)), 20) == (list(range(10)), list(range(11, 21)), 1)
