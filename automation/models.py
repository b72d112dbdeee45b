from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction

from accounts.models import ProjectScoped, TokenBase


# A run longer than this would outlive the broker's redelivery timeout (settings: visibility_timeout) and be
# delivered to an agent a second time while it still runs.
MAX_TIME_CAP = 3 * 3600


class Platform(models.TextChoices):
    ANDROID = "android", "Android (uiautomator2)"
    IOS = "ios", "iOS (WDA)"
    WEB = "web", "Web (Playwright on Chromium)"


class Agent(ProjectScoped):
    """A process on a machine with devices attached; it talks to the platform only through the REST API
    with its own tokens, and runs the project's tasks on its devices."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="agents",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=100, help_text="e.g. 'lab-mac-mini-3'.")
    hostname = models.CharField(max_length=255, blank=True, help_text="Reported by the agent.")
    version = models.CharField(max_length=40, blank=True, help_text="Agent version reported at heartbeat.")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last heartbeat.")

    AGENT_PATH = "id"  # an agent token sees only its own agent among the project's agents

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="agent_unique_name",
                                    violation_error_message="The project already has an agent with this name.")]

    def __str__(self) -> str:
        return self.name


class AgentToken(TokenBase):
    """An agent's API token. Revoking it cuts the agent off at its next request; an agent may hold several
    while a new one is rolled out."""

    PREFIX = "tra_"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens", help_text="The agent the token authenticates.")

    PROJECT_PATH = "agent__project"
    AGENT_PATH = "agent"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.agent}: {self.name} ({self.hint}…)"


class RunToken(TokenBase):
    """The token an in-app SDK bridge uses to post events into one run's test record (and nothing else). It
    stops working when the run reaches a final state, when it expires, or when a person revokes it."""

    PREFIX = "trr_"

    run = models.ForeignKey("Run", on_delete=models.CASCADE, related_name="tokens",
                            help_text="The run whose test record receives the events.")
    expires_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="After this time the token is refused (set when issued: TRACKREPLAY_RUN_TOKEN_TTL_SECONDS, or "
                  "the expires_in asked for).")

    PROJECT_PATH = "run__project"
    AGENT_PATH = "run__device__agent"

    MAX_TTL_SECONDS = 7 * 24 * 3600

    @classmethod
    def issue_for(cls, run: "Run", *, name: str = "", expires_in: int | None = None) -> "RunToken":
        """A new token for the run (plaintext on .token), expiring after `expires_in` seconds or the configured
        TRACKREPLAY_RUN_TOKEN_TTL_SECONDS. ValueError when the run has already ended."""
        from datetime import timedelta

        from django.utils import timezone

        if run.is_final:
            raise ValueError(f"run {run.pk} is finished ({run.status}): it takes no more events, so it gets no token")
        seconds = expires_in if expires_in is not None else settings.TRACKREPLAY_RUN_TOKEN_TTL_SECONDS
        return cls.issue(run=run, name=name or "sdk bridge", expires_at=timezone.now() + timedelta(seconds=seconds))

    def refusal(self, now=None) -> str | None:
        """Why the token may not be used now (revoked, expired, its run finished), or None."""
        from django.utils import timezone

        if self.revoked_at is not None:
            return "This run token has been revoked."
        if self.expires_at is not None and (now or timezone.now()) >= self.expires_at:
            return f"This run token expired at {self.expires_at.isoformat(timespec='seconds')}."
        if self.run.is_final:
            return f"run {self.run_id} is finished ({self.run.status}): its tokens no longer work."
        return None

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.name} ({self.hint}…)"


class DeviceStatus(models.TextChoices):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class ProxyMode(models.TextChoices):
    AUTO = "auto", "set by the agent"
    MANUAL = "manual", "set by hand on the device"


class HttpsStatus(models.TextChoices):
    UNKNOWN = "unknown", "not checked"
    WORKS = "works", "works"
    FAILS = "fails", "fails"


class Device(ProjectScoped):
    """A phone, simulator or browser that runs tasks, attached to an agent. What the agent reports about it
    (model, OS, screen, battery, how its proxy is set) is refreshed by every heartbeat; whether HTTPS through
    the proxy works on it is the last answer to a check a person asked for (DeviceRequest)."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="devices",
                                help_text="The project it belongs to.")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices",
                              help_text="The agent the device is attached to.")
    name = models.CharField(max_length=100, help_text="e.g. 'Pixel 7 #2'.")
    platform = models.CharField(max_length=8, choices=Platform.choices, help_text="How the device is driven.")
    serial = models.CharField(max_length=120, blank=True,
                              help_text="adb serial, iOS UDID, or empty for a web device.")
    model = models.CharField(max_length=120, blank=True, help_text="Hardware model or browser.")
    os_version = models.CharField(max_length=40, blank=True, help_text="e.g. 'Android 14', 'iOS 17.5', 'Chromium 156'.")
    labels = models.JSONField(default=list, blank=True, help_text="Labels tasks select devices by, a JSON list.")
    status = models.CharField(max_length=8, choices=DeviceStatus.choices, default=DeviceStatus.OFFLINE,
                              help_text="Reported by the agent: online, busy (running a task) or offline.")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last time the agent reported the device.")
    screen = models.CharField(max_length=11, blank=True, help_text="Screen size in pixels, WIDTHxHEIGHT (e.g. "
                                                                   "'1080x2400'), as the agent reports it.")
    battery = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)],
                                               help_text="Battery level in percent, as the agent reports it.")
    proxy_mode = models.CharField(
        max_length=6, choices=ProxyMode.choices, default=ProxyMode.AUTO,
        help_text="auto: the agent points the device at the run's proxy; manual: a person sets it on the device "
                  "(iOS), and a run starts with a probe that fails it when the device does not use the proxy.")
    wda_url = models.CharField(max_length=300, blank=True,
                               help_text="iOS: the WebDriverAgent URL the agent drives the device through.")
    proxy_address = models.CharField(max_length=260, blank=True,
                                     help_text="A device whose proxy is set by hand (iOS): the agent's address and "
                                               "the device's own fixed port, to type into its Wi-Fi settings.")
    https_status = models.CharField(max_length=7, choices=HttpsStatus.choices, default=HttpsStatus.UNKNOWN,
                                    help_text="Whether HTTPS through the proxy works on the device, by the last "
                                              "check (unknown until one is made).")
    https_detail = models.TextField(blank=True, help_text="What the last HTTPS check saw.")
    https_checked_at = models.DateTimeField(null=True, blank=True, help_text="When the last HTTPS check answered.")

    # An agent token sees, among the project's rows of this kind, only those of its own agent (AGENT_PATH).
    AGENT_PATH = "agent"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def https_summary(self) -> str:
        """The last HTTPS check in words, as a QA engineer reads it before a run."""
        if self.https_status == HttpsStatus.WORKS:
            return f"HTTPS interception works on {self.name}"
        if self.https_status == HttpsStatus.FAILS:
            return f"HTTPS interception fails on {self.name}" + (f": {self.https_detail}" if self.https_detail else "")
        return f"HTTPS interception has not been checked on {self.name}"


