"""A run's life on the platform: dispatched to a free matching device, started by its agent, kept alive by
the agent's heartbeats (a lease), finished, verified into a report.

    queued -> (dispatched: device and lease set) -> running -> verifying -> passed / failed / error

Every move is a compare-and-swap on the row (`filter(pk=..., status=old).update(...)`), so a repeated
message, two housekeeping passes or an agent retrying an upload cannot move a run twice. A device is held
by at most one run: it is claimed by the same kind of swap (online -> busy) and freed when the run ends.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from test_records.models import HealthFlag, RecordSource, TestRecord

from .models import Agent, Device, DeviceStatus, ProxyMode, Run, RunMode, RunStatus

log = logging.getLogger(__name__)
EXECUTE_TASK = "device_agent.execute_run"
START_SECONDS = 120  # a dispatched run the agent has not started by then fails and frees its device
REVERIFY_SECONDS = 600  # a run verifying this long lost its verification message: it is sent again


class RunConflict(Exception):
    """The run is not in a state that allows this (the message says which state it is in)."""


def lease_seconds() -> int:
    return settings.TRACKREPLAY_LEASE_SECONDS


def _lease(now=None):
    return (now or timezone.now()) + timedelta(seconds=lease_seconds())


# -- dispatch -----------------------------------------------------------------------------------------------

def matching_devices(run: Run):
    """Free devices a run may take, least recently used first: the task's platform and labels, online, on an
    agent seen recently."""
    if run.device_id is not None:
        devices = Device.objects.filter(pk=run.device_id)
    else:
        devices = Device.objects.filter(project_id=run.project_id)
    seen_since = timezone.now() - timedelta(seconds=settings.TRACKREPLAY_DEVICE_OFFLINE_SECONDS)
    devices = devices.filter(status=DeviceStatus.ONLINE, platform=selector_platform(run.task), agent__isnull=False,
                             agent__last_seen_at__gte=seen_since).select_related("agent")
    wanted = set((run.task.device_selector or {}).get("labels") or [])
    return [device for device in devices.order_by("last_seen_at", "pk") if wanted <= set(device.labels or [])]


def run_time_limits(time_cap: int) -> tuple[int, int]:
    """(soft, hard) Celery time limits of a run message: past the run's time cap plus a margin the agent's worker
    gets SoftTimeLimitExceeded (the flow stops, the capture is kept), and later its process is killed."""
    return time_cap + 120, time_cap + 180


def send_to_agent(run_id: int, agent_id: int, time_cap: int) -> None:
    """Ids only; the agent fetches the rest."""
    from trackreplay.celery import agent_queue, app

    soft, hard = run_time_limits(time_cap)
    app.send_task(EXECUTE_TASK, args=[run_id], queue=agent_queue(agent_id), soft_time_limit=soft, time_limit=hard)


def dispatch_queued(project_id: int | None = None) -> list[Run]:
    """Give every waiting run a free matching device, oldest run first; returns the runs dispatched."""
    waiting = Run.objects.filter(status=RunStatus.QUEUED, lease_expires_at__isnull=True).select_related(
        "task__script").order_by("created_at", "pk")
    if project_id is not None:
        waiting = waiting.filter(project_id=project_id)
    dispatched = []
    for run in waiting[:200]:
        if run.mode == RunMode.REPLAY and run.task.mock_record_id is None:
            fail_run(run, f"nothing to replay: task {run.task.name!r} has no mock record (record it first)")
            continue
        for device in matching_devices(run):
            if not Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE).update(status=DeviceStatus.BUSY):
                continue  # another dispatcher took it first
            with transaction.atomic():
                taken = Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED, lease_expires_at__isnull=True).update(
                    device=device, lease_expires_at=timezone.now() + timedelta(seconds=START_SECONDS))
                if not taken:
                    Device.objects.filter(pk=device.pk, status=DeviceStatus.BUSY).update(status=DeviceStatus.ONLINE)
                    break
                agent_id, cap = device.agent_id, run.task.time_cap
                transaction.on_commit(lambda run_id=run.pk, agent_id=agent_id, cap=cap: send_to_agent(run_id, agent_id,
                                                                                                      cap))
            dispatched.append(run)
            break
    return dispatched


def request_dispatch(project_id: int | None = None) -> None:
    """Dispatch once the surrounding transaction has committed (the new run or free device is visible)."""
    transaction.on_commit(lambda: dispatch_queued(project_id))


# -- the agent's side ----------------------------------------------------------------------------------------

def runs_of_agent(agent: Agent):
    return Run.objects.filter(device__agent=agent)


def start_run(run: Run, agent: Agent) -> Run:
    """The agent took the run from its queue: queued (dispatched to this agent) -> running, exactly once."""
    now = timezone.now()
    started = Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED, device__agent=agent,
                                 lease_expires_at__isnull=False).update(
        status=RunStatus.RUNNING, started_at=now, lease_expires_at=_lease(now), error="")
    run.refresh_from_db()
    if not started:
        # Also when it is running already: a second delivery of the message must not run the flow twice.
        raise RunConflict(f"run {run.pk} is {run.status}; it cannot start"
                          + (f" ({run.error})" if run.error else ""))
    return run


def bundle(run: Run) -> dict:
    """Everything the agent needs to execute the run, ids and text only."""
    from device_agent.flows import FlowError
    from mock_records.scope import MockScope

    task = run.task
    script = task.script
    scope = [part.strip() for part in task.mock_scope.split(",") if part.strip()]
    MockScope.parse(scope)  # validated on save; a bad row fails here with its reason, not on the device
    env = {str(k): str(v) for k, v in (task.env or {}).items()}
    platform = run.device.platform if run.device else selector_platform(task)
    try:  # the flow as the agent will read it: an included flow may have changed since this one was saved
        script.parse(env=env, app=task.app or None, platform=platform)
    except FlowError as exc:
        raise RunConflict(f"the flow cannot run: {exc}") from None
    payload = {
        "run": run.pk, "mode": run.mode, "task": task.name, "platform": run.device.platform if run.device else "",
        "device": run.device_id, "serial": run.device.serial if run.device else "",
        "flow": {"entry": script.path, "files": script.bundle()},
        "app": task.app or None, "env": env, "scope": scope, "time_cap": task.time_cap,
    }
    if run.mode == RunMode.REPLAY:
        if task.mock_record is None:
            raise RunConflict("a replay needs the task's mock record: record the task first")
        payload["mock"] = {"har": f"/api/v1/agent/runs/{run.pk}/mock.har", **task.mock_record.replay_settings()}
    return payload


def merged_timeline(old: list[dict], new: list[dict]) -> list[dict]:
    by_index = {step["index"]: step for step in old or []}
    for step in new:
        by_index[step["index"]] = step
    return [by_index[i] for i in sorted(by_index)]


def interrupted(steps: list[dict], reason: str) -> list[dict]:
    """Steps still marked running in a run that ended: they failed, and the reason says why."""
    return [dict(step, outcome="failed", error=step.get("error") or f"interrupted: {reason}")
            if step.get("outcome") == "running" else step for step in steps]


def record_steps(run: Run, steps: list[dict]) -> None:
    """Merge step results (by index) into the run's timeline: uploads may repeat or arrive twice."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.is_final:  # late uploads of a run that ended without its agent: "running" is stale news
            known = {step["index"]: step.get("outcome") for step in locked.timeline or []}
            steps = interrupted([step for step in steps if step.get("outcome") != "running"
                                 or known.get(step["index"]) in (None, "running")], locked.error)
        Run.objects.filter(pk=run.pk).update(timeline=merged_timeline(locked.timeline, steps))


