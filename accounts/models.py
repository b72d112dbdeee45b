from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person who signs in to the console or calls the API with a personal token."""

    display_name = models.CharField(max_length=150, blank=True, help_text="Name shown on faults and reports.")

    def __str__(self) -> str:
        return self.display_name or self.username


class Project(models.Model):
    """One app under test. Everything else belongs to exactly one project, and access follows membership."""

    name = models.CharField(max_length=120, help_text="Human-readable name, e.g. 'Shop Android'.")
    slug = models.SlugField(
        max_length=60,
        unique=True,
        help_text="Short identifier used in console URLs (/p/<slug>/); letters, digits, - and _.",
    )
    description = models.TextField(blank=True, help_text="What app and team this project covers.")
    verify_upstream_tls = models.BooleanField(
        default=True, help_text="The proxy checks the real API's TLS certificates; turn off only for a test "
        "backend with a certificate nothing trusts.")
    forward_tracking = models.BooleanField(
        default=False, help_text="The proxy also sends tracking requests on to the real analytics backend "
        "(by default it answers them itself and keeps the events).")
    allow_private_targets = models.BooleanField(
        default=False, help_text="Requests the platform makes for this project (live API checks, webhooks) may go to "
        "loopback, private and link-local addresses. Off by default: a URL someone types must not reach the "
        "platform's own network. Cloud metadata addresses stay refused.")
    live_check_credentials = models.BooleanField(
        default=False, help_text="Live API checks re-send the recorded credentials (Authorization, Cookie, API-key "
        "headers). Off by default: they are left out.")
    mock_ignore = models.JSONField(
        default=dict, blank=True,
        help_text="Volatile fields every mock record of the project leaves out of matching, merged with the "
        "record's own: {\"query\": [...], \"form\": [...], \"json\": [JSON paths], \"headers\": [...]}.")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    PROJECT_PATH = "id"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"  # everything, including members, agents and channels
    QA = "qa", "QA"  # tracking plan, scenarios, records, tasks, runs, faults
    RD = "rd", "RD"  # developers: read everything, work their faults
    VIEWER = "viewer", "Viewer"  # read only


class Membership(models.Model):
    """A user's role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships",
                                help_text="The project the user belongs to.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.QA, help_text="What the member may do.")
    created_at = models.DateTimeField(auto_now_add=True)

    PROJECT_PATH = "project"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user",
                                    violation_error_message="This user is already a member of the project.")]
        ordering = ["project", "user"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class ProjectScoped(models.Model):
    """Base for rows that belong directly to a project. Subclasses of it are scoped through PROJECT_PATH."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", help_text="Owning project.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    PROJECT_PATH = "project"

    class Meta:
        abstract = True


def hash_token(plaintext: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


class TokenBase(models.Model):
    """A bearer token stored only as its SHA-256; the plaintext is shown once, when issued."""

    PREFIX = "trk_"

    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'GitLab CI'.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="First characters, to recognise the token.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    @classmethod
    def new_plaintext(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @classmethod
    def issue(cls, **fields):
        """Create and save a token; returns it with the plaintext attached as .token (shown once)."""
        plaintext = cls.new_plaintext()
        token = cls(**fields)
        token.set_token(plaintext)
        token.save()
        token.token = plaintext
        return token

    def set_token(self, plaintext: str) -> None:
        self.token_hash = hash_token(plaintext)
        self.hint = plaintext[:10]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        # Compare-and-swap so two revocations racing keep the first timestamp.
        type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.refresh_from_db(fields=["revoked_at"])

    def touch(self) -> None:
        """Record use at most once a minute, to keep token auth from writing on every request."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class PersonalToken(TokenBase):
    """A user's API token for CI and scripts; it acts with the user's project roles."""

    PREFIX = "trp_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class LoginFailure(models.Model):
    """Failed sign-ins of one username from one address (accounts/lockout.py). Enough of them lock that pair
    out for a while; a successful sign-in clears the row. Admins may delete a row to lift a lockout early."""

    username = models.CharField(max_length=150, help_text="The username tried, lower-cased.")
    ip = models.CharField(max_length=45, help_text="The client address the attempts came from.")
    failures = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(help_text="Start of the current counting window.")
    last_failed_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["username", "ip"], name="loginfailure_unique_username_ip")]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip}: {self.failures} failures"
