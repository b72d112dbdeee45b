"""The demo project that `make run` walks through: the demo shop's tracking plan, its flow and task, a local
agent with its token, a nightly group. Everything the loop produces (the mock record, the baseline, the
learned scenario, replays and their reports) comes from real runs on the local agent's Chromium, made by
`walk_demo`. Idempotent: running it again changes nothing that exists."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Membership, Project, Role, hash_token
from automation.models import Agent, AgentToken, Platform, Script, Task, TaskGroup
from mock_records.models import GlobalMock, RequiredInterface
from notifications.models import ChannelKind, NotificationChannel
from sdk_bridge.models import EndpointRule
from tracking_plan.models import EventDefinition, PropertyDefinition

DEMO_SLUG = "demo-shop"
SHOP_PORT = int(os.environ.get("TRACKREPLAY_DEMO_SHOP_PORT", "8765"))
FLOW = """\
name: Browse and add to cart
app: http://127.0.0.1:8765/
env: {KEYWORD: tea}
steps:
  - launch: {clear_state: true}
  - assert_visible: {id: tab-1, label: Home feed shown}
  - tap: {id: popup-close, optional: true, timeout: 2, label: Close the promotion if one shows}
  - tap: {target: [{id: tab-2}, {text: Fresh}], label: Fresh tab}
  - tap: {id: add-P2002, label: Add strawberries}
  - assert_text: {target: {id: cart-count}, equals: "1"}
  - tap: {id: tab-1, label: Back to Recommended}
  - input: {target: {css: "#q"}, text: "${KEYWORD}", label: Search}
  - scroll_until_visible: {target: {text: You may also like}, direction: down, max_scrolls: 10}
"""


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


def shop_url() -> str:
    return f"http://127.0.0.1:{SHOP_PORT}/"


@transaction.atomic
def seed_demo(admin) -> Project:
    project, created = Project.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo shop",
                                  "description": "The demo shop (demo/): a web shop tracking with the Sensors Data "
                                                 "web SDK, run on the local agent's Chromium."}
    )
    Membership.objects.get_or_create(project=project, user=admin, defaults={"role": Role.ADMIN})
    if not created:
        return project

    for name, display, props in [
        # The Sensors Data web SDK drops properties whose value is null: referrer_page is absent, not null,
        # on the first page, so the plan cannot call it required.
        ("page_view", "Page view", [("page", "string", True, False, ["home", "product"]),
                                    ("referrer_page", "string", False, True, None)]),
        ("ab_exposure", "A/B experiment exposure", [("experiment", "string", True, False, None),
                                                    ("bucket", "string", True, False, ["A", "B"])]),
        ("tab_click", "Home tab click", [("tab_id", "integer", True, False, None),
                                         ("tab_name", "string", True, False, ["Recommended", "Fresh", "Gifts"])]),
        ("product_exposure", "Product exposure", [("product_id", "string", True, False, None),
                                                  ("product_name", "string", True, False, None),
                                                  ("position", "integer", True, False, None),
                                                  ("list_id", "string", True, False, None)]),
        ("add_to_cart", "Add to cart", [("product_id", "string", True, False, None),
                                        ("product_name", "string", True, False, None),
                                        ("price", "number", True, False, None),
                                        ("coupon", "string", False, True, None),
                                        ("cart_size", "integer", True, False, None)]),
        ("search", "Search", [("keyword", "string", True, False, None), ("result_count", "integer", True, False, None)]),
    ]:
        definition = EventDefinition.objects.create(project=project, name=name, display_name=display,
                                                    owner_rd=admin, owner_qa=admin, owner_leader=admin)
        for prop, type_, required, nullable, enum in props:
            PropertyDefinition.objects.create(event=definition, name=prop, type=type_, required=required,
                                              nullable=nullable, enum=enum)

    RequiredInterface.objects.create(project=project, name="Home feed", method="GET", host="127.0.0.1",
                                     path="/api/home")
    # Replays never show the promotion popup, whatever the recording saw: one less moving part.
    GlobalMock.objects.create(project=project, name="No popups", host="127.0.0.1", path="/api/popup",
                              response_headers=[["Content-Type", "application/json"]],
                              response_body='{"popups": []}')
    Agent.objects.create(project=project, name="local")  # its devices arrive with its first heartbeat
    script = Script.objects.create(project=project, name="Browse and add to cart", path="browse.yaml",
                                   platform=Platform.WEB, source=FLOW,
                                   description="Home feed, Fresh tab, add strawberries, search, scroll down.")
    script.full_clean()
    task = Task.objects.create(project=project, name="Browse and add to cart on web", script=script,
                               app=shop_url() if SHOP_PORT != 8765 else "",
                               device_selector={"platform": "web", "labels": ["local"]}, time_cap=300)
    group = TaskGroup.objects.create(project=project, name="Nightly regression", cron="0 2 * * *",
                                     time_zone="Asia/Shanghai")
    group.tasks.add(task)
    EndpointRule.objects.create(project=project, decoder="sensorsdata", host="127.0.0.1", path="/sa*")
    NotificationChannel.objects.create(project=project, name="QA group (Feishu)", kind=ChannelKind.FEISHU,
                                       target="https://open.feishu.cn/open-apis/bot/v2/hook/replace-me",
                                       enabled=False)
    return project


def agent_token(project: Project, var_dir: Path) -> str:
    """The local agent's token, kept (0600) under var/ so `make run` can start the agent again; a new one is
    issued when the kept one is missing or revoked."""
    path = var_dir / "demo-agent-token"
    agent = Agent.objects.get(project=project, name="local")
    if path.exists():
        token = path.read_text().strip()
        if AgentToken.objects.filter(agent=agent, token_hash=hash_token(token), revoked_at__isnull=True).exists():
            return token
    issued = AgentToken.issue(agent=agent, name="make run")
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as fh:
        fh.write(issued.token)
    return issued.token


class ShopControl:
    """The demo shop's regression switch, over HTTP (the shop runs as its own process)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def set_regressions(self, names: list[str]) -> None:
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.url}/__demo/regression", method="POST",
                                         data=json.dumps({"regressions": names}).encode(),
                                         headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as answer:
            answer.read()