def heartbeat(agent: Agent, *, hostname: str, version: str, devices: list[dict], running: list[int]) -> dict:
    """The agent is alive: the devices it lists are online (busy while a run holds them) with what it reports
    about them, the ones it no longer lists are offline (unplugged), the leases of its running runs are
    extended, and a run it holds but no longer runs (it restarted) fails with the reason. The answer offers
    the agent the checks and screenshots people asked of its devices."""
    from .device_requests import offered

    now = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=now, hostname=hostname[:255], version=version[:40])
    known = []
    for item in devices:
        serial = item.get("serial") or ""
        device = (Device.objects.filter(agent=agent, serial=serial, name=item["name"]).first()
                  or Device.objects.filter(agent=agent, serial=serial).exclude(serial="").first())
        fields = {"platform": item["platform"], "model": item.get("model", "")[:120],
                  "os_version": item.get("os_version", "")[:40], "screen": item.get("screen", ""),
                  "battery": item.get("battery"), "proxy_mode": item.get("proxy", ProxyMode.AUTO),
                  "wda_url": item.get("wda_url", ""), "proxy_address": item.get("proxy_address", ""),
                  "last_seen_at": now}
        if device is None:
            device = Device.objects.create(project_id=agent.project_id, agent=agent, name=item["name"][:100],
                                           serial=serial[:120], labels=item.get("labels") or [],
                                           status=DeviceStatus.ONLINE, **fields)
        else:
            Device.objects.filter(pk=device.pk).update(**fields)
            if device.status == DeviceStatus.OFFLINE:
                # Back after an unplug or an agent outage: busy again if its run is still on (the agent
                # listed it as running all along), else free for the dispatcher.
                held = Run.objects.filter(device=device, status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                                          lease_expires_at__isnull=False).exists()
                Device.objects.filter(pk=device.pk, status=DeviceStatus.OFFLINE).update(
                    status=DeviceStatus.BUSY if held else DeviceStatus.ONLINE)
        known.append(device.pk)
    # Unplugged: offline at once. A run on it is not failed here: the agent ends it itself ("device
    # disconnected at step N") with what it captured, and if it stops listing the run the lease ends it.
    Device.objects.filter(agent=agent).exclude(pk__in=known).exclude(status=DeviceStatus.OFFLINE).update(
        status=DeviceStatus.OFFLINE)
    running = set(running)
    held = runs_of_agent(agent).filter(status=RunStatus.RUNNING).select_related("task")
    for run in held:
        if run.pk in running:
            # Alive, but not for ever: past its time cap and Celery's limits the run is lost whatever the
            # agent says (a worker stuck where no limit reaches); then the lease runs out.
            if run.started_at and now < run.started_at + timedelta(seconds=run.task.time_cap + 300):
                Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(lease_expires_at=_lease(now))
        elif run.started_at and run.started_at < now - timedelta(seconds=2):
            fail_run(run, "the agent restarted during the run; what it had captured is kept")
    # A dispatched run the agent has not started keeps the lease it got at dispatch: an agent that never
    # takes it (the message was lost) lets it expire instead of holding the device for ever.
    request_dispatch(agent.project_id)
    cancelled = list(runs_of_agent(agent).filter(pk__in=running, status=RunStatus.CANCELLED)
                     .values_list("pk", flat=True))
    return {"agent": agent.pk, "devices": [{"id": pk} for pk in known], "cancel": cancelled,
            "requests": offered(agent, known)}


