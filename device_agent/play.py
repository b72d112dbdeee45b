"""`trackreplay play`: one flow on one local device, with no platform (a laptop, or CI without a server).

    trackreplay play FLOW.yaml [--platform web | --platform android --device SERIAL
                               | --platform ios --device UDID [--wda-url URL] [--proxy-port PORT]]
                     [--record DIR | --mock MOCK.har --out DIR | --out DIR]
                     [--env K=V ...] [--app APP] [--mock-scope SCOPE ...] [--headed]

It starts the proxy and the device (a browser, an Android phone through adb and uiautomator2, an iPhone
through WebDriverAgent), runs the flow and writes into DIR: events.jsonl (the captured tracking events, each
with the step it followed), mock.har (record mode), timeline.json, screenshots/, proxy.json (served, missed
with reasons, passed through, TLS refusals) and logs.json (the browser's console, the phone's logcat). Exit 0
when every non-optional step passed, 1 when a step failed, 2 on bad input. `trackreplay infer` and `verify`
read its output unchanged. The same function runs a run's flow inside the agent.

An Android phone reaches the proxy on this machine's loopback through `adb reverse`, and its proxy setting
is cleared whatever happens. An iPhone's proxy cannot be set by a program: set it by hand to this machine's
address and --proxy-port (default 8888); the run begins with a probe through the proxy and fails at once,
saying so, when the phone is not using it."""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mock_records.scope import MockScope, ScopeError

from .drivers.base import DriverError
from .flows import Flow, FlowError, load_flow, parse_env_pairs
from .player import Player, now_iso
from .proxy import ProxyError, ProxyProcess

PLATFORMS = ("web", "android", "ios")
IOS_PROXY_PORT = 8888


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
    device: str | None = None  # Android serial or iOS UDID
    wda_url: str | None = None
    wda_relaunch: str | None = None  # the command that starts the iPhone's WDA again when it died
    proxy_port: int | None = None  # fixed port, listening on every interface (iPhones set by hand)
    proxy_address: str | None = None  # the address phones reach the proxy at (iPhones set by hand)
    proxy_journal: object | None = None  # devices.ProxyJournal: Android phones whose proxy a run set


def default_scope(platform: str, given: list[str]) -> list[str]:
    return list(given) if given else (["api"] if platform == "web" else ["all"])


def make_driver(platform: str, *, headed: bool = False, device: str | None = None, wda_url: str | None = None,
                wda_relaunch: str | None = None):
    if platform == "web":
        from .drivers.web import WebDriver

        return WebDriver(headed=headed)
    if not device:
        raise FlowError("--device", None, f"--platform {platform} needs --device "
                                          f"{'SERIAL (adb devices lists them)' if platform == 'android' else 'UDID'}")
    if platform == "android":
        from .drivers.android import AndroidDriver

        return AndroidDriver(device)
    if platform == "ios":
        from .drivers.ios import IOSDriver

        try:
            return IOSDriver(device, wda_url=wda_url, relaunch=wda_relaunch)
        except ValueError as exc:
            raise FlowError("--wda-url", None, str(exc)) from None
    raise FlowError("--platform", None, f"no platform {platform!r}; known: {', '.join(PLATFORMS)}")