class DeviceRequestKind(models.TextChoices):
    HTTPS_CHECK = "https_check", "HTTPS check"
    SCREENSHOT = "screenshot", "screenshot"


class DeviceRequest(models.Model):
    """Something a person asked of a device through its agent: an HTTPS-interception check or a screenshot.
    The agent hears of it in its heartbeat answers until it answers (or says why it cannot); one that gets no
    answer within TRACKREPLAY_DEVICE_REQUEST_SECONDS is shown as "no answer from the agent" and is no longer
    offered to the agent."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="requests",
                               help_text="The device asked.")
    kind = models.CharField(max_length=12, choices=DeviceRequestKind.choices, help_text="What was asked.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="Who asked.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was asked.")
    answered_at = models.DateTimeField(null=True, blank=True, help_text="When the agent answered.")
    ok = models.BooleanField(null=True, blank=True,
                             help_text="HTTPS check: whether interception works; screenshot: taken. Empty until "
                                       "answered, and when the agent could not do it (see error).")
    detail = models.TextField(blank=True, help_text="What the agent saw (an HTTPS check's probe).")
    error = models.TextField(blank=True, help_text="Why the agent could not do it.")
    image = models.FileField(upload_to="devices/screenshots/%Y/%m/", blank=True, help_text="The screenshot (PNG).")

    PROJECT_PATH = "device__project"
    AGENT_PATH = "device__agent"

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["device", "answered_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.device} #{self.pk}"

    @staticmethod
    def timeout_seconds() -> int:
        return settings.TRACKREPLAY_DEVICE_REQUEST_SECONDS

    @property
    def deadline(self):
        from datetime import timedelta

        return self.created_at + timedelta(seconds=self.timeout_seconds())

    @property
    def state(self) -> str:
        """pending, answered, failed (the agent could not do it) or unanswered (no answer in time)."""
        from django.utils import timezone

        if self.answered_at is not None:
            return "failed" if self.error else "answered"
        return "pending" if timezone.now() < self.deadline else "unanswered"


class Script(ProjectScoped):
    """A flow: the steps a device performs for one test case, as YAML (docs/flows.md), or a Python file
    that YAML flows call with `python:`. Flows include each other by `path` (`run_flow: login.yaml`)."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="scripts",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="What the flow does, e.g. 'Browse and add to cart'.")
    path = models.CharField(max_length=200, help_text="File name other flows include it by, e.g. 'login.yaml' "
                                                      "(.yaml for flows, .py for Python steps).")
    platform = models.CharField(max_length=8, choices=Platform.choices, help_text="Platform the flow targets.")
    source = models.TextField(blank=True, help_text="The flow as YAML (or Python for a .py file); see docs/flows.md.")
    description = models.TextField(blank=True, help_text="Notes for whoever maintains the flow.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "path"], name="script_unique_path",
                                    violation_error_message="The project already has a script with this file name.")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_python(self) -> bool:
        return self.path.endswith(".py")

    def bundle(self) -> dict[str, str]:
        """This script's source with every other script of the project, by path: what a device needs to run
        it (run_flow and python steps find their files here)."""
        sources = dict(Script.objects.filter(project_id=self.project_id).exclude(pk=self.pk)
                       .values_list("path", "source"))
        sources[self.path] = self.source
        return sources

    def parse(self, *, env: dict | None = None, app: str | None = None, to_run: bool = True,
              platform: str | None = None):
        """The flow as the agent will read it on `platform` (default: the flow's own); FlowError (file, line,
        reason) when it cannot run there. Saving checks it with `to_run=False`: a flow only ever included needs
        no app of its own."""
        from device_agent.flows import parse_flow

        sources = self.bundle()
        return parse_flow(self.source, file=self.path, env=env, app=app, sources=sources, require_app=to_run,
                          platform=platform or self.platform or None)

    def dependents(self):
        """The project's other YAML flows that include or call this file (its name, or its saved name when it
        is being renamed, appears in their text)."""
        names = {self.path} | set(Script.objects.filter(pk=self.pk).values_list("path", flat=True))
        query = models.Q()
        for name in filter(None, names):
            query |= models.Q(source__contains=name.rsplit("/", 1)[-1])
        if not query:
            return Script.objects.none()
        return (Script.objects.filter(query, project_id=self.project_id).exclude(pk=self.pk)
                .exclude(path__endswith=".py"))

    def broken_dependents(self, *, without: bool = False) -> list[str]:
        """How the flows that use this one would fail with it as it is now (or gone, `without`)."""
        from device_agent.flows import FlowError, parse_flow

        sources = self.bundle()
        if without:
            sources.pop(self.path, None)
        broken = []
        for other in self.dependents():
            try:
                parse_flow(other.source, file=other.path, sources={**sources, other.path: other.source},
                           require_app=False)
            except FlowError as exc:
                broken.append(str(exc))
        return broken

    def clean(self) -> None:
        from device_agent.flows import FlowError

        super().clean()
        errors = {}
        if self.path and (not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*\.(ya?ml|py)", self.path)
                          or ".." in self.path.split("/")):
            errors["path"] = "A file name such as 'login.yaml' or 'checkout.py' (letters, digits, _ . - /)."
        elif self.path and not self.is_python:
            try:
                self.parse(to_run=False)
            except FlowError as exc:
                errors["source"] = f"line {exc.line}: {exc.reason}" if exc.line and exc.file == self.path else str(exc)
        if self.path and "source" not in errors and "path" not in errors:
            broken = self.broken_dependents()
            if broken:
                errors["source"] = f"other flows use this one and would no longer run: {'; '.join(broken)}"
        elif self.path and self.is_python:
            try:
                compile(self.source, self.path, "exec")
            except SyntaxError as exc:
                errors["source"] = f"line {exc.lineno}: {exc.msg}"
        if errors:
            raise ValidationError(errors)