def _end(run: Run, status: str, reason: str) -> bool:
    """Move a queued or running run to `status` without its agent (lost, restarted, or a person cancelled
    it): steps left running are marked interrupted, the device is freed (online while its agent is alive).
    False when the run had moved on already."""
    now = timezone.now()
    with transaction.atomic():
        moved = Run.objects.filter(pk=run.pk, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).update(
            status=status, error=reason[:5000], finished_at=now, lease_expires_at=None)
        if not moved:
            return False
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if any(step.get("outcome") == "running" for step in locked.timeline or []):
            Run.objects.filter(pk=run.pk).update(timeline=interrupted(locked.timeline, reason))
        if locked.device_id:
            agent_alive = Agent.objects.filter(
                devices=locked.device_id,
                last_seen_at__gte=now - timedelta(seconds=settings.TRACKREPLAY_DEVICE_OFFLINE_SECONDS)).exists()
            Device.objects.filter(pk=locked.device_id, status=DeviceStatus.BUSY).update(
                status=DeviceStatus.ONLINE if agent_alive else DeviceStatus.OFFLINE)
    request_dispatch(run.project_id)
    return True


def fail_run(run: Run, reason: str) -> bool:
    """End a run in error (lost agent, restart, lease expired) and free its device. False if it had moved on."""
    if not _end(run, RunStatus.ERROR, reason):
        return False
    record = run.test_records.order_by("pk").first()
    if record is not None and HealthFlag.RUN_CRASHED not in record.health_flags:
        TestRecord.objects.filter(pk=record.pk).update(health_flags=[*record.health_flags, HealthFlag.RUN_CRASHED])
    return True


