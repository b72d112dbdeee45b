"""Login lockout: after TRACKREPLAY_LOGIN_FAILURE_LIMIT wrong passwords for one username from one client
address within TRACKREPLAY_LOGIN_LOCKOUT_SECONDS, that username is refused from that address (even with the
right password) until the lockout expires. Only wrong credentials count; a successful sign-in clears them.

Wired in three places: the `user_login_failed` / `user_logged_in` signals count and clear; LockoutBackend
(the model backend, in AUTHENTICATION_BACKENDS) refuses a locked pair whatever form or view calls authenticate(); the
console's and the admin's login forms say that the account is locked and for how long."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone

from .models import LoginFailure


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the last entry of TRACKREPLAY_CLIENT_IP_HEADER when the platform
    sits behind a proxy that sets it (the proxy's own entry is the one a client cannot forge)."""
    header = settings.TRACKREPLAY_CLIENT_IP_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        if value.strip():
            return value.split(",")[-1].strip()[:45]
    return (request.META.get("REMOTE_ADDR") or "")[:45]


def _key(username) -> str:
    return str(username or "").strip().lower()[:150]


def locked_until(username, request):
    """When the lockout of this username from this client ends, or None when it is not locked."""
    if request is None:
        return None
    row = LoginFailure.objects.filter(username=_key(username), ip=client_ip(request)).first()
    if row is not None and row.locked_until and row.locked_until > timezone.now():
        return row.locked_until
    return None


def record_failure(username, request) -> None:
    if request is None or locked_until(username, request):
        return  # attempts during a lockout do not extend it
    now = timezone.now()
    window = timedelta(seconds=settings.TRACKREPLAY_LOGIN_LOCKOUT_SECONDS)
    key, ip = _key(username), client_ip(request)
    # Rows of pairs that stopped failing long ago and are not locked are of no use: keep the table small.
    LoginFailure.objects.filter(last_failed_at__lt=now - window).exclude(locked_until__gt=now).delete()
    with transaction.atomic():
        row = LoginFailure.objects.select_for_update().filter(username=key, ip=ip).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = LoginFailure.objects.create(username=key, ip=ip, failures=0, first_failed_at=now,
                                                      last_failed_at=now)
            except IntegrityError:  # a parallel attempt created it first
                row = LoginFailure.objects.select_for_update().get(username=key, ip=ip)
        if now - row.first_failed_at > window:  # old failures (and an expired lockout) are forgotten
            row.failures, row.first_failed_at, row.locked_until = 0, now, None
        row.failures += 1  # the row is locked: no lost update
        row.last_failed_at = now
        if row.failures >= settings.TRACKREPLAY_LOGIN_FAILURE_LIMIT:
            row.locked_until = now + window
        row.save()


def clear(username, request) -> None:
    if request is not None:
        LoginFailure.objects.filter(username=_key(username), ip=client_ip(request)).delete()


@receiver(user_login_failed, dispatch_uid="accounts.lockout.failed")
def _failed(sender, credentials, request=None, **kwargs):
    record_failure(credentials.get("username"), request)


@receiver(user_logged_in, dispatch_uid="accounts.lockout.logged_in")
def _logged_in(sender, request, user, **kwargs):
    clear(user.get_username(), request)


class LockoutBackend(ModelBackend):
    """Django's model backend that first refuses a locked username+address pair, right password or not."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field())
        if username is not None and locked_until(username, request):
            raise PermissionDenied("locked out")  # authenticate() stops here and reports a failed sign-in
        return super().authenticate(request, username=username, password=password, **kwargs)

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


def _locked_message(until) -> str:
    minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
    return (f"Too many failed sign-ins for this user from your address: sign-in is locked for about {minutes} "
            f"more minute{'s' if minutes != 1 else ''}.")


class LockoutMixin:
    locked: str = ""

    def clean(self):
        username = self.data.get("username")
        until = locked_until(username, self.request)
        if until is None:
            try:
                return super().clean()
            except forms.ValidationError:
                until = locked_until(username, self.request)  # this failure may be the one that locks
                if until is None:
                    raise
        self.locked = _locked_message(until)
        raise forms.ValidationError(self.locked, code="locked")


class LoginForm(LockoutMixin, AuthenticationForm):
    pass


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    pass
