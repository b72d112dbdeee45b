"""The whole loop as it runs in production, on one machine: the platform (live server), a real Celery worker
on the configured broker (verification), a real agent process with a Chromium device, the real proxy, and
the demo shop. Record learns a scenario; a clean replay passes; a regression in the shop's front end fails
with the right anomalies. An agent killed mid-run fails its run with the reason, frees the device and
uploads what it captured when it starts again; a platform outage mid-run is ridden out by the outbox."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from automation.lifecycle import create_run, expire_leases
from automation.models import AgentToken, Device, Run
from demo.server import DemoShop
from tests.e2e.test_console_browser import browser  # noqa: F401  (the console's Chromium)
from tests.process_audit import long_running_pids
from trackreplay.demo import FLOW, ensure_admin, seed_demo

# The whole-loop tests (agent, platform worker, proxies, browser or phones) run one at a time on one test worker
# (make test: --dist loadgroup): side by side on two cores their 120 s waits were seen to run out.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("loops")]


class Relay:
    """A TCP relay between the agent and the platform that can be cut, like a network outage."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.up.clear()
        for end in self.open:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.open.clear()

    def restore(self):
        self.up.set()

    def close(self):
        self.listener.close()
        self.cut()


class AgentProcess:
    """`trackreplay agent` as its own process. `devices` are its device options (default: one Chromium). With
    `whole_group`, kill() takes its worker processes and their proxies down with it, as a service manager
    does; otherwise only the agent's main process dies."""

    def __init__(self, url: str, token: str, state_dir, log, devices=("--browsers", "1"), whole_group=False):
        self.args = [sys.executable, "-m", "trackreplay.cli", "agent", "--url", url, "--name", "lab",
                     *devices, "--state-dir", str(state_dir)]
        self.env = {**os.environ, "TRACKREPLAY_AGENT_TOKEN": token}
        self.log = log
        self.whole_group = whole_group
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=self.whole_group)
        return self

    def kill(self):
        if self.whole_group:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def database_url_for_workers() -> str:
    """The test database, for another process (the Celery worker) to open."""
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgres://{auth}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


def platform_worker(prefix: str, log) -> subprocess.Popen:
    """The platform's Celery worker, a process of its own on the configured broker, on the test database,
    consuming the verify and default queues under `prefix`."""
    from trackreplay.celery import Queue, queue_name

    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "trackreplay", "worker", "--pool", "solo", "--without-mingle",
         "--without-gossip", "--loglevel", "INFO", "-Q", f"{queue_name(Queue.VERIFY)},{queue_name(Queue.DEFAULT)}"],
        env={**os.environ, "DATABASE_URL": database_url_for_workers(), "TRACKREPLAY_QUEUE_PREFIX": prefix},
        stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def loop(live_server, transactional_db, settings, tmp_path):
    # Queues of our own: this test must not take (or leave) work in anybody else's broker queues.
    prefix = f"{settings.TRACKREPLAY_QUEUE_PREFIX}loop-{uuid.uuid4().hex[:8]}."
    settings.TRACKREPLAY_QUEUE_PREFIX = prefix
    settings.TRACKREPLAY_LEASE_SECONDS = 8
    before = long_running_pids()
    admin, _ = ensure_admin("admin", "loop-pass-1")
    project = seed_demo(admin)
    shop = DemoShop(port=0).start()
    task = project.tasks.get()
    task.app = shop.url
    task.save()
    token = AgentToken.issue(agent=project.agents.get(name="local"), name="test").token
    relay = Relay(int(live_server.url.rsplit(":", 1)[1]))
    log = open(tmp_path / "agent.log", "ab")
    worker_log = open(tmp_path / "worker.log", "ab")
    worker = platform_worker(prefix, worker_log)
    agent = AgentProcess(relay.url, token, tmp_path / "agent", log).start()
    try:
        yield {"project": project, "task": task, "shop": shop, "agent": agent, "relay": relay,
               "log": tmp_path / "agent.log", "state": tmp_path / "agent"}
    finally:
        agent.stop()
        worker.terminate()
        worker.wait(timeout=60)
        relay.close()
        shop.stop()
        log.close()
        worker_log.close()
    assert long_running_pids() <= before, "a browser or proxy outlived the agent"