def cancel_run(run: Run, *, by: str) -> bool:
    """A person stops a queued or running run: cancelled now, device freed; the agent running it hears it at
    its next heartbeat and stops at the next step. False when the run had already ended."""
    return _end(run, RunStatus.CANCELLED, f"cancelled by {by}")


def expire_leases() -> list[int]:
    """Runs whose agent stopped answering: error with the reason, device freed. Devices unseen go offline."""
    now = timezone.now()
    expired = []
    for run in Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING], lease_expires_at__lt=now):
        step = _last_step(run)
        if run.status == RunStatus.QUEUED:
            reason = (f"the agent of {run.device} did not start the run within {START_SECONDS} s of its dispatch "
                      f"(offline, or the message to it was lost); the device was freed")
        else:
            where = f" at step {step}" if step else ""
            reason = (f"the agent stopped answering{where}: no heartbeat since "
                      f"{(run.lease_expires_at - timedelta(seconds=lease_seconds())):%Y-%m-%d %H:%M:%S} UTC; "
                      f"the device was freed")
        if fail_run(run, reason):
            expired.append(run.pk)
    offline_before = now - timedelta(seconds=settings.TRACKREPLAY_DEVICE_OFFLINE_SECONDS)
    Device.objects.filter(Q(last_seen_at__lt=offline_before) | Q(last_seen_at__isnull=True),
                          status=DeviceStatus.ONLINE).update(status=DeviceStatus.OFFLINE)
    return expired


def _last_step(run: Run) -> int | None:
    started = [step["index"] for step in run.timeline or [] if step.get("started_at")]
    return max(started) if started else None


def send_verification(run_id: int) -> None:
    from trackreplay.celery import Queue, app, queue_name

    app.send_task("automation.tasks.verify_run", args=[run_id], queue=queue_name(Queue.VERIFY))


def reverify_stuck() -> list[int]:
    """Runs verifying for long: their message was lost (a broker failure as it was sent); send it again.
    Verifying twice is harmless: the second delivery finds the run no longer verifying."""
    stuck = list(Run.objects.filter(status=RunStatus.VERIFYING,
                                    finished_at__lt=timezone.now() - timedelta(seconds=REVERIFY_SECONDS))
                 .values_list("pk", flat=True))
    for run_id in stuck:
        transaction.on_commit(lambda run_id=run_id: send_verification(run_id))
    return stuck


def housekeeping() -> dict:
    expired = expire_leases()
    reverified = reverify_stuck()
    dispatched = dispatch_queued()
    return {"expired": expired, "reverified": reverified, "dispatched": [run.pk for run in dispatched]}


# -- the end of a run --------------------------------------------------------------------------------------------

def ensure_record(run: Run) -> TestRecord:
    from sdk_bridge.ingest import _locked_run_record

    with transaction.atomic():
        return _locked_run_record(run)[1]


