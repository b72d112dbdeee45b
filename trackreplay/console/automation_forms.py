"""Console forms for what a QA engineer sets up to run tests: flows (a code editor with line numbers whose
errors name the line), tasks (variables as NAME=value lines and the device selector as a platform and
labels, never raw JSON), devices (labels) and agents. Each is a ModelForm, so the model's own validation
(the flow parser included) decides."""

from __future__ import annotations

import re

from django import forms

from automation.models import Agent, Device, Platform, Script, Task, TaskGroup
from mock_records.models import MockRecord
from mock_records.scope import MockScope, ScopeError
from scenarios.models import Scenario
from test_records.models import TestRecord
from trackreplay.values import instance_problems

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StorableValues:
    """Values no column can store (NUL, lone surrogates, integers past the column's range, NaN or Infinity in
    JSON fields, which Django's form JSONField accepts) are form errors on their field, not a 500 at save()."""

    def _post_clean(self):
        super()._post_clean()
        for name, problem in instance_problems(self.instance, fields=set(self.cleaned_data)).items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, problem)


class ProjectConstraints:
    """Check the model's constraints that involve its project too (name unique in the project): a ModelForm
    leaves out fields it does not show, and the project is never shown."""

    def validate_unique(self):
        try:
            self.instance.validate_constraints()
        except forms.ValidationError as exc:
            self._update_errors(exc)


def _labels(text: str) -> list[str]:
    return [label.strip() for label in text.split(",") if label.strip()]


class ScriptForm(StorableValues, ProjectConstraints, forms.ModelForm):
    class Meta:
        model = Script
        fields = ["name", "path", "platform", "source", "description"]
        widgets = {
            "source": forms.Textarea(attrs={"class": "code", "rows": 24, "spellcheck": "false",
                                            "autocapitalize": "off", "wrap": "off"}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"path": "File name", "source": "Flow"}


class TaskForm(StorableValues, forms.ModelForm):
    env_text = forms.CharField(
        label="Variables", required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "code"}),
        help_text="One NAME=value a line; they override the flow's env: (e.g. KEYWORD=green tea).")
    platform = forms.ChoiceField(label="Device platform", required=False,
                                 choices=[("", "The flow's platform"), *Platform.choices])
    labels = forms.CharField(required=False, help_text="Devices must carry all of these labels, comma-separated "
                                                       "(e.g. local, cn).")

    class Meta:
        model = Task
        fields = ["name", "script", "mock_record", "scenario", "baseline_record", "app", "mock_scope", "time_cap",
                  "enabled"]
        labels = {"time_cap": "Time cap (seconds)", "app": "App (instead of the flow's)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        project_id = self.instance.project_id
        self.fields["script"].queryset = Script.objects.filter(project_id=project_id).exclude(path__endswith=".py")
        self.fields["mock_record"].queryset = MockRecord.objects.filter(project_id=project_id)
        self.fields["scenario"].queryset = Scenario.objects.filter(project_id=project_id, is_global=False)
        self.fields["baseline_record"].queryset = TestRecord.objects.filter(project_id=project_id, is_baseline=True)
        self.fields["mock_record"].help_text = "What replays answer the API with; a record run sets it."
        self.fields["scenario"].help_text = "The rules replays are verified against; the first record run learns one."
        if not self.is_bound:
            self.initial["env_text"] = "\n".join(f"{k}={v}" for k, v in (self.instance.env or {}).items())
            selector = self.instance.device_selector or {}
            self.initial["platform"] = selector.get("platform", "")
            self.initial["labels"] = ", ".join(selector.get("labels", []))

    def clean_env_text(self):
        env = {}
        for number, line in enumerate(self.cleaned_data["env_text"].splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or not _NAME.fullmatch(name):
                raise forms.ValidationError(f"Line {number}: write NAME=value (NAME of letters, digits and _).")
            env[name] = value.strip()
        return env

    def clean_mock_scope(self):
        value = self.cleaned_data["mock_scope"]
        try:
            MockScope.parse(value)
        except ScopeError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def save(self, commit=True):
        task = super().save(commit=False)
        task.env = self.cleaned_data["env_text"]
        selector = {}
        if self.cleaned_data["platform"]:
            selector["platform"] = self.cleaned_data["platform"]
        if _labels(self.cleaned_data["labels"]):
            selector["labels"] = _labels(self.cleaned_data["labels"])
        task.device_selector = selector
        if commit:
            task.save()
        return task


class DeviceForm(StorableValues, forms.ModelForm):
    labels_text = forms.CharField(label="Labels", required=False,
                                  help_text="Comma-separated; tasks pick devices by them (e.g. local, cn).")

    class Meta:
        model = Device
        fields = ["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["labels_text"] = ", ".join(self.instance.labels or [])

    def save(self, commit=True):
        device = super().save(commit=False)
        device.labels = _labels(self.cleaned_data["labels_text"])
        if commit:
            device.save()
        return device


class AgentForm(StorableValues, ProjectConstraints, forms.ModelForm):
    class Meta:
        model = Agent
        fields = ["name"]
        help_texts = {"name": "e.g. 'lab-mac-mini-3'. Issue it a token on its page, then start "
                              "`trackreplay agent --url … --token …` on the machine."}


class TaskGroupForm(StorableValues, ProjectConstraints, forms.ModelForm):
    class Meta:
        model = TaskGroup
        fields = ["name", "tasks", "cron", "time_zone", "enabled"]
        widgets = {"tasks": forms.CheckboxSelectMultiple}
        help_texts = {"cron": "minute hour day-of-month month day-of-week, e.g. '0 2 * * *' for 02:00 every day; "
                              "empty for manual runs only."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tasks"].queryset = Task.objects.filter(project_id=self.instance.project_id)
