"""What a QA engineer waits for in the loop:

1. a flow's wall time when replayed through the proxy against the same flow driven with no proxy at all
   (the demo shop's flow in Chromium, screenshots after every step in both), target <= 1.2x;
2. the time from a run's end (the agent's finish upload) to its report for a record of 1,000 events, through
   the real API, the configured broker and a real Celery worker, target < 2 s; the floor it is compared with
   is reading the same 1,000 events back from the database.

Run with `.venv/bin/python -m pytest -m bench tests/bench/test_loop_speed.py -s`."""

import os
import random
import statistics
import time
import uuid
from datetime import datetime


import pytest

from demo.server import DemoShop
from device_agent.drivers.web import WebDriver
from device_agent.flows import parse_flow
from device_agent.play import PlayOptions, play
from device_agent.player import Player
from trackreplay.demo import FLOW

ROUNDS = 3


def _seconds(timeline) -> float:
    start = datetime.fromisoformat(timeline["started_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(timeline["finished_at"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


@pytest.mark.browser
def test_a_replayed_flow_takes_at_most_1_2x_the_same_flow_without_a_proxy(tmp_path):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # No promotion popup: its optional close step would wait out its timeout on some runs and not others.
    with DemoShop(port=0, popups=False) as shop:
        flow = parse_flow(FLOW, file="browse.yaml", app=shop.url)
        recorded = play(flow, tmp_path / "record", PlayOptions(mode="record"))
        assert recorded["outcome"] == "passed", recorded
        direct, replayed, whole = [], [], []
        for round_ in range(ROUNDS):  # alternate, so a load burst hits both sides alike
            driver = WebDriver()
            try:
                driver.start()
                timeline = Player(driver, flow, out_dir=tmp_path / f"direct-{round_}").play()
            finally:
                driver.close()
            assert timeline["outcome"] == "passed", timeline
            direct.append(_seconds(timeline))
            started = time.monotonic()
            timeline = play(flow, tmp_path / f"replay-{round_}",
                            PlayOptions(mode="replay", har=tmp_path / "record" / "mock.har"))
            whole.append(time.monotonic() - started)
            assert timeline["outcome"] == "passed", timeline
            replayed.append(_seconds(timeline))
    ratio = min(replayed) / min(direct)
    print(f"\nflow of {len(flow.steps)} steps, best of {ROUNDS}: no proxy {min(direct):.2f} s, "
          f"replay through the proxy {min(replayed):.2f} s -> {ratio:.2f}x "
          f"(medians {statistics.median(direct):.2f} / {statistics.median(replayed):.2f} s); "
          f"the whole replay with proxy and browser start-up and shutdown {min(whole):.2f} s")
    assert ratio <= 1.2


def _events(count: int, seed: int) -> list[dict]:
    """Demo-shop-like events with nested item lists, written for this benchmark (not from the inference's
    simulator)."""
    rng = random.Random(seed)
    names = ["page_view", "product_exposure", "product_exposure", "product_exposure", "tab_click", "add_to_cart",
             "search"]
    events = []
    base = 1_796_000_000_000
    for seq in range(count):
        name = rng.choice(names)
        product = f"P{rng.randint(1000, 1012)}"
        properties = {
            "page_view": lambda: {"page": rng.choice(["home", "product"]), "referrer_page": rng.choice(["home", None])},
            "product_exposure": lambda: {"product_id": product, "product_name": f"Product {product}",
                                         "position": rng.randint(0, 11), "tab_id": rng.randint(1, 3),
                                         "list_id": f"home_tab_{rng.randint(1, 3)}"},
            "tab_click": lambda: {"tab_id": (tab := rng.randint(1, 3)), "tab_name": ["Recommended", "Fresh", "Gifts"][tab - 1]},
            "add_to_cart": lambda: {"product_id": product, "product_name": f"Product {product}",
                                    "price": round(rng.uniform(5, 300), 1), "quantity": 1,
                                    "items": [{"product_id": f"P{rng.randint(1000, 1012)}", "qty": rng.randint(1, 3)}
                                              for _ in range(rng.randint(1, 6))],
                                    "cart_size": rng.randint(1, 12)},
            "search": lambda: {"keyword": rng.choice(["tea", "apple", "gift"]), "result_count": rng.randint(0, 12)},
        }[name]()
        properties.update({"$lib": "js", "$lib_version": "1.27.11", "$screen_width": 1280, "$screen_height": 800,
                           "$url": "http://127.0.0.1:8765/", "$title": "Demo Shop"})
        events.append({"event": name, "properties": properties, "time": base + seq * 250, "distinct_id": "demo-user-1",
                       "step": 1 + seq * 9 // count, "sdk": "sensorsdata"})
    return events


@pytest.mark.django_db(transaction=True)
def test_a_finished_run_of_1000_events_has_its_report_in_under_2_seconds(settings):
    from celery.contrib.testing.worker import start_worker
    from rest_framework.test import APIClient

    from automation.lifecycle import dispatch_queued
    from automation.models import AgentToken, Device, Run
    from reports.verification import record_events
    from sdk_bridge.ingest import Batch, store_batch
    from scenarios.learning import infer_version
    from tests import factories as f
    from trackreplay.celery import Queue, app, queue_name

    settings.TRACKREPLAY_QUEUE_PREFIX = f"{settings.TRACKREPLAY_QUEUE_PREFIX}bench-{uuid.uuid4().hex[:8]}."
    project = f.ProjectFactory()
    agent = f.AgentFactory(project=project)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='bench').token}")
    Device.objects.create(project=project, agent=agent, name="chromium-1", platform="web", status="online",
                          last_seen_at=datetime.now().astimezone())
    agent.last_seen_at = datetime.now().astimezone()
    agent.save()
    script = f.ScriptFactory(project=project, platform="web", source="app: x\nsteps:\n  - launch\n")
    task = f.TaskFactory(project=project, script=script)
    baselines = []
    for seed in (1, 2):
        run = Run.objects.create(project=project, task=task, mode="record", status="passed")
        store_batch(run, Batch(f"b{seed}", _events(1000, seed), None))
        baselines.append(run.test_records.get())
    scenario = f.ScenarioFactory(project=project)
    infer_version(scenario, baselines)
    task.scenario, task.mock_record = scenario, f.MockRecordFactory(project=project)
    task.save()

    timings, floors = [], []
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue_name(Queue.VERIFY)]):
        for round_ in range(ROUNDS):
            run = Run.objects.create(project=project, task=task, mode="replay")
            dispatch_queued()
            assert client.post(f"/api/v1/agent/runs/{run.pk}/start").status_code == 200
            for start in range(0, 1000, 500):  # as the agent uploads them
                client.post(f"/api/v1/agent/runs/{run.pk}/events",
                            {"batch_id": f"r{round_}-{start}", "events": _events(1000, 10 + round_)[start:start + 500]},
                            format="json")
            record = run.test_records.get()
            began = time.monotonic()
            record_events(record)
            floors.append(time.monotonic() - began)
            began = time.monotonic()
            answer = client.post(f"/api/v1/agent/runs/{run.pk}/finish",
                                 {"outcome": "passed", "error": "", "step_count": 1, "steps": [
                                     {"index": 1, "action": "launch", "label": "launch", "outcome": "passed",
                                      "started_at": "2026-12-01T10:00:00.000Z", "finished_at": "2026-12-01T10:00:01.000Z",
                                      "error": "", "screenshot": None}]}, format="json")
            assert answer.status_code == 200, answer.content
            while True:
                run.refresh_from_db()
                if run.is_final:
                    break
                assert time.monotonic() - began < 30, "no report after 30 s"
                time.sleep(0.02)
            timings.append(time.monotonic() - began)
            assert run.reports.get().events_total > 0
    best, floor = min(timings), min(floors)
    broker = "Redis" if settings.CELERY_BROKER_URL.startswith("redis") else "filesystem broker"
    print(f"\nrun end -> report, 1,000 events, {broker}, best of {ROUNDS}: {best * 1000:.0f} ms "
          f"(median {statistics.median(timings) * 1000:.0f} ms); reading the 1,000 events back alone: "
          f"{floor * 1000:.0f} ms -> {best / floor:.1f}x that floor")
    assert best < 2.0