def finish_run(run: Run, *, outcome: str, error: str, timeline: list[dict], step_count: int,
               logs: list | None = None) -> Run:
    """The agent says the flow ended (passed, failed or error). The run moves to verifying and its
    verification is queued; a run that already ended (lease expired while the platform was unreachable)
    keeps its state but gets what was captured."""
    now = timezone.now()
    record = ensure_record(run)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        # What the agent sends at the end wins step by step; steps it no longer knows (it was restarted and
        # lost its timeline) keep what it reported live. A step left running was interrupted.
        timeline = merged_timeline(locked.timeline, timeline)
        if outcome != "passed":
            timeline = interrupted(timeline, error)
        steps = [{"step": step["index"], "action": step.get("label") or step.get("action"),
                  "at": _ms(step.get("started_at"))} for step in timeline if step.get("started_at")]
        TestRecord.objects.filter(pk=record.pk).update(steps=steps)
        updates = {"timeline": timeline, "step_count": step_count or locked.step_count, "lease_expires_at": None}
        if logs is not None:
            updates["logs"] = logs[-5000:]
        moved = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.VERIFYING, error=(error if outcome != "passed" else "")[:5000], finished_at=now,
            **updates)
        if not moved:
            Run.objects.filter(pk=run.pk).update(**updates)
        elif run.device_id:
            Device.objects.filter(pk=run.device_id, status=DeviceStatus.BUSY).update(status=DeviceStatus.ONLINE)
        if moved or locked.status == RunStatus.VERIFYING:
            # Also when the agent sends finish again: its first answer may have been an error because this
            # message could not be sent.
            transaction.on_commit(lambda: send_verification(run.pk))
    request_dispatch(run.project_id)
    run.refresh_from_db()
    return run


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _flow_seconds(timeline: list[dict]) -> float | None:
    """How long the flow ran on the device, from its steps' own times (the platform's clock would count the
    time the uploads waited out an outage)."""
    starts = [_ms(step.get("started_at")) for step in timeline if step.get("started_at")]
    ends = [_ms(step.get("finished_at")) for step in timeline if step.get("finished_at")]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)) / 1000


def health_flags(run: Run, record: TestRecord) -> list[str]:
    """The record's flags from what the run saw: red mock-not-enabled and count mismatch, yellow too few."""
    flags = [flag for flag in record.health_flags if flag not in (HealthFlag.NO_EVENTS, HealthFlag.COUNT_MISMATCH,
                                                                  HealthFlag.TOO_FEW_EVENTS, HealthFlag.RUN_CRASHED)]
    stored = record.events.count()
    report = record.proxy_report or {}
    if stored == 0:
        flags.append(HealthFlag.NO_EVENTS)
    decoded, requests = report.get("events"), report.get("tracking_requests")
    undecodable = len(report.get("decode_errors") or [])
    mismatch = (record.device_event_count is not None and record.device_event_count != stored)
    if decoded is not None and requests is not None:
        # Every tracking request carries at least one event; fewer decoded than requests seen (beyond those
        # that failed to decode, flagged on their own) or fewer stored than decoded means events were lost.
        mismatch = mismatch or decoded < requests - undecodable or stored < decoded
    if mismatch:
        flags.append(HealthFlag.COUNT_MISMATCH)
    seconds = _flow_seconds(run.timeline or [])
    if seconds and 0 < stored < seconds:
        flags.append(HealthFlag.TOO_FEW_EVENTS)
    timeline = run.timeline or []
    unfinished = (len(timeline) < run.step_count
                  or any(step.get("outcome") == "failed" or (step.get("error") or "").startswith("not run")
                         for step in timeline))
    if run.status == RunStatus.ERROR or unfinished:
        flags.append(HealthFlag.RUN_CRASHED)
    return list(dict.fromkeys(flags))


