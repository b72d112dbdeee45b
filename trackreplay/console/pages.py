from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from automation.models import Agent, Device, Run, Script, Task, TaskGroup
from mock_records.models import ChangeRecord, Exchange, GlobalMock, LiveCheck, MockRecord, RequiredInterface
from notifications.models import NotificationChannel
from sdk_bridge.models import EndpointRule
from reports.models import Report
from scenarios.models import Scenario, ScenarioVersion
from test_records.models import TestRecord
from tracking_plan.models import EventDefinition, Fault

from . import automation_forms as forms
from .cells import Code, Flags, PostButton


@dataclass(frozen=True)
class Column:
    label: str
    attr: str | Callable  # dotted attribute path on the row, or a function of the row


@dataclass(frozen=True)
class Child:
    title: str
    rows: Callable  # obj -> queryset
    columns: tuple[Column, ...]
    page: str | None = None  # slug of the page rows link to
    limit: int = 200


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    model: type
    columns: tuple[Column, ...]
    detail: tuple[str, ...] = ()  # field names shown on the detail page
    children: tuple[Child, ...] = ()
    search: tuple[str, ...] = ("name",)
    in_nav: bool = True
    title_attr: str = "__str__"
    editable: tuple[str, ...] = ()  # fields QA and admins may change from the console
    creatable: bool = False  # a "New" form on the list page (needs editable)
    related: tuple[str, ...] = field(default_factory=tuple)  # select_related for the list
    form: Callable | None = None  # a form class of its own, for fields a person should not type as JSON
    actions: tuple[tuple[str, str], ...] = ()  # (action, button label): POST buttons on the detail page
    edit_roles: tuple[str, ...] = ("admin", "qa")  # who may create, edit and use the actions


def _run_flags(run) -> list[str]:
    record = run.test_records.order_by("pk").first()
    return record.health_flags if record else []


def record_steps(record) -> list:
    from datetime import datetime, timezone
    from types import SimpleNamespace

    rows = []
    for item in record.steps or []:
        at = item.get("at")
        rows.append(SimpleNamespace(step=item.get("step"), action=item.get("action"),
                                    at=datetime.fromtimestamp(at / 1000, tz=timezone.utc) if isinstance(at, int) else None))
    return rows


def run_progress(run) -> str:
    done = sum(1 for step in run.timeline or [] if step.get("outcome") in ("passed", "failed", "skipped"))
    return f"{done}/{run.step_count} steps" if run.step_count else "—"


def revoke_button(token):
    from django.urls import reverse

    if token.revoked_at:
        return None
    return PostButton(reverse("console-revoke-token", args=[token.agent.project.slug, token.agent_id, token.pk]),
                      "Revoke")


def version_state(version) -> str:
    """Whether a scenario version is current, and whether it is history (read-only) and why."""
    from scenarios.models import rules_frozen_reason

    reason = rules_frozen_reason(version.pk)
    return "current, editable" if reason is None else reason


def battery(device) -> str | None:
    return None if device.battery is None else f"{device.battery}%"


def current_run(device):
    return device.runs.filter(status__in=["queued", "running"], lease_expires_at__isnull=False).first()


