from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models

from accounts.models import ProjectScoped


class ChannelKind(models.TextChoices):
    FEISHU = "feishu", "Feishu / Lark bot"
    DINGTALK = "dingtalk", "DingTalk bot"
    WECOM = "wecom", "WeCom bot"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Generic webhook (signed JSON)"
    EMAIL = "email", "E-mail"


class PushStrategy(models.TextChoices):
    ALWAYS = "always", "Every report"
    ON_FAILURE = "on_failure", "Only reports with strong anomalies"
    ON_CHANGE = "on_change", "When the pass rate changes"


class NotificationChannel(ProjectScoped):
    """Where a project's reports and faults are pushed, and when."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="notification_channels",
                                help_text="The project it belongs to.")
    name = models.CharField(max_length=100, help_text="e.g. 'QA group (Feishu)'.")
    kind = models.CharField(max_length=10, choices=ChannelKind.choices, help_text="Which service receives the messages.")
    target = models.CharField(max_length=1000, help_text="Webhook URL, or comma-separated e-mail addresses.")
    secret = models.CharField(max_length=200, blank=True,
                              help_text="Signing secret where the receiver supports one (Feishu, DingTalk, webhook).")
    push_strategy = models.CharField(max_length=10, choices=PushStrategy.choices, default=PushStrategy.ON_FAILURE,
                                     help_text="Which reports are pushed.")
    enabled = models.BooleanField(default=True, help_text="Disabled channels receive nothing.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == ChannelKind.EMAIL:
            for address in (a.strip() for a in self.target.split(",")):
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"target": f"{address!r} is not an e-mail address."}) from None
            return
        parts = urlsplit(self.target)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValidationError({"target": f"A {self.kind} channel needs an http(s) URL, got {self.target!r}."})