def wait_for(check, timeout, what, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def finished(run, timeout, log):
    def final():
        run.refresh_from_db()
        return run.status in Run.FINAL
    wait_for(final, timeout, f"run #{run.pk} to finish (it is {run.status})", log)
    return run


def device_online(project, log):
    return wait_for(lambda: Device.objects.filter(project=project, status="online").first(), 60,
                    "the agent's Chromium to come online", log)


def test_record_learn_replay_and_catch_a_regression(loop):
    project, task, shop, log = loop["project"], loop["task"], loop["shop"], loop["log"]
    device_online(project, log)

    recorded = finished(create_run(task, mode="record"), 120, log)
    assert recorded.status == "passed", recorded.error
    task.refresh_from_db()
    record = recorded.test_records.get()
    assert record.is_baseline and task.baseline_record == record and task.mock_record is not None
    assert task.scenario is not None and task.scenario.current_version.rules.exists()
    assert recorded.screenshots.count() == len(recorded.timeline) == recorded.step_count == 9
    assert {e.step for e in record.events.filter(name="tab_click")} == {4, 7}
    paths = set(task.mock_record.exchanges.values_list("path", flat=True))
    assert "/api/home" in paths and "/app.js" not in paths and "/" not in paths

    clean = finished(create_run(task, mode="replay"), 120, log)
    assert clean.status == "passed", clean.error
    report = clean.reports.get()
    assert report.pass_rate == 1.0 and report.strong_anomalies == 0
    assert clean.test_records.get().proxy_report["served"] >= 3

    shop.set_regressions(["wrong_tab_name"])
    broken = finished(create_run(task, mode="replay"), 120, log)
    shop.set_regressions([])
    assert broken.status == "failed"
    anomalies = list(broken.reports.get().anomalies.filter(strength="strong"))
    assert {(a.event_name, a.property_path) for a in anomalies} == {("tab_click", "tab_name")}
    assert any("for tab_id = 2 is 'Fresh'" in a.message for a in anomalies)
    assert Device.objects.get(project=project).status == "online"


def test_an_agent_killed_mid_run_fails_the_run_and_uploads_its_capture_after_restart(loop, settings):
    project, task, log, agent, relay = loop["project"], loop["task"], loop["log"], loop["agent"], loop["relay"]
    device = device_online(project, log)
    script = task.script
    script.source = FLOW.split("steps:")[0] + "steps:\n  - launch: {clear_state: true}\n" \
        "  - tap: {id: popup-close, optional: true, timeout: 2}\n  - wait: 3\n  - tap: {id: tab-2}\n" \
        "  - wait: 120\n"
    script.save()
    run = create_run(task, mode="record")
    wait_for(lambda: any(s["index"] == 3 and s["outcome"] == "running" for s in Run.objects.get(pk=run.pk).timeline),
             60, "step 3 to start", log)
    # The platform becomes unreachable; the app sends tab_click (step 4), which the agent cannot upload;
    # then the agent dies.
    relay.cut()

    def agent_at_step_5():  # read from the agent's own outbox database: the platform cannot hear it now
        import sqlite3

        with sqlite3.connect(loop["state"] / "outbox.sqlite3") as db:
            row = db.execute("SELECT step FROM runs WHERE run = ?", (run.pk,)).fetchone()
        return row and row[0] == 5
    wait_for(agent_at_step_5, 30, "the agent to reach step 5", log)
    time.sleep(0.5)
    agent.kill()
    relay.restore()
    wait_for(lambda: expire_leases() or Run.objects.get(pk=run.pk).status == "error", 30, "the lease to expire")
    run.refresh_from_db()
    assert run.status == "error" and "the agent stopped answering at step" in run.error, run.error
    device.refresh_from_db()
    assert device.status == "online"  # freed; its agent was seen moments ago
    record = run.test_records.get()
    assert not record.events.filter(name="tab_click").exists()  # captured, but still in the agent's outbox

    agent.start()  # the same state folder: its outbox still holds what it captured
    def outbox_empty():
        import sqlite3

        with sqlite3.connect(loop["state"] / "outbox.sqlite3") as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    wait_for(outbox_empty, 60, "the agent's outbox to be uploaded after the restart", log)
    run.refresh_from_db()
    record.refresh_from_db()
    assert run.status == "error"  # it stays failed, with its capture
    assert list(record.events.filter(name="tab_click").values_list("step", flat=True)) == [4]
    assert "run_crashed" in record.health_flags
    outcomes = {s["index"]: s["outcome"] for s in run.timeline}
    assert outcomes[2] in ("passed", "skipped")  # the shop's promotion shows on some calls only
    assert outcomes == {1: "passed", 2: outcomes[2], 3: "passed", 4: "passed", 5: "failed"}, run.timeline
    assert run.timeline[4]["error"].startswith("interrupted: the agent stopped answering"), run.timeline
    wait_for(lambda: Device.objects.get(pk=device.pk).status == "online", 30, "the device to come back")


def test_a_platform_outage_mid_run_is_ridden_out_by_the_outbox(loop):
    project, task, log, relay = loop["project"], loop["task"], loop["log"], loop["relay"]
    device_online(project, log)
    recorded = finished(create_run(task, mode="record"), 120, log)
    assert recorded.status == "passed", recorded.error
    task.refresh_from_db()
    run = create_run(task, mode="replay")
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "running", 60, "the replay to start", log)
    relay.cut()

    def pending_uploads():
        import sqlite3

        with sqlite3.connect(loop["state"] / "outbox.sqlite3") as db:
            return db.execute("SELECT COUNT(*), MAX(attempts) FROM items WHERE run = ?", (run.pk,)).fetchone()
    # Steps run, events are captured, nothing reaches the platform: the uploads wait in the outbox.
    wait_for(lambda: pending_uploads()[0] >= 3 and pending_uploads()[1] >= 1, 30,
             "uploads to pile up and fail while the platform is unreachable", log)
    relay.restore()
    run = finished(run, 120, log)
    assert run.status == "passed", run.error
    record = run.test_records.get()
    assert record.events.count() == recorded.test_records.get().events.count()
    assert "count_mismatch" not in record.health_flags