class Task(ProjectScoped):
    """Script + mock record + scenario + device selector: one test case that can be run and verified."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="tasks",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="Test-case name shown in reports.")
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="tasks", verbose_name="flow",
                               help_text="The UI flow to run.")
    mock_record = models.ForeignKey("mock_records.MockRecord", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="tasks", help_text="API data answered during replay.")
    scenario = models.ForeignKey("scenarios.Scenario", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="tasks", help_text="Rules the captured record is verified against.")
    baseline_record = models.ForeignKey("test_records.TestRecord", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", help_text="Known-good record to diff replays with.")
    device_selector = models.JSONField(default=dict, blank=True,
                                       help_text="Which devices may run it: {\"platform\": ..., \"labels\": [...]}.")
    app = models.CharField(max_length=500, blank=True,
                           help_text="Run the flow on this app instead of the flow's own app: (a start URL, "
                                     "package name or bundle id); picks its variables under apps:.")
    env = models.JSONField(default=dict, blank=True, help_text="Flow variables for this task, over the flow's env:.")
    mock_scope = models.CharField(
        max_length=1000, blank=True,
        help_text="What is recorded and replayed, comma-separated: empty for the platform's default (web: API "
                  "calls only; phones: everything), 'all', or host and path patterns (api.shop.example, /api/*).")
    time_cap = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(10), MaxValueValidator(MAX_TIME_CAP)],
        help_text=f"Seconds a run may take before it is stopped and marked (recording ends early); "
                  f"10 to {MAX_TIME_CAP}.")
    enabled = models.BooleanField(default=True, help_text="Disabled tasks are skipped when their group fires.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A task runs its flow on its devices' platform: the flow must read there (a cross-platform flow needs
        that platform's locators and app)."""
        from device_agent.flows import FlowError

        super().clean()
        if self.script_id is None or self.script.is_python:
            return
        platform = (self.device_selector or {}).get("platform") or self.script.platform
        env = {str(k): str(v) for k, v in (self.env or {}).items()} if isinstance(self.env, dict) else {}
        try:
            self.script.parse(env=env, app=self.app or None, platform=platform)
        except FlowError as exc:
            raise ValidationError({"script": f"the flow cannot run on {platform}: {exc}"}) from None


