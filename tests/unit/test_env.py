"""Settings helpers fail loudly, naming the variable and the bad value."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from trackreplay import env


@pytest.mark.parametrize("raw,expected", [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False)])
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG", not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env.env_bool("DEBUG", False)


def test_env_int_checks_type_and_bounds(monkeypatch):
    monkeypatch.setenv("N", "12x")
    with pytest.raises(ImproperlyConfigured, match="N='12x' is not an integer"):
        env.env_int("N", 1)
    monkeypatch.setenv("N", "-1")
    with pytest.raises(ImproperlyConfigured, match="below the minimum 0"):
        env.env_int("N", 1, minimum=0)
    monkeypatch.delenv("N")
    assert env.env_int("N", 7) == 7


def test_env_list_refuses_empty_items(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.test,,b.test")
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env.env_list("ALLOWED_HOSTS", [])
    monkeypatch.setenv("ALLOWED_HOSTS", "a.test, b.test")
    assert env.env_list("ALLOWED_HOSTS", []) == ["a.test", "b.test"]


def test_time_zone_must_exist(monkeypatch):
    monkeypatch.setenv("TIME_ZONE", "Asia/Atlantis")
    with pytest.raises(ImproperlyConfigured, match="not an IANA time zone"):
        env.env_time_zone("TIME_ZONE", "UTC")


def test_postgres_url_is_parsed():
    db = env.parse_database_url("postgres://qa:p%40ss@db.internal:6543/trackreplay?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "qa", "p@ss", "db.internal", "6543", "trackreplay")
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_sqlite_url_is_parsed():
    assert env.parse_database_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    assert env.parse_database_url("sqlite:///var/x.sqlite3")["NAME"] == "var/x.sqlite3"


@pytest.mark.parametrize("url,message", [
    ("mysql://h/db", "unsupported scheme 'mysql'"),
    ("postgres://h:port/db", "port that is not a number"),
    ("postgres://h", "names no database"),
    ("sqlite://", "names no SQLite file"),
])
def test_bad_database_urls_are_named(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.parse_database_url(url)


@pytest.mark.parametrize("url,message", [("http://h:6379", "must start with redis://"), ("redis://", "names no host")])
def test_bad_redis_urls_are_named(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.check_redis_url(url)
