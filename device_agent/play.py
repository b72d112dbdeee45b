"""`trackreplay play`: one flow on one local device, with no platform (a laptop, or CI without a server).

    trackreplay play FLOW.yaml --platform web [--record DIR | --mock MOCK.har --out DIR | --out DIR]
                     [--env K=V ...] [--app APP] [--mock-scope SCOPE ...] [--headed]

It starts the proxy and the browser, runs the flow and writes into DIR: events.jsonl (the captured
tracking events, each with the step it followed), mock.har (record mode), timeline.json, screenshots/,
proxy.json (served, missed with reasons, passed through) and logs.json (the browser's console). Exit 0
when every non-optional step passed, 1 when a step failed, 2 on bad input. `trackreplay infer` and
`verify` read its output unchanged. The same function runs a run's flow inside the agent."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mock_records.scope import MockScope, ScopeError

from .flows import Flow, FlowError, load_flow, parse_env_pairs
from .player import Player, now_iso
from .proxy import ProxyError, ProxyProcess

PLATFORMS = ("web", "android", "ios")


@dataclass
class PlayOptions:
    platform: str = "web"
    mode: str = "capture"  # record, replay or capture
    har: Path | None = None  # replay: the mock record as HAR
    scope: list[str] = field(default_factory=list)  # empty: 'api' on the web, 'all' on phones
    ignore: dict | None = None
    unmatched: str = "404"
    global_mocks: Path | None = None
    headed: bool = False
    screenshots: bool = True
    time_cap: float | None = None
    confdir: Path | None = None
    insecure: bool = False
    forward_tracking: bool = False


def default_scope(platform: str, given: list[str]) -> list[str]:
    return list(given) if given else (["api"] if platform == "web" else ["all"])


def make_driver(platform: str, *, headed: bool = False):
    if platform == "web":
        from .drivers.web import WebDriver

        return WebDriver(headed=headed)
    raise FlowError("--platform", None, f"no {platform} driver on this agent yet: web devices only "
                                        f"(Android and iOS drivers arrive with their own issue)")


class _Stop(BaseException):
    """SIGTERM, raised like KeyboardInterrupt for SIGINT: not an error a step can catch and carry on from."""


def play(flow: Flow, out_dir: Path, options: PlayOptions, *, driver=None, on_result=None, on_started=None,
         should_stop=None) -> dict:
    """Run the flow through a proxy on a driver, writing everything into out_dir. Returns the timeline.
    The proxy and the browser end whatever happens (a failed step, an exception, SIGTERM)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    events = out_dir / "events.jsonl"
    events.write_bytes(b"")
    stats = out_dir / "proxy.json"
    proxy = ProxyProcess(options.mode, out_dir, har=options.har,
                         out=out_dir / "mock.har" if options.mode == "record" else None, events=events, stats=stats,
                         scope=default_scope(options.platform, options.scope), ignore=options.ignore,
                         unmatched=options.unmatched, global_mocks=options.global_mocks, confdir=options.confdir,
                         insecure=options.insecure, forward_tracking=options.forward_tracking,
                         log=out_dir / "proxy.log")
    driver = driver or make_driver(options.platform, headed=options.headed)
    timeline = {"flow": flow.name, "platform": options.platform, "mode": options.mode, "outcome": "failed",
                "started_at": now_iso(), "finished_at": None, "error": "", "steps": []}
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum, frame):
        raise _Stop()

    in_main_thread = _main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: the finally below cleans up
    try:
        proxy.start()
        driver.set_proxy(proxy.host, proxy.port)
        driver.start()
        if on_started is not None:
            on_started(proxy, driver)
        player = Player(driver, flow, out_dir=out_dir, mode=options.mode, on_step=proxy.set_step,
                        on_result=on_result, screenshots=options.screenshots, time_cap=options.time_cap,
                        should_stop=should_stop)
        timeline = player.timeline  # filled in as the steps run: kept whatever stops them
        player.play()
    except (KeyboardInterrupt, _Stop):
        timeline["error"] = "stopped by a signal before the flow finished"
        timeline["outcome"] = "failed"
        raise
    except ProxyError as exc:
        timeline["error"] = f"proxy: {exc}"
    finally:
        if timeline.get("outcome") == "running":
            timeline["outcome"] = "failed"
            timeline["error"] = timeline.get("error") or "the run stopped before the flow finished"
        timeline["finished_at"] = timeline.get("finished_at") or now_iso()
        try:
            (out_dir / "logs.json").write_text(json.dumps(driver.logs(), ensure_ascii=False, indent=1))
        except Exception:
            pass
        try:
            driver.clear_proxy()
        finally:
            try:
                driver.close()
            finally:
                proxy.stop()
                (out_dir / "timeline.json").write_text(json.dumps(timeline, ensure_ascii=False, indent=2))
                if in_main_thread:
                    signal.signal(signal.SIGTERM, previous)
    return timeline


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- the command --------------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    parser = sub.add_parser("play", help="run a flow on a local device through the proxy, no platform needed")
    parser.add_argument("flow", metavar="FLOW.yaml")
    parser.add_argument("--platform", choices=PLATFORMS, default="web")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--record", metavar="DIR", help="record: API exchanges into DIR/mock.har, events too")
    where.add_argument("--out", metavar="DIR", help="where events, timeline, screenshots go (replay or capture)")
    parser.add_argument("--mock", metavar="MOCK.har", help="replay: answer the API from this HAR (with --out)")
    parser.add_argument("--env", action="append", metavar="K=V", help="override a flow variable; repeatable")
    parser.add_argument("--app", help="the app to run instead of the flow's app: (picks its apps: variables)")
    parser.add_argument("--mock-scope", action="append", metavar="SCOPE",
                        help="what is recorded and replayed: api (web default: fetch/XHR), all (phones' default), "
                             "or host and path patterns (api.shop.example, /api/*); repeatable")
    parser.add_argument("--ignore", metavar="JSON", help='replay: volatile fields, {"query": ["ts"], ...}')
    parser.add_argument("--unmatched", choices=["passthrough", "404", "502"],
                        help="replay: what requests missing from the record get (default 404)")
    parser.add_argument("--time-cap", type=float, metavar="S", help="stop the flow after S seconds")
    parser.add_argument("--no-screenshots", action="store_true", help="no screenshot after each step")
    parser.add_argument("--headed", action="store_true", help="show the browser window (needs a display)")
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"trackreplay play: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    try:
        env = parse_env_pairs(args.env)
    except ValueError as exc:
        return _fail(str(exc))
    if args.mock and not args.out:
        return _fail("--mock needs --out DIR (the record is not written over)")
    if not args.mock and (args.ignore or args.unmatched):
        return _fail("--ignore and --unmatched are for replays: give --mock MOCK.har too")
    if args.time_cap is not None and args.time_cap <= 0:
        return _fail(f"--time-cap must be a positive number of seconds, not {args.time_cap:g}")
    if args.mock and not Path(args.mock).is_file():
        return _fail(f"--mock {args.mock}: no such file")
    try:
        MockScope.parse(args.mock_scope)
    except ScopeError as exc:
        return _fail(f"--mock-scope: {exc}")
    ignore = None
    if args.ignore:
        try:
            ignore = json.loads(args.ignore)
            assert isinstance(ignore, dict)
        except (ValueError, AssertionError):
            return _fail('--ignore must be a JSON object such as {"query": ["ts"]}')
    try:
        flow = load_flow(args.flow, env=env, app=args.app)
        if args.platform != "web":
            make_driver(args.platform)
    except FlowError as exc:
        return _fail(str(exc))
    mode = "record" if args.record else "replay" if args.mock else "capture"
    out_dir = Path(args.record or args.out)
    options = PlayOptions(platform=args.platform, mode=mode, har=Path(args.mock) if args.mock else None,
                          scope=args.mock_scope or [], ignore=ignore, unmatched=args.unmatched or "404",
                          headed=args.headed,
                          screenshots=not args.no_screenshots, time_cap=args.time_cap)

    def show(record):
        if record["outcome"] == "running":
            return
        mark = {"passed": "ok", "failed": "FAILED", "skipped": "skipped"}[record["outcome"]]
        detail = f"  {record['error']}" if record["error"] else ""
        print(f"  {record['index']:>3}. {record['label']:<50} {mark}{detail}", flush=True)

    print(f"{flow.name}: {len(flow.steps)} steps on {args.platform}, {mode} -> {out_dir}", flush=True)
    try:
        timeline = play(flow, out_dir, options, on_result=show)
    except KeyboardInterrupt:
        print("trackreplay play: interrupted; what was captured is in the output folder", file=sys.stderr)
        return 1
    except _Stop:
        print("trackreplay play: terminated; what was captured is in the output folder", file=sys.stderr)
        return 1
    events = sum(1 for _ in open(out_dir / "events.jsonl", "rb"))
    print(f"{timeline['outcome']}: {events} events captured; timeline in {out_dir / 'timeline.json'}", flush=True)
    if timeline["error"]:
        print(f"  {timeline['error']}", file=sys.stderr)
    return 0 if timeline["outcome"] == "passed" else 1