class TaskGroup(ProjectScoped):
    """Tasks run together on a cron schedule (in the group's time zone) or on a trigger, with their own pass
    rate. Its schedule is mirrored into a django-celery-beat PeriodicTask that beat reads."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="task_groups",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=200, help_text="e.g. 'Nightly regression'.")
    tasks = models.ManyToManyField(Task, blank=True, related_name="groups", help_text="Tasks run when the group fires.")
    cron = models.CharField(max_length=100, blank=True,
                            help_text="Five-field cron expression (minute hour day month weekday); empty for manual.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone the cron is read in.")
    enabled = models.BooleanField(default=True, help_text="Disabled groups keep their schedule but do not fire.")
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+", editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="taskgroup_unique_name",
                                    violation_error_message="The project already has a task group with this name.")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from django_celery_beat.validators import crontab_validator

        errors = {}
        if self.cron:
            if len(self.cron.split()) != 5:
                errors["cron"] = "Use five fields: minute hour day-of-month month day-of-week, e.g. '0 2 * * 1-5'."
            else:
                try:
                    crontab_validator(self.cron)
                except ValidationError as exc:
                    errors["cron"] = f"Invalid cron expression {self.cron!r}: {' '.join(exc.messages)}"
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"{self.time_zone!r} is not an IANA time zone such as 'Asia/Shanghai'."
        if errors:
            raise ValidationError(errors)

    def describe_schedule(self) -> str:
        if not self.cron:
            return "manual"
        from cron_descriptor import get_description

        return f"{get_description(self.cron)} ({self.time_zone})"

    @transaction.atomic
    def sync_schedule(self) -> None:
        """Create, update or remove the beat PeriodicTask so it matches cron, time zone and enabled."""
        from django_celery_beat.models import CrontabSchedule, PeriodicTask

        from trackreplay.celery import Queue, queue_name

        if not self.cron:
            if self.periodic_task_id:
                PeriodicTask.objects.filter(pk=self.periodic_task_id).delete()
                TaskGroup.objects.filter(pk=self.pk).update(periodic_task=None)
                self.periodic_task = None
            return
        minute, hour, day_of_month, month_of_year, day_of_week = self.cron.split()
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
            day_of_week=day_of_week, timezone=self.time_zone,
        )
        fields = {
            "name": f"trackreplay task group {self.pk}",
            "task": "automation.tasks.run_task_group",
            "crontab": schedule,
            "args": json.dumps([self.pk]),
            "enabled": self.enabled,
            "queue": queue_name(Queue.DEFAULT),
        }
        if self.periodic_task_id:
            PeriodicTask.objects.filter(pk=self.periodic_task_id).update(**fields)
        else:
            periodic = PeriodicTask.objects.create(**fields)
            TaskGroup.objects.filter(pk=self.pk).update(periodic_task=periodic)
            self.periodic_task = periodic


class RunMode(models.TextChoices):
    RECORD = "record", "Record (new mock record and baseline)"
    REPLAY = "replay", "Replay against the mock record"
    CAPTURE = "capture", "Capture only"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    VERIFYING = "verifying"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"


class RunTrigger(models.TextChoices):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    API = "api"
    CI = "ci"


class Run(ProjectScoped):
    """One execution of a task on one device: records or replays, captures a test record, gets a report."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="runs",
                                help_text="The project it belongs to.")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="runs", help_text="The task executed.")
    task_group = models.ForeignKey(TaskGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs",
                                   help_text="The group whose schedule or trigger started the run.")
    mode = models.CharField(max_length=8, choices=RunMode.choices, default=RunMode.REPLAY,
                            help_text="record makes a new mock record and baseline; replay answers from the mock record.")
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs",
                               help_text="Device chosen for the run.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED,
                              help_text="Lifecycle state; agents move it forward.")
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL,
                               help_text="What started the run.")
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    fire_key = models.CharField(max_length=64, blank=True, default="", editable=False, db_index=True,
                                help_text="The scheduler message that started the run: delivered twice, it starts "
                                "no second run.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the device began the script.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the run reached a final state.")
    error = models.TextField(blank=True, help_text="Why the run failed or ended in error.")
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False,
                                            help_text="The agent holds the device until then; heartbeats extend it.")
    timeline = models.JSONField(default=list, blank=True, editable=False,
                                help_text="Steps as the device ran them: index, action, label, outcome, times, error.")
    step_count = models.PositiveIntegerField(default=0, editable=False, help_text="Steps in the flow.")
    logs = models.JSONField(default=list, blank=True, editable=False,
                            help_text="The device's log lines during the run (browser console, logcat).")

    FINAL = ("passed", "failed", "error", "cancelled")
    AGENT_PATH = "device__agent"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.task}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class RunScreenshot(models.Model):
    """The screen after one step of a run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="screenshots")
    step = models.PositiveIntegerField(help_text="1-based step index.")
    image = models.FileField(upload_to="runs/screenshots/%Y/%m/")
    created_at = models.DateTimeField(auto_now_add=True)

    PROJECT_PATH = "run__project"
    AGENT_PATH = "run__device__agent"

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="runscreenshot_unique_step")]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.step}"
