"""The demo project that `make run` walks through: a small shop app's tracking plan, a recorded mock record
and baseline, a scenario, a device, a task on a nightly schedule. Idempotent: running it again changes
nothing that exists."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Project, Role
from automation.models import Agent, Device, Platform, Run, RunMode, RunStatus, Script, Task, TaskGroup
from mock_records.drift import compare, suggest
from mock_records.models import ChangeRecord, Exchange, GlobalMock, MockRecord, MockRecordSource, RequiredInterface
from notifications.models import ChannelKind, NotificationChannel
from reports.verification import verify_record
from scenarios.models import Rule, Scenario
from sdk_bridge.models import EndpointRule
from test_records.models import Event, RecordSource, TestRecord
from tracking_plan.models import EventDefinition, Fault, PropertyDefinition

DEMO_SLUG = "demo-shop"

HOME_FEED = {
    "code": 0,
    "data": {"tabs": [{"tab_id": 1, "tab_name": "Recommended"}, {"tab_id": 2, "tab_name": "Fresh"}],
             "items": [{"product_id": "P1001", "name": "Green tea", "price": 12.5},
                       {"product_id": "P1002", "name": "Oolong", "price": 18.0}]},
}


def ensure_admin(username: str | None = None, password: str | None = None) -> tuple[object, str | None]:
    """Create the admin user if missing. Returns (user, password) where password is None if it already existed."""
    username = username or os.environ.get("TRACKREPLAY_ADMIN_USER", "admin")
    password = password or os.environ.get("TRACKREPLAY_ADMIN_PASSWORD")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user, password
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=username, email=f"{username}@localhost", password=password,
                                         display_name="Demo admin")
    return user, password


@transaction.atomic
def seed_demo(admin) -> Project:
    project, created = Project.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo shop", "description": "A small shop app with Sensors Data tracking."}
    )
    Membership.objects.get_or_create(project=project, user=admin, defaults={"role": Role.ADMIN})
    if not created:
        return project
    now = timezone.now()

    events = {}
    for name, display, props in [
        ("app_start", "App start", [("is_first_time", "boolean", True, False, None)]),
        ("tab_click", "Home tab click", [("tab_id", "integer", True, False, None),
                                         ("tab_name", "string", True, False, ["Recommended", "Fresh"])]),
        ("product_exposure", "Product exposure", [("product_id", "string", True, False, None),
                                                  ("position", "integer", True, False, None)]),
        ("add_to_cart", "Add to cart", [("product_id", "string", True, False, None),
                                        ("product_name", "string", True, False, None),
                                        ("price", "number", True, False, None),
                                        ("coupon", "string", False, True, None)]),
    ]:
        definition = EventDefinition.objects.create(project=project, name=name, display_name=display,
                                                    owner_rd=admin, owner_qa=admin, owner_leader=admin)
        for prop, type_, required, nullable, enum in props:
            PropertyDefinition.objects.create(event=definition, name=prop, type=type_, required=required,
                                              nullable=nullable, enum=enum)
        events[name] = definition

    mock = MockRecord.objects.create(project=project, name="Home feed, two tabs, tea catalogue",
                                     source=MockRecordSource.RECORDED,
                                     ignore={"query": ["ts", "sign"], "headers": ["x-request-id"]})
    exchanges = [
        ("GET", "/api/home", "ts=1732147200&sign=ab12", json.dumps(HOME_FEED).encode(), "application/json"),
        ("GET", "/api/product/P1001", "", json.dumps({"product_id": "P1001", "name": "Green tea", "price": 12.5,
                                                     "stock": 40}).encode(), "application/json"),
        ("POST", "/api/cart", "", json.dumps({"ok": True, "cart_size": 1}).encode(), "application/json"),
        ("GET", "/static/banner.png", "", bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(256)),
         "image/png"),
    ]
    for order, (method, path, query, body, content_type) in enumerate(exchanges):
        exchange = Exchange(mock_record=mock, order=order, method=method, scheme="https", host="api.shop.example",
                            port=443, path=path, query=query, status_code=200,
                            request_headers=[["Host", "api.shop.example"], ["User-Agent", "Shop/5.3.0"]],
                            response_headers=[["Content-Type", content_type], ["Content-Length", str(len(body))]],
                            started_at=now - timedelta(minutes=5, seconds=-order), duration_ms=40 + order * 7)
        exchange.request_body = b'{"product_id":"P1001","qty":1}' if method == "POST" else b""
        exchange.response_body = body
        exchange.save()

    RequiredInterface.objects.create(project=project, name="Home feed", method="GET", host="api.shop.example",
                                     path="/api/home")
    GlobalMock.objects.create(project=project, name="No popups", host="*.shop.example", path="/api/popup/*",
                              response_headers=[["Content-Type", "application/json"]],
                              response_body='{"code": 0, "data": {"popups": []}}')

    home = mock.exchanges.get(path="/api/home")
    live_home = {**HOME_FEED, "experiment": {"id": "feed_v2", "bucket": "B"}}  # the live API grew a key
    ChangeRecord.objects.create(exchange=home, live_status=200,
                                changes=[c.to_dict() for c in compare(HOME_FEED, live_home)],
                                suggested_body=json.dumps(suggest(HOME_FEED, live_home)).encode())

    def record(name, source, flows):
        test_record = TestRecord.objects.create(
            project=project, name=name, source=source, mock_record=mock, is_baseline=source == RecordSource.RECORDED,
            steps=[{"step": 1, "action": "launch"}, {"step": 2, "action": "tap tab Fresh"},
                   {"step": 3, "action": "tap add to cart"}],
        )
        base_ms = int((now - timedelta(minutes=4)).timestamp() * 1000)
        Event.objects.bulk_create([
            Event(test_record=test_record, seq=seq, name=event, properties=props, distinct_id="device-42",
                  client_time=base_ms + seq * 900, received_at=now, step=step, sdk="sensorsdata",
                  raw={"event": event, "properties": props, "type": "track"})
            for seq, (event, step, props) in enumerate(flows)
        ])
        return test_record

    good = [
        ("app_start", 1, {"is_first_time": False}),
        ("product_exposure", 1, {"product_id": "P1001", "position": 0}),
        ("product_exposure", 1, {"product_id": "P1002", "position": 1}),
        ("tab_click", 2, {"tab_id": 2, "tab_name": "Fresh"}),
        ("add_to_cart", 3, {"product_id": "P1001", "product_name": "Green tea", "price": 12.5, "coupon": None}),
    ]
    baseline = record("Baseline recording, Chromium 156", RecordSource.RECORDED, good)

    scenario = Scenario.objects.create(project=project, name="Browse and add to cart",
                                       description="Open the app, switch to the Fresh tab, add the first tea.")
    version = scenario.new_version(note="rules reviewed after the first recording", created_by=admin)
    global_scenario = Scenario.objects.create(project=project, name="Global rules", is_global=True,
                                              description="Rules every scenario of the shop shares.")
    global_version = global_scenario.new_version(note="created", created_by=admin)
    rules = [
        Rule(version=version, kind="count", event="add_to_cart", params={"min": 1, "max": 1},
             evidence={"samples": 1, "records": 1, "counts": [1]}),
        Rule(version=version, kind="order", event="tab_click", params={"sequence": ["tab_click", "add_to_cart"]},
             evidence={"records": 1, "separated": True}),
        Rule(version=version, kind="attribute_mapping", event="tab_click", property_path="tab_name",
             params={"source": "tab_id", "pairs": [[1, "Recommended"], [2, "Fresh"]]},
             evidence={"samples": 1, "records": 1}),
        Rule(version=version, kind="api_mapping", event="add_to_cart", property_path="product_name",
             params={"api": {"method": "GET", "host": "api.shop.example", "path": "/api/product/P1001"},
                     "field": "name", "key_property": "product_id", "key_field": "product_id"},
             evidence={"samples": 1, "records": 1}),
        Rule(version=version, kind="nullable", event="add_to_cart", property_path="coupon", params={"allowed": True},
             strength="weak", evidence={"samples": 1, "records": 1, "values": [None]}),
        Rule(version=global_version, kind="type", event="*", property_path="product_id",
             params={"types": ["string"]}, evidence={"samples": 4, "records": 1}),
        Rule(version=global_version, kind="duplicate", event="*", params={"window_ms": 1000, "ignore": []},
             evidence={"samples": 5, "records": 1}),
    ]
    for rule in rules:
        rule.full_clean()
    Rule.objects.bulk_create(rules)
    # A replay of build 5.4.0 in which the Fresh tab reports the wrong name: a real, red report.
    regressed = [(name, step, dict(props, tab_name="Recommended") if name == "tab_click" else props)
                 for name, step, props in good]
    replay = record("Replay, Chromium 156, build 5.4.0", RecordSource.REPLAYED, regressed)
    verify_record(replay, version, baseline=baseline)

    agent = Agent.objects.create(project=project, name="local", hostname="localhost", version="0.1.0",
                                 last_seen_at=now)
    device = Device.objects.create(project=project, agent=agent, name="Local Chromium", platform=Platform.WEB,
                                   model="Chromium (headless)", labels=["local"], status="online", last_seen_at=now)
    script = Script.objects.create(project=project, name="Browse and add to cart (web)", platform=Platform.WEB,
                                   flow=[{"action": "launch", "url": "http://127.0.0.1:8000/demo/shop/"},
                                         {"action": "tap", "selector": {"text": "Fresh"}},
                                         {"action": "tap", "selector": {"id": "add-P1001"}}])
    task = Task.objects.create(project=project, name="Browse and add to cart on web", script=script,
                               mock_record=mock, scenario=scenario, baseline_record=baseline,
                               device_selector={"platform": "web", "labels": ["local"]})
    group = TaskGroup.objects.create(project=project, name="Nightly regression", cron="0 2 * * *",
                                     time_zone="Asia/Shanghai")
    group.tasks.add(task)
    Run.objects.create(project=project, task=task, task_group=group, mode=RunMode.RECORD, device=device,
                       status=RunStatus.PASSED, started_at=now - timedelta(minutes=6),
                       finished_at=now - timedelta(minutes=3), triggered_by=admin)
    Fault.objects.create(project=project, title="add_to_cart sends product_name from the wrong list item",
                         description="Seen while recording the demo baseline by hand.",
                         event_definition=events["add_to_cart"], event_name="add_to_cart", assignee=admin,
                         reporter=admin, due_at=now + timedelta(days=3))
    EndpointRule.objects.create(project=project, decoder="sensorsdata", host="*.shop.example", path="/sa*")
    NotificationChannel.objects.create(project=project, name="QA group (Feishu)", kind=ChannelKind.FEISHU,
                                       target="https://open.feishu.cn/open-apis/bot/v2/hook/replace-me",
                                       enabled=False)
    return project
