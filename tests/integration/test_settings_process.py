"""Settings as a fresh process sees them: production refuses unsafe starts; bad env stops start-up."""

import os
import subprocess
import sys

import pytest

CHECK = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _start(tmp_path, settings_module, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}}
    environment.update(DJANGO_SETTINGS_MODULE=settings_module, TRACKREPLAY_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", CHECK], env=environment, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("env,message", [
    ({"ALLOWED_HOSTS": "tr.example.test"}, "SECRET_KEY must be set in production"),
    ({"SECRET_KEY": "k" * 50, "DEBUG": "1", "ALLOWED_HOSTS": "x"}, "DEBUG must be off in production"),
    ({"SECRET_KEY": "k" * 50}, "ALLOWED_HOSTS must be set in production"),
])
def test_production_settings_refuse_unsafe_starts(tmp_path, env, message):
    result = _start(tmp_path, "trackreplay.settings_production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_start_when_configured(tmp_path):
    result = _start(tmp_path, "trackreplay.settings_production", SECRET_KEY="k" * 50, ALLOWED_HOSTS="tr.example.test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_off_needs_a_secret_key(tmp_path):
    result = _start(tmp_path, "trackreplay.settings", DEBUG="0")
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_bad_database_url_stops_start_up(tmp_path):
    result = _start(tmp_path, "trackreplay.settings", DATABASE_URL="mysql://h/db")
    assert "DATABASE_URL='mysql://h/db' has the unsupported scheme 'mysql'" in result.stderr