@pytest.fixture
def online(loop):
    """The loop with its device online, asked before the browser starts: an ORM query made while
    Playwright's event loop runs in this thread would leave a database connection nothing closes."""
    device_online(loop["project"], loop["log"])
    return loop


def test_a_qa_engineer_records_and_replays_from_the_console_and_watches_the_run_live(online, live_server, browser):  # noqa: F811
    # Everything through the console in Chromium, nothing through the ORM while the browser runs.
    project, task = online["project"], online["task"]
    base = live_server.url
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "loop-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/p/{project.slug}/")

    page.goto(f"{base}/p/{project.slug}/tasks/{task.pk}/")
    page.click("button[data-action=record]")
    page.wait_for_url("**/runs/*/")
    # The page polls (htmx): the status moves to passed without a reload.
    page.wait_for_selector("#progress[data-status=passed]", timeout=120_000)
    assert page.locator("table[data-testid=steps] tbody tr[data-outcome]").count() == 9
    assert page.locator("[data-testid=screens] img").count() >= 8  # a screen after each step that ran
    first_shot = page.locator("[data-testid=screens] img").first.get_attribute("src")
    assert page.request.get(f"{base}{first_shot}").body()[:4] == b"\x89PNG"
    assert "tab_click" in page.inner_text("table[data-testid=steps]")  # events per step

    page.goto(f"{base}/p/{project.slug}/tasks/{task.pk}/")
    page.click("button[data-action=replay]")
    page.wait_for_url("**/runs/*/")
    page.wait_for_selector("#progress[data-status=passed]", timeout=120_000)
    page.click("[data-testid=report-link]")
    page.wait_for_url("**/reports/*/")
    assert page.inner_text("[data-testid=pass-rate]").startswith("100%")
    assert not errors, errors
    page.close()