def verify_run(run_id: int) -> Run | None:
    """Verification of a finished run: health flags; record mode keeps the new mock record and baseline and
    learns a scenario when the task has none; replay verifies against the scenario into a report."""
    from reports.verification import verify_record
    from scenarios.learning import infer_version
    from scenarios.models import Scenario

    run = Run.objects.select_related("task__scenario__current_version", "task__baseline_record").filter(
        pk=run_id).first()
    if run is None or run.status != RunStatus.VERIFYING:
        return run  # gone, or verified already by an earlier delivery of this message
    record = ensure_record(run)
    record.refresh_from_db()
    flags = health_flags(run, record)
    flow_failed = run.error != ""
    task = run.task
    status, reasons = RunStatus.PASSED, []
    if flow_failed:
        status, reasons = RunStatus.FAILED, [run.error]
    red = [flag for flag in flags if flag in HealthFlag.RED]
    with transaction.atomic():
        if run.mode == RunMode.RECORD:
            good = not flow_failed and record.events.exists() and record.mock_record_id is not None
            TestRecord.objects.filter(pk=record.pk).update(is_baseline=good, source=RecordSource.RECORDED,
                                                           health_flags=flags, name=_record_name(run))
            if good:
                task.mock_record_id = record.mock_record_id
                task.baseline_record_id = record.pk
                if task.scenario_id is None:
                    name = task.name
                    if Scenario.objects.filter(project_id=run.project_id, name=name).exists():
                        name = f"{task.name} (run #{run.pk})"
                    scenario = Scenario.objects.create(project_id=run.project_id, name=name[:200],
                                                       description=f"Learnt from run #{run.pk} of {task.name}.")
                    record.refresh_from_db()
                    infer_version(scenario, [record])
                    task.scenario = scenario
                task.save(update_fields=["mock_record", "baseline_record", "scenario", "updated_at"])
            elif not flow_failed:
                status = RunStatus.FAILED
                reasons.append("the recording captured no events" if not record.events.exists()
                               else "the proxy uploaded no recording")
        else:
            TestRecord.objects.filter(pk=record.pk).update(health_flags=flags, name=_record_name(run))
    report = None
    if run.mode != RunMode.RECORD and task.scenario is not None and task.scenario.current_version is not None:
        record.refresh_from_db()
        report = verify_record(record, task.scenario.current_version, baseline=task.baseline_record, run=run)
        if report.status != "done":
            status = RunStatus.ERROR
            reasons.append(f"verification failed: {report.error}")
        elif report.strong_anomalies:
            status = RunStatus.FAILED if status != RunStatus.ERROR else status
            reasons.append(f"{report.strong_anomalies} strong anomalies; pass rate {report.pass_rate:.0%}")
    elif run.mode == RunMode.REPLAY:
        status = RunStatus.FAILED
        reasons.append("the task has no scenario to verify against: record it first or choose one")
    if red and status == RunStatus.PASSED:
        status = RunStatus.FAILED
    if red:
        reasons.append("health: " + ", ".join(HealthFlag(flag).label for flag in red))
    Run.objects.filter(pk=run.pk, status=RunStatus.VERIFYING).update(
        status=status, error="; ".join(reasons)[:5000], finished_at=run.finished_at or timezone.now())
    run.refresh_from_db()
    return run


def _record_name(run: Run) -> str:
    device = run.device.name if run.device else "no device"
    return f"Run #{run.pk} · {run.task.name} · {run.get_mode_display().split(' ')[0].lower()} on {device}"[:200]


def create_run(task, *, mode: str, user=None, trigger: str = "manual", task_group=None, device=None) -> Run:
    """A new queued run of the task, dispatched once committed."""
    if mode == RunMode.REPLAY and task.mock_record_id is None:
        raise RunConflict(f"task {task.name!r} has no mock record to replay: record it first")
    if device is not None and device.platform != selector_platform(task):
        raise RunConflict(f"device {device.name} is {device.platform}; the task runs on {selector_platform(task)}")
    run = Run.objects.create(project_id=task.project_id, task=task, mode=mode, triggered_by=user, trigger=trigger,
                             task_group=task_group, device=device)
    request_dispatch(task.project_id)
    return run


def selector_platform(task) -> str:
    return (task.device_selector or {}).get("platform") or task.script.platform

