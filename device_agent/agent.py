"""`trackreplay agent`: the process on a machine with devices attached.

    trackreplay agent --url URL --token TOKEN [--name NAME] [--browsers N] [--android] [--ios]
                      [--wda UDID=URL ...] [--proxy-host ADDRESS] [--ios-proxy-port PORT] [--state-dir DIR]

It registers its host and devices (N local Chromium web devices, the Android phones adb lists, iPhones over USB
or at WebDriverAgent URLs; see device_agent/devices.py) with heartbeats, then becomes a Celery
worker of its own (the Celery app below; no Django) consuming only its agent's queue, where the platform
sends runs by task name (`device_agent.execute_run`, the run id only). Everything else goes over the REST
API with the agent token, through the on-disk outbox. A run's folder (flow files, events, screenshots,
HAR) lives under the state directory until its uploads are done.

Crash safety: the outbox remembers every run in progress. When the agent starts again after being killed,
it uploads what those runs captured and reports them ended ("the agent stopped during the run"); the
platform has failed them already (lease expired, or this restart's first heartbeat) and keeps the upload."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from .client import Client, PlatformError
from .devices import (DeviceBusy, DeviceSet, busy_marker, claim, forget_busy, holder, holding, parse_relaunch_pairs,
                      parse_wda_pairs)
from .flows import FlowError, load_flow
from .outbox import Outbox, Refused
from .play import PlayOptions, play
from .requests import handle_requests

log = logging.getLogger("trackreplay.agent")
VERSION = "0.1.0"
EVENTS_BATCH = 1000
HOLD_WAIT_SECONDS = 90  # a run waits this long for a check or screenshot of its device to end


class Agent:
    def __init__(self, url: str, token: str, *, name: str | None = None, browsers: int = 1,
                 state_dir: Path | None = None, headed: bool = False, android: bool = False, ios: bool = False,
                 wda_urls: dict[str, str] | None = None, proxy_host: str | None = None,
                 ios_proxy_port: int = 8888, wda_relaunch: dict[str, str] | None = None):
        self.client = Client(url, token)
        self.name = name or socket.gethostname()
        self.browsers = browsers
        self.headed = headed
        self.state_dir = Path(state_dir or default_state_dir())
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.device_set = DeviceSet(self.name, browsers=browsers, android=android, ios=ios, wda_urls=wda_urls,
                                    state_dir=self.state_dir, headed=headed, proxy_host=proxy_host,
                                    ios_proxy_port=ios_proxy_port, wda_relaunch=wda_relaunch)
        self.outbox = Outbox(self.state_dir / "outbox.sqlite3")
        self.stopping = threading.Event()
        self.stop_file = self.state_dir / "stopping"
        self.config: dict = {}
        self.devices: dict[int, dict] = {}  # platform device id -> what we reported
        self._threads: list[threading.Thread] = []

    # -- devices and heartbeats ---------------------------------------------------------------------------------
    def device_reports(self) -> list[dict]:
        return self.device_set.reports()

    def heartbeat(self) -> dict:
        reports = self.device_reports()
        answer = self.client.post_json("/api/v1/agent/heartbeat", {
            "hostname": socket.gethostname(), "version": VERSION, "devices": reports,
            "running": self.outbox.running()}, timeout=15)
        self.devices = {item["id"]: report for item, report in zip(answer["devices"], reports)}
        for run_id in answer.get("cancel", []):  # the run's worker process sees this file between steps
            (self.state_dir / f"cancel-{run_id}").touch()
        self.config = answer
        handle_requests(self, answer)  # checks and screenshots people asked for, answered off this thread
        return answer

    # -- what people ask of a device (device_agent/requests.py) ---------------------------------------------------
    def _report_of(self, device_id: int) -> dict:
        from .requests import CannotAnswer

        report = self.devices.get(device_id)
        if report is None:
            raise CannotAnswer(f"this agent holds no device {device_id} now (unplugged, or not one of its devices)")
        return report

    def driver_for(self, device_id: int):
        """What takes a screenshot of one of this agent's phones when asked: the device is held for the moment
        of the screenshot (not while a run or a check holds it), its driver started and closed around it. A web
        device has no screen between runs."""
        from .requests import CannotAnswer

        report = self._report_of(device_id)
        if report["platform"] == "web":
            raise CannotAnswer(f"{report['name']} is a browser the agent opens for each run: there is no screen "
                               f"between runs (each run's page has its screenshots)")
        return _OneScreenshot(self, report)

    def https_check(self, device_id: int) -> tuple[bool, str]:
        from .requests import CannotAnswer

        report = self._report_of(device_id)
        try:
            return self.device_set.https_check(report["platform"], report["serial"], name=report["name"])
        except DeviceBusy as exc:
            raise CannotAnswer(f"{report['name']}: {exc}") from None

    def _heartbeats(self) -> None:
        while not self.stopping.is_set():
            seconds = self.config.get("heartbeat_seconds", 5)
            try:
                self.heartbeat()
            except (PlatformError, Refused) as exc:
                log.warning("heartbeat failed: %s", exc)
            except Exception:  # anything else (a phone answering garbage, a file gone): the next beat tries again
                log.exception("heartbeat failed")
            self.stopping.wait(seconds)

    def _uploads(self) -> None:
        self.outbox.drain(self.client.send, self.stopping)

    def start_background(self) -> None:
        for target, name in ((self._heartbeats, "heartbeat"), (self._uploads, "uploads")):
            thread = threading.Thread(target=target, name=f"trackreplay-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- recovery after a crash -------------------------------------------------------------------------------------
    def recover(self, only: int | None = None, reason: str | None = None) -> list[int]:
        """Runs left unfinished by an earlier life of this agent (or a killed worker process): queue what
        they captured, then their end. A run whose capture cannot be read still gets its end."""
        recovered = []
        for run, folder in self.outbox.unfinished_runs():
            if only is not None and run != only:
                continue
            step = self.outbox.last_step(run)
            where = f" at step {step}" if step else ""
            self.wrap_up(run, folder, outcome="error", error=reason or (
                f"the agent stopped during the run{where}; it uploaded what was captured when it started again"))
            recovered.append(run)
            log.warning("run %s was interrupted%s; its capture is queued for upload", run, where)
        return recovered

    def wrap_up(self, run_id: int, folder: Path, *, outcome: str, error: str) -> None:
        """Queue the rest of a run's capture and its end, whatever goes wrong reading the capture: a run
        without its end would stay running on the platform."""
        try:
            self.queue_new_events(run_id, folder)
        except Exception as exc:
            log.exception("run %s: reading its events", run_id)
            error = f"{error}; some captured events could not be read: {exc}"
        try:
            self.queue_results(run_id, folder, outcome=outcome, error=error)
        except Exception as exc:
            log.exception("run %s: reading its results", run_id)
            self.outbox.put(run_id, "POST", f"/api/v1/agent/runs/{run_id}/finish", json_body={
                "outcome": "error", "error": f"{error}; its results could not be read: {exc}"[:5000], "steps": [],
                "step_count": 0})
        self.outbox.end_run(run_id)

    def worker_processes(self) -> int:
        """One worker process per device, counted at start; an agent offering phones keeps a few more, since
        phones plugged in later are offered too and each run needs a process of its own."""
        phones = self.device_set.android or self.device_set.ios or self.device_set.wda_urls
        return max(1, len(self.devices), 4 if phones else 1)

    def should_stop(self, run_id: int | None = None) -> bool:
        return (self.stopping.is_set() or self.stop_file.exists()
                or (run_id is not None and (self.state_dir / f"cancel-{run_id}").exists()))

    # -- one run --------------------------------------------------------------------------------------------------
    def execute(self, run_id: int) -> str:
        folder = self.state_dir / "runs" / str(run_id)
        known = run_id in [run for run, _ in self.outbox.unfinished_runs()]
        if not known:
            # Listed as running before it is started: a heartbeat between the start and this line would
            # otherwise tell the platform the agent is not running it.
            if folder.exists():
                shutil.rmtree(folder)
            (folder / "flow").mkdir(parents=True)
            self.outbox.begin_run(run_id, folder)
        bundle = None
        for attempt in range(60):  # the platform may be restarting: keep asking for a while
            try:
                bundle = self.client.post_json(f"/api/v1/agent/runs/{run_id}/start")
                break
            except Refused as exc:
                if known:
                    # A redelivered message after the process running it was killed (time limit, crash):
                    # report what it captured instead of running it again.
                    self.recover(only=run_id, reason="the agent's worker process running it was killed (time "
                                                     "limit or crash); what it captured is kept")
                else:
                    log.warning("run %s not started: %s", run_id, exc)  # cancelled or failed meanwhile
                    self.outbox.forget_run(run_id)
                return "refused"
            except PlatformError as exc:
                log.warning("run %s: the platform did not answer its start (%s); asking again", run_id, exc)
                time.sleep(min(2 + attempt, 10))
        if bundle is None:
            self.outbox.forget_run(run_id)  # the platform's start timeout fails the run and frees the device
            return "unreachable"
        try:
            return self._execute(run_id, bundle, folder)
        finally:
            self.outbox.end_run(run_id)

    def _execute(self, run_id: int, bundle: dict, folder: Path) -> str:
        base = f"/api/v1/agent/runs/{run_id}"
        root = (folder / "flow").resolve()
        for name, text in bundle["flow"]["files"].items():
            path = (root / name).resolve()
            if not path.is_relative_to(root) or path == root:  # the platform refuses such names; never write them
                self.wrap_up(run_id, folder, outcome="error",
                             error=f"the flow file name {name!r} points outside the run's folder")
                return "error"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        try:
            flow = load_flow(folder / "flow" / bundle["flow"]["entry"], env=bundle.get("env") or {},
                             app=bundle.get("app"), platform=bundle["platform"] or "web")
        except FlowError as exc:
            self.wrap_up(run_id, folder, outcome="error", error=f"the flow cannot run: {exc}")
            return "error"
        platform, serial = bundle["platform"] or "web", bundle.get("serial") or ""
        options = PlayOptions(platform=platform, mode=bundle["mode"], scope=bundle.get("scope") or [],
                              headed=self.headed, time_cap=bundle.get("time_cap"), device=serial or None,
                              proxy_journal=self.device_set.journal)
        if platform == "ios":
            options.wda_url = self.device_set.wda_urls.get(serial)
            options.proxy_port = self.device_set.proxy_port(serial)
            options.proxy_address = self.device_set.proxy_host
        if bundle["mode"] == "replay":
            mock = bundle["mock"]
            har = folder / "replay.har"
            try:
                har.write_bytes(self.client.get(mock["har"], timeout=120))
            except (PlatformError, Refused) as exc:
                self.wrap_up(run_id, folder, outcome="error", error=f"the mock record could not be fetched: {exc}")
                return "error"
            options.har = har
            options.ignore = mock.get("ignore") or None
            options.unmatched = mock.get("unmatched") or "404"
            options.insecure = bool(mock.get("insecure"))
            options.forward_tracking = bool(mock.get("forward_tracking"))
            if mock.get("global_mocks"):
                options.global_mocks = folder / "global-mocks.json"
                options.global_mocks.write_text(json.dumps(mock["global_mocks"]))
        self.outbox.put(run_id, "POST", f"{base}/steps", json_body={"steps": [], "step_count": len(flow.steps)})

        seen = {"driver": None, "logs": 0}

        def on_started(proxy, driver) -> None:
            seen["driver"] = driver

        def on_result(record: dict) -> None:
            if record["outcome"] == "running":
                self.outbox.set_step(run_id, record["index"])
            self.outbox.put(run_id, "POST", f"{base}/steps", json_body={"steps": [record]})
            if record["outcome"] != "running" and seen["driver"] is not None:
                lines = seen["driver"].logs()[seen["logs"]:]
                if lines:  # live in the console; finish carries the whole log again
                    self.outbox.put(run_id, "POST", f"{base}/logs", json_body={"start": seen["logs"], "lines": lines})
                    seen["logs"] += len(lines)
            if record.get("screenshot"):
                self.outbox.put(run_id, "PUT", f"{base}/screenshots/{record['index']}",
                                body_file=str(folder / record["screenshot"]), content_type="image/png")

        busy = busy_marker(self.state_dir, platform, serial or "-")
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while not claim(busy, f"run {run_id}"):  # a check or a screenshot of the device is under way
            if time.monotonic() >= deadline or self.should_stop(run_id):
                self.wrap_up(run_id, folder, outcome="error", error=(
                    f"the device stayed busy with {holder(busy) or 'something else'} for {HOLD_WAIT_SECONDS} s"))
                return "error"
            time.sleep(0.5)
        tailing = threading.Event()
        tail = threading.Thread(target=self._tail_events, args=(run_id, folder, tailing), daemon=True)
        tail.start()
        try:
            driver = self.device_set.driver(platform, serial) if platform != "web" else None
            timeline = play(flow, folder, options, driver=driver, on_result=on_result, on_started=on_started,
                            should_stop=lambda: self.should_stop(run_id))
            outcome, error = timeline["outcome"], timeline.get("error", "")
        except Exception as exc:  # the device or the proxy broke under the run: report it, keep the capture
            log.exception("run %s broke", run_id)
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            busy.unlink(missing_ok=True)
            tailing.set()
            tail.join(10)
        if (self.state_dir / f"cancel-{run_id}").exists():
            outcome, error = "error", "cancelled: the flow stopped at its next step"
        elif self.should_stop() and outcome != "passed":
            outcome, error = "error", error or "the agent was stopped during the run"
        self.wrap_up(run_id, folder, outcome=outcome, error=error)
        return outcome

    def _tail_events(self, run_id: int, folder: Path, done: threading.Event) -> None:
        while not done.wait(0.5):
            try:
                self.queue_new_events(run_id, folder)
            except Exception:
                log.exception("reading the events of run %s", run_id)

    def queue_new_events(self, run_id: int, folder: Path) -> int:
        """Complete new lines of the run's events file, from where the last queued batch ended."""
        path = folder / "events.jsonl"
        if not path.exists():
            return 0
        offset = self.outbox.events_offset(run_id)
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        lines: list[bytes] = []
        start = cursor = offset
        count = 0
        for raw in data.split(b"\n")[:-1]:  # the last piece has no newline yet: a line still being written
            cursor += len(raw) + 1
            if raw.strip():
                lines.append(raw)
            if len(lines) == EVENTS_BATCH:
                self.outbox.put_events(run_id, f"/api/v1/agent/runs/{run_id}/events", lines, start, cursor)
                count += len(lines)
                lines, start = [], cursor
        if lines:
            self.outbox.put_events(run_id, f"/api/v1/agent/runs/{run_id}/events", lines, start, cursor)
            count += len(lines)
        return count

    def queue_results(self, run_id: int, folder: Path, *, outcome: str, error: str) -> None:
        base = f"/api/v1/agent/runs/{run_id}"
        timeline = _read_json(folder / "timeline.json") or {}
        if (folder / "mock.har").exists():  # written by record runs only
            self.outbox.put(run_id, "POST", f"{base}/recording", body_file=str(folder / "mock.har"))
        elif (folder / "mock.har.partial.jsonl").exists():  # the proxy died before writing its HAR
            entries = []
            for line in (folder / "mock.har.partial.jsonl").read_text(errors="replace").splitlines():
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    log.warning("run %s: a recorded exchange was cut off by the crash; left out", run_id)
            har = {"log": {"version": "1.2", "creator": {"name": "trackreplay", "version": VERSION},
                           "entries": entries}}
            (folder / "mock.har").write_text(json.dumps(har))
            self.outbox.put(run_id, "POST", f"{base}/recording", body_file=str(folder / "mock.har"))
        report = _read_json(folder / "proxy.json")
        if report:
            self.outbox.put(run_id, "POST", f"{base}/proxy-report", json_body=report)
        logs = _read_json(folder / "logs.json") or []
        steps = [_step_payload(step) for step in timeline.get("steps", [])]
        self.outbox.put(run_id, "POST", f"{base}/finish", json_body={
            "outcome": outcome, "error": error[:5000], "steps": steps,
            "step_count": len(timeline.get("steps", [])), "logs": logs[-5000:]})

    # -- the worker -------------------------------------------------------------------------------------------------
    def serve(self) -> int:
        """Register, recover, then run the Celery worker on this agent's queue until stopped."""
        from .celery_app import make_app

        self.stop_file.unlink(missing_ok=True)
        forget_busy(self.state_dir)  # devices an earlier life was running on are free now (and may need clearing)
        self.recover()  # before the first heartbeat: it must not claim runs an earlier life left behind
        while True:
            try:
                answer = self.heartbeat()
                break
            except PlatformError as exc:
                log.warning("the platform is not answering yet (%s); retrying", exc)
                time.sleep(3)
        self.start_background()
        app = make_app(answer["broker"]["url"], answer["broker"].get("transport_options") or {}, self)
        log.info("agent %s: %d device(s) (%s), consuming %s", self.name, len(self.devices),
                 ", ".join(sorted({report["platform"] for report in self.devices.values()})) or "none yet",
                 answer["queue"])
        try:
            # One worker process per device: a run that hangs or crashes its process (hard time limit, a
            # browser taking the process down) costs that device's run only.
            app.worker_main(["worker", "--queues", answer["queue"], "--pool", "prefork",
                             "--concurrency", str(self.worker_processes()), "--without-mingle",
                             "--without-gossip", "--without-heartbeat", "--loglevel", "INFO",
                             "--hostname", f"trackreplay-agent-{answer['agent']}@{socket.gethostname()}"])
        finally:
            self.stopping.set()
            self.outbox.flush(self.client.send, timeout=10)
            self.stop_file.unlink(missing_ok=True)
        return 0