def walk_demo(project: Project, base_url: str, shop, *, out=print, timeout: float = 300) -> dict:
    """The loop on real runs: record (learns the scenario), replay clean (the report passes), replay with a
    regression injected into the shop's front end (the report fails with its anomalies). Returns the runs."""
    from automation.lifecycle import create_run
    from automation.models import Device, Run, RunMode, RunStatus

    task = project.tasks.get(name="Browse and add to cart on web")
    deadline = time.monotonic() + timeout
    while not Device.objects.filter(project=project, platform=Platform.WEB, status="online").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the local agent's Chromium never came online")
        time.sleep(1)

    def run(mode: str, label: str) -> Run:
        task.refresh_from_db()
        created = create_run(task, mode=mode)
        out(f"  {label}: run #{created.pk} queued -> {base_url}/p/{project.slug}/runs/{created.pk}/")
        while True:
            created.refresh_from_db()
            if created.status in Run.FINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run #{created.pk} did not finish in time (still {created.status})")
            time.sleep(1)
        report = created.reports.order_by("-pk").first()
        where = f"{base_url}/p/{project.slug}/reports/{report.pk}/" if report else "no report (record run)"
        detail = f" ({created.error})" if created.error else ""
        out(f"  {label}: {created.status}{detail} -> {where}")
        return created

    shop.set_regressions([])
    recorded = run(RunMode.RECORD, "1. record")
    clean = run(RunMode.REPLAY, "2. replay, clean") if recorded.status == RunStatus.PASSED else None
    shop.set_regressions(["wrong_tab_name", "price_as_string"])
    try:
        broken = run(RunMode.REPLAY, "3. replay, regression (wrong tab name, price as a string)") if clean else None
    finally:
        shop.set_regressions([])
    return {"record": recorded, "clean": clean, "regression": broken}
