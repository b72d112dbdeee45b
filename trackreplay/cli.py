"""The `trackreplay` command line. Offline commands (decode, infer, verify) use the pure cores and need no
database; platform commands set Django up first."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackreplay.settings")
    import django

    django.setup()


def cmd_demo(args) -> int:
    _django()
    from django.core.management import call_command

    from .demo import ensure_admin, seed_demo

    if not args.no_migrate:
        call_command("migrate", interactive=False, verbosity=0)
    admin, password = ensure_admin(args.username, args.password)
    project = seed_demo(admin)
    print(f"Demo project: {project.name} (/p/{project.slug}/)")
    if password:
        print(f"Admin user:   {admin.username}  password: {password}   (shown once; set TRACKREPLAY_ADMIN_PASSWORD "
              f"to choose it)")
    else:
        print(f"Admin user:   {admin.username} (exists; password unchanged)")
    return 0


WALKTHROUGH = """
trackreplay is starting at http://{host}:{port}/  (the demo shop at {shop})
  1. Log in as the admin user above.
  2. Overview of the demo project: http://{host}:{port}/p/demo-shop/
  3. Tracking plan (events, properties, owners): /p/demo-shop/tracking-plan/
  4. The flow, the task and the local agent's Chromium: /p/demo-shop/scripts/, /p/demo-shop/tasks/, /p/demo-shop/devices/
  Then the demo walks the loop on real runs (printed below as they finish):
     record (mock record, baseline, learned scenario) -> replay clean (report passes) -> replay with a
     regression injected into the shop's front end (report fails: open it, read the anomalies and the
     recorded-vs-replayed diff, try a repair button).
  5. The REST API and its OpenAPI docs: http://{host}:{port}/api/docs/   Django admin: /admin/
Stop everything with Ctrl-C.
"""


def _walk_when_ready(project, base_url: str, shop_url: str) -> None:
    import threading
    import time
    import urllib.request

    from .demo import ShopControl, walk_demo

    def walk():
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(120):  # the web server and the shop start alongside this thread
            try:
                opener.open(f"{base_url}/healthz", timeout=2).read()
                opener.open(f"{shop_url}api/config", timeout=2).read()
                break
            except OSError:
                time.sleep(1)
        print("[demo] walking the loop on the local agent's Chromium:", flush=True)
        try:
            runs = walk_demo(project, base_url, ShopControl(shop_url), out=lambda line: print(f"[demo]{line}", flush=True))
            ok = runs["record"].status == "passed" and runs["clean"] and runs["clean"].status == "passed" \
                and runs["regression"] and runs["regression"].status == "failed"
            print(f"[demo] {'done: the clean replay passed and the regression was caught' if ok else 'done, but not as expected: see the runs above'}",
                  flush=True)
        except Exception as exc:
            print(f"[demo] the walk stopped: {exc}", flush=True)

    threading.Thread(target=walk, name="demo-walk", daemon=True).start()


def cmd_up(args) -> int:
    import sys

    from .supervisor import Child, platform_children, supervise

    project = None
    if args.demo:
        rc = cmd_demo(argparse.Namespace(username=None, password=None, no_migrate=False))
        if rc:
            return rc
        from accounts.models import Project

        from .demo import DEMO_SLUG, SHOP_PORT, shop_url
        project = Project.objects.get(slug=DEMO_SLUG)
    else:
        _django()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    base_url = f"http://{args.host}:{args.port}"
    children = platform_children(args.host, args.port, concurrency=args.concurrency)
    if project is not None:
        from django.conf import settings

        from .demo import agent_token

        token = agent_token(project, settings.VAR_DIR)
        children += [
            Child("shop", [sys.executable, "-m", "demo.server", "--port", str(SHOP_PORT)]),
            Child("agent", [sys.executable, "-m", "trackreplay.cli", "agent", "--url", base_url, "--name", "local",
                            "--browsers", "1", "--state-dir", str(settings.VAR_DIR / "agent")],
                  env={"TRACKREPLAY_AGENT_TOKEN": token}),
        ]
        print(WALKTHROUGH.format(host=args.host, port=args.port, shop=shop_url()), flush=True)
        _walk_when_ready(project, base_url, shop_url())
    else:
        print(f"trackreplay is starting at {base_url}/  (Ctrl-C stops it)", flush=True)
    return supervise(children)


def cmd_manage(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackreplay.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["trackreplay manage", *args.rest])
    return 0


def cmd_version(args) -> int:
    print(f"trackreplay {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trackreplay",
        description="Record, replay and verify an app's analytics tracking.",
    )
    parser.add_argument("--version", action="version", version=f"trackreplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    up = sub.add_parser("up", help="start web, Celery worker and beat together; Ctrl-C stops all")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    up.add_argument("--demo", action="store_true", help="create the demo project and admin user first")
    up.set_defaults(func=cmd_up)

    demo = sub.add_parser("demo", help="migrate, create the admin user and the demo project (idempotent)")
    demo.add_argument("--username", help="admin username (default: $TRACKREPLAY_ADMIN_USER or 'admin')")
    demo.add_argument("--password", help="admin password (default: $TRACKREPLAY_ADMIN_PASSWORD or generated)")
    demo.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    demo.set_defaults(func=cmd_demo)

    manage = sub.add_parser("manage", help="run a Django management command (migrate, createsuperuser, ...)",
                            add_help=False)
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)

    from device_agent.agent import add_parser as add_agent
    from device_agent.play import add_parser as add_play
    from mock_records.proxy.runner import add_parser as add_proxy
    from scenarios.cli import add_parsers as add_infer_verify
    from sdk_bridge.cli import add_parser as add_decode

    add_decode(sub)
    add_infer_verify(sub)
    add_proxy(sub)
    add_play(sub)
    add_agent(sub)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