class _OneScreenshot:
    """A screenshot of a phone between runs: held, taken and let go (requests.py calls screenshot(path))."""

    def __init__(self, agent: Agent, report: dict):
        self.agent, self.report = agent, report

    def screenshot(self, path: str) -> None:
        from .requests import CannotAnswer

        platform, serial = self.report["platform"], self.report["serial"]
        try:
            with holding(self.agent.state_dir, platform, serial, "a screenshot"):
                driver = self.agent.device_set.driver(platform, serial)
                try:
                    driver.start()
                    driver.screenshot(path)
                finally:
                    driver.close()
        except DeviceBusy as exc:
            raise CannotAnswer(f"{self.report['name']}: {exc} (a run's screens are on its page)") from None


def _step_payload(step: dict) -> dict:
    keys = ("index", "action", "label", "outcome", "started_at", "finished_at", "error", "screenshot", "line",
            "attempts", "notes")
    return {key: step.get(key) for key in keys if key in step}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def default_state_dir() -> Path:
    base = os.environ.get("TRACKREPLAY_VAR_DIR")
    return (Path(base) if base else Path.cwd() / "var") / "agent"


def add_parser(sub) -> None:
    parser = sub.add_parser("agent", help="run a device agent: register devices, execute runs from the platform",
                            usage="trackreplay agent --url URL --token TOKEN [options]\n"
                                  "       trackreplay agent install-ca --device SERIAL [--system] [--confdir DIR]")
    # Required for running the agent, not for its sub-commands (install-ca): checked in run().
    parser.add_argument("--url", help="the platform, e.g. http://trackreplay.lab:8000 (required to run the agent)")
    parser.add_argument("--token", default=os.environ.get("TRACKREPLAY_AGENT_TOKEN"),
                        help="the agent's token (tra_...; or $TRACKREPLAY_AGENT_TOKEN)")
    parser.add_argument("--name", help="how this host's devices are named (default: the host name)")
    parser.add_argument("--browsers", type=int, default=1, help="local Chromium web devices to offer (default 1; "
                                                                 "0 with phones only)")
    parser.add_argument("--android", action="store_true",
                        help="offer every Android phone adb lists (USB debugging on; ANDROID_ADB_SERVER_PORT honoured)")
    parser.add_argument("--ios", action="store_true", help="offer iPhones attached over USB (usbmux; iOS below 17)")
    parser.add_argument("--wda", action="append", metavar="UDID=URL",
                        help="an iPhone whose WebDriverAgent runs at URL (iOS 17+: go-ios or pymobiledevice3); repeatable")
    parser.add_argument("--wda-relaunch", action="append", metavar="UDID=COMMAND",
                        help="how to start an iPhone's WebDriverAgent again when it died (e.g. go-ios runwda); "
                             "repeatable")
    parser.add_argument("--proxy-host", metavar="ADDRESS",
                        help="this machine's address as iPhones on the lab's Wi-Fi reach it (default: found)")
    parser.add_argument("--ios-proxy-port", type=int, default=8888, metavar="PORT",
                        help="first fixed proxy port for iPhones (each iPhone keeps its own; default 8888)")
    parser.add_argument("--state-dir", help="outbox and run folders (default: $TRACKREPLAY_VAR_DIR/agent or ./var/agent)")
    parser.add_argument("--headed", action="store_true", help="show the browsers (needs a display)")
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="agent_command", metavar="SUBCOMMAND", title="sub-commands")
    install = commands.add_parser("install-ca", help="put the proxy's CA on an attached Android device",
                                  description="Put the proxy's CA on an Android device adb lists: into the user store "
                                              "(pushed, then finished by hand in Settings) or, with --system, into the "
                                              "system store of an emulator or rooted phone.")
    install.add_argument("--device", required=True, metavar="SERIAL", help="the device's adb serial (adb devices)")
    install.add_argument("--system", action="store_true",
                         help="the system store (emulators and rooted phones; Android 13 or older)")
    install.add_argument("--confdir", help="the proxy's CA folder (default: $TRACKREPLAY_MITMPROXY_CONFDIR, else "
                                           "$TRACKREPLAY_VAR_DIR/mitmproxy or ./var/mitmproxy)")
    install.set_defaults(func=run_install_ca)


