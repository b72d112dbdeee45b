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
trackreplay is starting at http://{host}:{port}/
  1. Log in as the admin user above.
  2. Overview of the demo project: http://{host}:{port}/p/demo-shop/
  3. Tracking plan (events, properties, owners): /p/demo-shop/tracking-plan/
  4. The recorded mock record and its exchanges (JSON bodies pretty-printed, binary shown as hex): /p/demo-shop/mock-records/
  5. The baseline test record and its events: /p/demo-shop/test-records/
  6. The scenario with its rules and the global scenario: /p/demo-shop/scenarios/
  6b. A red report (build 5.4.0 sends the wrong tab_name): /p/demo-shop/reports/ -- open it, read the
      anomaly and the recorded-vs-replayed diff, and try a repair button (it makes a new scenario version
      and re-verifies without a device).
  7. Task, nightly task group (02:00 Asia/Shanghai, kept in Celery beat), device, faults, channels.
  8. The REST API and its OpenAPI docs: http://{host}:{port}/api/docs/   Django admin: /admin/
Stop everything with Ctrl-C.
"""


def cmd_up(args) -> int:
    from .supervisor import platform_children, supervise

    if args.demo:
        rc = cmd_demo(argparse.Namespace(username=None, password=None, no_migrate=False))
        if rc:
            return rc
    else:
        _django()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    print(WALKTHROUGH.format(host=args.host, port=args.port), flush=True)
    return supervise(platform_children(args.host, args.port, concurrency=args.concurrency))


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

    from device_agent.play import add_parser as add_play
    from mock_records.proxy.runner import add_parser as add_proxy
    from scenarios.cli import add_parsers as add_infer_verify
    from sdk_bridge.cli import add_parser as add_decode

    add_decode(sub)
    add_infer_verify(sub)
    add_proxy(sub)
    add_play(sub)

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