def check_proxy_in_use(platform: str, driver, proxy) -> None:
    """An iPhone's proxy is set by hand: prove the phone uses this one before the flow starts."""
    if platform != "ios":
        return
    from .drivers.ios import proxy_probe

    ok, detail = proxy_probe(driver, proxy)
    if not ok:
        raise ProxyError(detail)


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
                         log=out_dir / "proxy.log",
                         listen_host="0.0.0.0" if options.proxy_port else None, port=options.proxy_port)
    driver = driver or make_driver(options.platform, headed=options.headed, device=options.device,
                                   wda_url=options.wda_url, wda_relaunch=options.wda_relaunch)
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
        journal = options.proxy_journal if options.platform == "android" and options.device else None
        if journal is not None:  # before the setting: an agent killed right after still knows to clear it
            journal.mark(options.device)
        if options.proxy_port:  # a phone on the lab's network: it reaches this machine at its LAN address
            from .devices import lan_address

            driver.set_proxy(options.proxy_address or lan_address(), proxy.port)
        else:
            driver.set_proxy(proxy.host, proxy.port)
        driver.start()
        check_proxy_in_use(options.platform, driver, proxy)
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
    except DriverError as exc:  # the device could not be made ready (no such phone, WDA down): nothing ran
        timeline["error"] = f"{options.platform} device: {exc}"
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
            if options.proxy_journal is not None and options.device:
                options.proxy_journal.done(options.device)
        except DriverError as exc:  # unplugged: the agent's journal keeps the phone and clears it when it is back
            later = ("the agent clears it when the phone is back" if options.proxy_journal is not None else
                     "clear it by hand: adb shell settings put global http_proxy :0")
            note = f"the phone's proxy setting could not be cleared ({exc}); {later}"
            timeline["error"] = f"{timeline['error']}; {note}" if timeline.get("error") else note
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
    parser.add_argument("--device", metavar="SERIAL|UDID", help="the phone: an adb serial (Android) or a UDID (iOS)")
    parser.add_argument("--wda-url", metavar="URL", help="iOS: WebDriverAgent's URL (iOS 17+, started by go-ios or "
                                                          "pymobiledevice3); else it is reached over USB")
    parser.add_argument("--wda-relaunch", metavar="COMMAND", help="iOS: how to start WDA again when it died "
                                                                  "(e.g. 'ios runwda --udid UDID')")
    parser.add_argument("--proxy-port", type=int, metavar="PORT",
                        help=f"iOS: the port the phone's proxy is set to by hand (default {IOS_PROXY_PORT}); the proxy "
                             f"listens on every interface")
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
    if args.platform == "web" and (args.device or args.wda_url or args.proxy_port or args.wda_relaunch):
        return _fail("--device, --wda-url, --wda-relaunch and --proxy-port are for phones (--platform android or ios)")
    if args.platform == "android" and (args.wda_url or args.proxy_port or args.wda_relaunch):
        return _fail("--wda-url, --wda-relaunch and --proxy-port are for iPhones: an Android phone's proxy is set "
                     "through adb")
    if args.proxy_port is not None and not 1 <= args.proxy_port <= 65535:
        return _fail(f"--proxy-port must be from 1 to 65535, not {args.proxy_port}")
    try:
        flow = load_flow(args.flow, env=env, app=args.app, platform=args.platform)
        driver = make_driver(args.platform, headed=args.headed, device=args.device, wda_url=args.wda_url,
                             wda_relaunch=args.wda_relaunch)
    except FlowError as exc:
        return _fail(str(exc))
    mode = "record" if args.record else "replay" if args.mock else "capture"
    out_dir = Path(args.record or args.out)
    options = PlayOptions(platform=args.platform, mode=mode, har=Path(args.mock) if args.mock else None,
                          scope=args.mock_scope or [], ignore=ignore, unmatched=args.unmatched or "404",
                          headed=args.headed, screenshots=not args.no_screenshots, time_cap=args.time_cap,
                          device=args.device, wda_url=args.wda_url, wda_relaunch=args.wda_relaunch,
                          proxy_port=(args.proxy_port or IOS_PROXY_PORT) if args.platform == "ios" else None)

    def show(record):
        if record["outcome"] == "running":
            return
        mark = {"passed": "ok", "failed": "FAILED", "skipped": "skipped"}[record["outcome"]]
        detail = f"  {record['error']}" if record["error"] else ""
        print(f"  {record['index']:>3}. {record['label']:<50} {mark}{detail}", flush=True)

    print(f"{flow.name}: {len(flow.steps)} steps on {args.platform}, {mode} -> {out_dir}", flush=True)
    try:
        timeline = play(flow, out_dir, options, driver=driver, on_result=show)
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