def run_install_ca(args) -> int:
    import sys

    from mock_records.ca import ca_certificate

    from .drivers.android import install_ca
    from .drivers.base import DriverError

    try:
        pem = ca_certificate(Path(args.confdir) if args.confdir else None)
    except OSError as exc:
        print(f"trackreplay agent install-ca: the proxy's CA could not be read: {exc}", file=sys.stderr)
        return 2
    try:
        print(install_ca(args.device, pem, system=args.system))
    except DriverError as exc:
        print(f"trackreplay agent install-ca: {exc}", file=sys.stderr)
        return 1
    return 0


def run(args) -> int:
    import sys

    if not args.url:
        print("trackreplay agent: --url is required (the platform, e.g. http://trackreplay.lab:8000)", file=sys.stderr)
        return 2
    if not args.token or not args.token.startswith("tra_"):
        print("trackreplay agent: --token must be an agent token (tra_...), created by a project admin",
              file=sys.stderr)
        return 2
    phones = args.android or args.ios or args.wda
    if not (0 if phones else 1) <= args.browsers <= 16:
        print("trackreplay agent: --browsers must be between 1 and 16 (0 when phones are offered)", file=sys.stderr)
        return 2
    try:
        wda_urls = parse_wda_pairs(args.wda)
        wda_relaunch = parse_relaunch_pairs(args.wda_relaunch)
    except ValueError as exc:
        print(f"trackreplay agent: {exc}", file=sys.stderr)
        return 2
    if not 1024 <= args.ios_proxy_port <= 65000:
        print("trackreplay agent: --ios-proxy-port must be from 1024 to 65000", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = Agent(args.url, args.token, name=args.name, browsers=args.browsers,
                  state_dir=Path(args.state_dir) if args.state_dir else None, headed=args.headed,
                  android=args.android, ios=args.ios, wda_urls=wda_urls, proxy_host=args.proxy_host,
                  ios_proxy_port=args.ios_proxy_port, wda_relaunch=wda_relaunch)
    log.info("trackreplay agent %s on %s, talking to %s", VERSION, socket.gethostname(), args.url)
    return agent.serve()