SECRET_WORDS = {"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "KEY", "APIKEY", "PIN", "OTP"}


def is_secret(name: str) -> bool:
    """LOGIN_PASSWORD, API_KEY, TOKEN: a word of the name says it is a secret (KEYWORD is not)."""
    return bool(SECRET_WORDS & set(name.upper().split("_")))


def shown_env(env: dict) -> str | None:
    """A task's variables as NAME=value, with the values of secret-looking names hidden."""
    if not env:
        return None
    return ", ".join(f"{name}={'••••••' if is_secret(name) else value}" for name, value in env.items())


def describe_selector(task) -> str:
    selector = task.device_selector or {}
    platform = selector.get("platform") or task.script.platform
    labels = selector.get("labels") or []
    return platform + (f" labelled {', '.join(labels)}" if labels else "")


def flow_steps(script) -> list:
    """The flow as the agent will run it, step by step; one row with the reason when it cannot run."""
    from types import SimpleNamespace

    from device_agent.flows import FlowError

    if script.is_python:
        return []
    try:
        flow = script.parse(to_run=False)
    except FlowError as exc:
        return [SimpleNamespace(index="—", action="cannot run", target=str(exc), options="", line=exc.line)]
    rows = []
    for index, step in enumerate(flow.steps, 1):
        options = [f"{key}={value}" for key, value in step.shown_params().items()]
        options += [f"{key}={getattr(step, key)}" for key in ("timeout", "retry") if getattr(step, key)]
        options += ["optional"] if step.optional else []
        options += [f"label={step.label}"] if step.label else []
        where = step.line if step.file == script.path else f"{step.file}:{step.line}"
        target = (" · ".join(f"{platform}: {' or '.join(map(str, locators))}"
                             for platform, locators in step.targets.items())
                  if step.targets else " or ".join(map(str, step.target)))
        rows.append(SimpleNamespace(index=index, action=step.action, target=target,
                                    options=", ".join(options), line=where))
    return rows


def skipped_rows(check) -> list:
    """A live check's skipped exchanges as table rows (the exchange links to its page)."""
    from types import SimpleNamespace

    exchanges = Exchange.objects.in_bulk([item.get("exchange") for item in check.skipped or []])
    return [SimpleNamespace(exchange=exchanges.get(item.get("exchange")) or item.get("exchange"),
                            request=f"{item.get('method')} {item.get('url')}", reason=item.get("reason"),
                            detail=item.get("detail")) for item in check.skipped or []]


def flow_step_count(script):
    rows = flow_steps(script)
    return "error" if rows and rows[0].index == "—" else len(rows)


PAGES: tuple[Page, ...] = (
    Page("tracking-plan", "Tracking plan", EventDefinition,
         (Column("Event", "name"), Column("Display name", "display_name"), Column("RD owner", "owner_rd"),
          Column("QA owner", "owner_qa"), Column("Properties", lambda o: o.properties.count())),
         detail=("name", "display_name", "description", "owner_rd", "owner_qa", "owner_leader", "tags", "created_at"),
         children=(Child("Properties", lambda o: o.properties.all(),
                         (Column("Name", "name"), Column("Type", "type"), Column("Required", "required"),
                          Column("Nullable", "nullable"), Column("Enum", "enum"),
                          Column("Description", "description"))),
                   Child("Faults", lambda o: o.faults.all(),
                         (Column("Title", "title"), Column("Status", "status"), Column("Assignee", "assignee")),
                         page="faults")),
         search=("name", "display_name"), related=("owner_rd", "owner_qa")),
    Page("scenarios", "Scenarios", Scenario,
         (Column("Name", "name"), Column("Global", "is_global"), Column("Version", "current_version"),
          Column("Updated", "updated_at")),
         detail=("name", "description", "is_global", "current_version", "created_at", "updated_at"),
         children=(Child("Rules of the current version",
                         lambda o: o.current_version.rules.all() if o.current_version else [],
                         (Column("Event", "event"), Column("Property", "property_path"), Column("Kind", "kind"),
                          Column("Parameters", "params"), Column("Strength", "strength"),
                          Column("Enabled", "enabled"), Column("Evidence", "evidence"))),
                   Child("Versions", lambda o: o.versions.all(),
                         (Column("Version", "number"), Column("Note", "note"), Column("Created", "created_at"),
                          Column("Rules", lambda v: v.rules.count())), page="scenario-versions"),
                   Child("Tasks", lambda o: o.tasks.all(), (Column("Task", "name"),), page="tasks")),
         related=("current_version",)),
    # Every version stays viewable, rules included: reports link to the exact one they were verified against.
    Page("scenario-versions", "Scenario versions", ScenarioVersion,
         (Column("Version", "__str__"), Column("Note", "note"), Column("Rules", lambda v: v.rules.count()),
          Column("Created", "created_at")),
         detail=("scenario", "number", "note", ("State", lambda v: version_state(v)), "created_by", "created_at"),
         children=(Child("Rules", lambda v: v.rules.all(),
                         (Column("Event", "event"), Column("Property", "property_path"), Column("Kind", "kind"),
                          Column("Parameters", "params"), Column("Strength", "strength"),
                          Column("Enabled", "enabled"), Column("Evidence", "evidence")), limit=2000),
                   Child("Reports verified against it", lambda v: v.reports.all(),
                         (Column("Report", "__str__"), Column("Pass rate", "pass_rate"), Column("Created", "created_at")),
                         page="reports")),
         search=("note", "scenario__name"), in_nav=False, related=("scenario",)),
    Page("global-mocks", "Global mocks", GlobalMock,
         (Column("Name", "name"), Column("Method", "method"), Column("Host", "host"), Column("Path", "path"),
          Column("Status", "status_code"), Column("Enabled", "enabled"), Column("Order", "order")),
         detail=("name", "enabled", "order", "method", "host", "path", "status_code", "response_headers",
                 "response_body", "created_at"),
         search=("name", "path", "host"),
         editable=("name", "enabled", "order", "method", "host", "path", "status_code", "response_headers",
                   "response_body"), creatable=True),
    Page("required-interfaces", "Required interfaces", RequiredInterface,
         (Column("Name", "name"), Column("Method", "method"), Column("Host", "host"), Column("Path", "path")),
         detail=("name", "method", "host", "path", "created_at"), search=("name", "path"),
         editable=("name", "method", "host", "path"), creatable=True),
    Page("mock-records", "Mock records", MockRecord,
         (Column("Name", "name"), Column("Source", "source"), Column("Exchanges", lambda o: o.exchanges.count()),
          Column("Unmatched", "unmatched_policy"), Column("Created", "created_at")),
         detail=("name", "description", "source", "unmatched_policy", "ignore", "missing_interfaces", "created_at"),
         children=(Child("Exchanges", lambda o: o.exchanges.all(),
                         (Column("#", "order"), Column("Method", "method"), Column("URL", "url"),
                          Column("Status", "status_code"), Column("Size", "response_size"),
                          Column("Enabled", "enabled")), page="exchanges", limit=1000),
                   Child("Changes seen on the live API", lambda o: ChangeRecord.objects.filter(exchange__mock_record=o),
                         (Column("Change", "__str__"), Column("Status", "status"), Column("Detected", "detected_at")),
                         page="api-changes"),
                   Child("Live checks", lambda o: o.live_checks.all(),
                         (Column("Check", "__str__"), Column("Status", "status"), Column("Compared", "checked"),
                          Column("Changes", "changes_found"), Column("Skipped", lambda c: len(c.skipped or [])),
                          Column("Started", "created_at")), page="live-checks", limit=20)),
         search=("name", "description"), actions=(("check-live", "Check the live API"),)),
    Page("live-checks", "Live checks", LiveCheck,
         (Column("Check", "__str__"), Column("Status", "status"), Column("Compared", "checked"),
          Column("Changes", "changes_found"), Column("Skipped", lambda c: len(c.skipped or [])),
          Column("Started", "created_at")),
         detail=("mock_record", "capture", "requested_by", "status", "created_at", "finished_at", "checked",
                 "changes_found", "error"),
         children=(Child("Skipped or refused", lambda o: skipped_rows(o),
                         (Column("Exchange", "exchange"), Column("Request", "request"), Column("Reason", "reason"),
                          Column("Detail", "detail")), limit=1000),),
         search=("mock_record__name",), in_nav=False, related=("mock_record",)),
    Page("api-changes", "API changes", ChangeRecord,
         (Column("Change", "__str__"), Column("Mock record", "exchange.mock_record"), Column("Status", "status"),
          Column("Detected", "detected_at")),
         detail=("exchange", "status", "live_status", "changes", "detected_at", "decided_by", "decided_at"),
         search=("exchange__path",), related=("exchange__mock_record",)),
    Page("exchanges", "Exchanges", Exchange,
         (Column("Method", "method"), Column("URL", "url"), Column("Status", "status_code")),
         detail=("mock_record", "order", "enabled", "live_check_unsafe", "method", "url", "request_headers", "request_body",
                 "status_code", "response_headers", "response_body", "started_at", "duration_ms"),
         search=("path", "host"), in_nav=False, related=("mock_record",), editable=("enabled", "live_check_unsafe")),
    Page("test-records", "Test records", TestRecord,
         (Column("Name", "name"), Column("Source", "source"), Column("Baseline", "is_baseline"),
          Column("Events", lambda o: o.events.count()), Column("Health", lambda o: Flags(o.health_flags)),
          Column("Created", "created_at")),
         detail=("name", "source", "run", "mock_record", "is_baseline", ("Health", lambda o: Flags(o.health_flags)),
                 "device_event_count", "created_at"),
         children=(Child("Steps", lambda o: record_steps(o),
                         (Column("Step", "step"), Column("Action", "action"), Column("Started", "at"))),
                   Child("Events", lambda o: o.events.all(),
                         (Column("#", "seq"), Column("Event", "name"), Column("Step", "step"), Column("SDK", "sdk"),
                          Column("Client time", "client_time"), Column("Properties", "properties")), limit=2000),
                   Child("Reports", lambda o: o.reports.all(),
                         (Column("Report", "__str__"), Column("Pass rate", "pass_rate"), Column("Status", "status")),
                         page="reports"))),
    Page("reports", "Reports", Report,
         (Column("Report", "__str__"), Column("Scenario", "scenario_version"), Column("Status", "status"),
          Column("Pass rate", "pass_rate"), Column("Strong", "strong_anomalies"), Column("Weak", "weak_anomalies"),
          Column("Created", "created_at")),
         detail=("test_record", "scenario_version", "global_version", "baseline_record", "run", "status", "pass_rate", "events_total",
                 "events_passed", "strong_anomalies", "weak_anomalies", "error", "created_at", "finished_at"),
         children=(Child("Anomalies", lambda o: o.anomalies.all(),
                         (Column("Event", "event_name"), Column("#", "event_index"), Column("Rule", "rule_kind"),
                          Column("Property", "property_path"), Column("Strength", "strength"),
                          Column("Expected", "expected"), Column("Actual", "actual"), Column("Message", "message"),
                          Column("Status", "status")), limit=2000),
                   Child("Faults", lambda o: o.faults.all(),
                         (Column("Title", "title"), Column("Status", "status")), page="faults")),
         search=("test_record__name",), related=("test_record", "scenario_version__scenario")),
    Page("tasks", "Tasks", Task,
         (Column("Name", "name"), Column("Flow", "script"), Column("Mock record", "mock_record"),
          Column("Scenario", "scenario"), Column("Devices", lambda o: describe_selector(o)),
          Column("Enabled", "enabled")),
         detail=("name", "script", "app", ("Variables", lambda o: shown_env(o.env)), "mock_record", "scenario",
                 "baseline_record", "mock_scope", "time_cap", "enabled", "created_at"),
         children=(Child("Runs", lambda o: o.runs.all(),
                         (Column("Run", "__str__"), Column("Mode", "mode"), Column("Status", "status"),
                          Column("Device", "device"), Column("Created", "created_at")), page="runs"),),
         related=("script", "mock_record", "scenario"), editable=("name",), creatable=True,
         form=forms.TaskForm, actions=(("record", "Record"), ("replay", "Replay"))),
    Page("task-groups", "Task groups", TaskGroup,
         (Column("Name", "name"), Column("Schedule", lambda o: o.describe_schedule()),
          Column("Tasks", lambda o: o.tasks.count()), Column("Enabled", "enabled")),
         detail=("name", "cron", "time_zone", "enabled", "created_at"),
         children=(Child("Tasks", lambda o: o.tasks.all(), (Column("Task", "name"), Column("Enabled", "enabled")),
                         page="tasks"),
                   Child("Runs", lambda o: o.runs.all(),
                         (Column("Run", "__str__"), Column("Status", "status"), Column("Created", "created_at")),
                         page="runs")),
         editable=("name",), creatable=True, form=forms.TaskGroupForm),
    Page("runs", "Runs", Run,
         (Column("Run", "__str__"), Column("Mode", "mode"), Column("Status", "status"),
          Column("Progress", lambda o: run_progress(o)), Column("Device", "device"),
          Column("Health", lambda o: Flags(_run_flags(o))), Column("Trigger", "trigger"),
          Column("Created", "created_at")),
         detail=("task", "task_group", "mode", "device", "status", "trigger", "triggered_by", "started_at",
                 "finished_at", "error", "created_at"),
         search=("task__name",), related=("task", "device")),
    # The device page has its own view (device_views.py): what it reports, HTTPS interception, a live screenshot.
    Page("devices", "Devices", Device,
         (Column("Name", "name"), Column("Platform", "platform"), Column("Model", "model"),
          Column("OS", "os_version"), Column("Screen", "screen"), Column("Battery", lambda o: battery(o)),
          Column("Proxy", "proxy_mode"), Column("HTTPS interception", "https_status"),
          Column("Labels", lambda o: ", ".join(o.labels or []) or None),
          Column("Agent", "agent"), Column("Status", "status"), Column("Current run", lambda o: current_run(o)),
          Column("Last seen", "last_seen_at")),
         children=(Child("Runs", lambda o: o.runs.all(),
                         (Column("Run", "__str__"), Column("Status", "status"), Column("Created", "created_at")),
                         page="runs", limit=20),),
         search=("name", "serial", "model"), related=("agent",), editable=("name",), form=forms.DeviceForm,
         actions=(("check-https", "Check HTTPS interception"), ("screenshot", "Take a screenshot"))),
    Page("agents", "Agents", Agent,
         (Column("Name", "name"), Column("Host", "hostname"), Column("Version", "version"),
          Column("Devices", lambda o: o.devices.count()), Column("Last seen", "last_seen_at")),
         detail=("name", "hostname", "version", "last_seen_at", "created_at"),
         children=(Child("Devices", lambda o: o.devices.all(),
                         (Column("Device", "name"), Column("Status", "status"),
                          Column("Current run", lambda d: current_run(d))), page="devices"),
                   Child("Tokens", lambda o: o.tokens.all(),
                         (Column("Name", "name"), Column("Starts with", "hint"), Column("Last used", "last_used_at"),
                          Column("Revoked", "revoked_at"), Column("", lambda t: revoke_button(t))))),
         editable=("name",), creatable=True, form=forms.AgentForm, edit_roles=("admin",),
         actions=(("issue-token", "Issue a token"),)),
    Page("scripts", "Flows", Script,
         (Column("Name", "name"), Column("File", "path"), Column("Platform", "platform"),
          Column("Steps", lambda o: flow_step_count(o)), Column("Updated", "updated_at")),
         detail=("name", "path", "platform", "description", "updated_at", ("Flow", lambda o: Code(o.source))),
         children=(Child("Steps", lambda o: flow_steps(o),
                         (Column("#", "index"), Column("Action", "action"), Column("Target", "target"),
                          Column("Options", "options"), Column("Line", "line"))),),
         search=("name", "path", "source"), editable=("name",), creatable=True, form=forms.ScriptForm),
    Page("faults", "Faults", Fault,
         (Column("Title", "title"), Column("Event", "event_name"), Column("Severity", "severity"),
          Column("Status", "status"), Column("Assignee", "assignee"), Column("Due", "due_at")),
         detail=("title", "description", "event_definition", "event_name", "report", "status", "severity", "assignee",
                 "reporter", "due_at", "escalated_at", "resolved_at", "created_at"),
         children=(Child("Anomalies", lambda o: o.anomalies.all(),
                         (Column("Event", "event_name"), Column("Rule", "rule_kind"), Column("Message", "message"))),),
         search=("title", "event_name"), related=("assignee",)),
    Page("endpoint-rules", "Endpoint rules", EndpointRule,
         (Column("Rule", "__str__"), Column("Decoder", "decoder"), Column("Host", "host"), Column("Path", "path"),
          Column("Order", "order"), Column("Forward", "forward"), Column("Enabled", "enabled")),
         detail=("decoder", "host", "path", "options", "order", "forward", "enabled", "created_at"),
         search=("host", "path", "decoder")),
    Page("channels", "Notification channels", NotificationChannel,
         (Column("Name", "name"), Column("Kind", "kind"), Column("Push", "push_strategy"),
          Column("Enabled", "enabled")),
         detail=("name", "kind", "target", "push_strategy", "enabled", "created_at")),
)

BY_SLUG = {page.slug: page for page in PAGES}
BY_MODEL = {page.model: page for page in PAGES}
