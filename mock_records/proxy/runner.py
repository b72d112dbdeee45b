"""`trackreplay proxy`: run mitmdump (its own process: mitmproxy pins its dependencies tightly) with the
trackreplay addon. A stored mock record (`--mock-record ID`) is exported to a HAR file and its project's
global mocks and ignore lists to JSON first, so the proxy process needs no database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from device_agent.lifeline import tethered
from mock_records.ca import default_confdir

ADDON = Path(__file__).with_name("addon.py")


def mitmdump() -> str:
    here = Path(sys.executable).with_name("mitmdump")
    return str(here) if here.exists() else (shutil.which("mitmdump") or "mitmdump")


def command(args, folder: Path) -> list[str]:
    options = {
        "trackreplay_mode": args.mode, "trackreplay_unmatched": args.unmatched, "trackreplay_repeat": args.repeat,
        "trackreplay_har": args.har or "", "trackreplay_out": args.out or "", "trackreplay_events": args.events or "",
        "trackreplay_stats": args.stats or "", "trackreplay_ignore": args.ignore or "",
        "trackreplay_global": args.global_mocks or "",
        "trackreplay_platform": args.platform or "", "trackreplay_run_token": args.run_token or "",
        "trackreplay_scope": ",".join(args.scope or []) or "all",
        # One CA for the platform and every proxy: a device trusts it once (see mock_records/ca.py).
        "confdir": args.confdir or str(default_confdir()),
    }
    argv = [mitmdump(), "--quiet", "--listen-host", getattr(args, "listen_host", None) or args.host, "--listen-port", str(args.port), "-s", str(ADDON),
            "--set", f"ssl_insecure={'true' if args.insecure else 'false'}"]
    for key, value in options.items():
        argv += ["--set", f"{key}={value}"]
    if args.forward_tracking:
        argv += ["--set", "trackreplay_forward_tracking=true"]
    # Do not connect upstream when a client opens a tunnel: in a replay the answer may come from the record and
    # the real API may be down (or must not be reached at all); in every mode trackreplay.control and tracking
    # endpoints are answered here and have no upstream to reach.
    argv += ["--set", "connection_strategy=lazy"]
    if args.upstream_ca:
        argv += ["--set", f"ssl_verify_upstream_trusted_ca={args.upstream_ca}"]
    return argv


def _from_database(args, folder: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackreplay.settings")
    import django

    django.setup()
    from mock_records.har_io import export_har
    from mock_records.models import MockRecord

    record = MockRecord.objects.select_related("project").filter(pk=args.mock_record).first()
    if record is None:
        raise SystemExit(f"trackreplay proxy: no mock record {args.mock_record}")
    har = folder / f"mock-record-{record.pk}.har"
    har.write_text(json.dumps(export_har(record)))
    args.har = str(har)
    replay = record.replay_settings()
    path = folder / "global-mocks.json"
    path.write_text(json.dumps(replay["global_mocks"]))
    args.global_mocks = str(path)
    args.forward_tracking = args.forward_tracking or replay["forward_tracking"]
    if replay["insecure"]:
        args.insecure = True  # the project chose to skip upstream certificate checks
    if not args.ignore:
        args.ignore = json.dumps(replay["ignore"]) if replay["ignore"] else None
    if args.unmatched is None:
        args.unmatched = replay["unmatched"]


def run(args) -> int:
    from mock_records.scope import MockScope, ScopeError

    try:
        MockScope.parse(args.scope)
    except ScopeError as exc:
        print(f"trackreplay proxy: --scope: {exc}", file=sys.stderr)
        return 2
    if args.mode == "replay" and not (args.har or args.mock_record):
        print("trackreplay proxy: replay needs --har FILE or --mock-record ID", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="trackreplay-proxy-"))
    try:
        if args.mock_record:
            _from_database(args, folder)
        args.unmatched = args.unmatched or "404"
        if args.har and not Path(args.har).is_file():
            print(f"trackreplay proxy: {args.har}: no such file", file=sys.stderr)
            return 2
        # mitmdump dies with this runner, even when the runner is killed outright.
        argv, preexec = tethered(command(args, folder))
        process = subprocess.Popen(argv, preexec_fn=preexec)

        def stop(signum, frame):  # SIGTERM as Ctrl-C: mitmdump writes its HAR and report on SIGINT
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            return process.wait(timeout=30)
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def add_parser(sub) -> None:
    parser = sub.add_parser("proxy", help="run the recording/replaying mitmproxy (its own process)")
    parser.add_argument("--mode", choices=["record", "replay", "capture"], required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 for devices on the LAN)")
    parser.add_argument("--mock-record", type=int, metavar="ID", help="replay a stored mock record")
    parser.add_argument("--har", metavar="FILE", help="replay a HAR file")
    parser.add_argument("--out", metavar="FILE", help="record: write the exchanges to this HAR file")
    parser.add_argument("--events", metavar="FILE", help="append the decoded tracking events to this JSON Lines file")
    parser.add_argument("--stats", metavar="FILE", help="keep what was served and missed in this JSON file")
    parser.add_argument("--ignore", metavar="JSON", help='volatile fields: {"query": [...], "json": [...], ...}')
    parser.add_argument("--global-mocks", metavar="FILE", help="JSON list of global mocks")
    parser.add_argument("--unmatched", choices=["passthrough", "404", "502"], default=None,
                        help="replay: what unmatched requests get (default: the record's policy, else 404)")
    parser.add_argument("--repeat", choices=["last", "cycle", "once"], default="last",
                        help="replay: what repeated identical requests get once the recorded answers run out")
    parser.add_argument("--scope", action="append", metavar="SCOPE",
                        help="what is recorded and replayed: all (default), api (fetch/XHR calls only, for web apps), "
                             "or host and path patterns (api.shop.example, /api/*); repeatable")
    parser.add_argument("--platform", metavar="URL", help="send events and the proxy report to this platform")
    parser.add_argument("--run-token", metavar="TOKEN", help="the run's token (trr_...), with --platform")
    parser.add_argument("--forward-tracking", action="store_true", help="also send tracking requests upstream")
    parser.add_argument("--insecure", action="store_true", help="do not verify upstream TLS certificates")
    parser.add_argument("--upstream-ca", metavar="PEM", help="also trust this CA for upstream TLS (a staging API)")
    parser.add_argument("--confdir", help="mitmproxy's folder, where its CA lives (default: the platform's, "
                                          "$TRACKREPLAY_MITMPROXY_CONFDIR or var/mitmproxy)")
    parser.set_defaults(func=run)
