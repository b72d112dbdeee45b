"""Read settings from the environment and fail loudly on values that make no sense.

Every helper raises ``ImproperlyConfigured`` naming the variable and the bad value, so a typo in a
deployment's env file stops the process at start-up instead of silently running on a default.
No Django import beyond the exception: settings.py calls these before Django is configured.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={raw!r} has an empty item: separate values with single commas")
    return items


RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
                "d": 86400, "day": 86400}


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF reads it: '<count>/<period>', period one of s, min, hour, day (or their long forms)."""
    raw = os.environ.get(name)
    value = default if raw is None or raw.strip() == "" else raw.strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in RATE_PERIODS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate: use <count>/<period> such as 600/min, with "
                                   f"the period one of s, min, hour, day")
    return f"{int(count)}/{period}"


def env_time_zone(name: str, default: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = env_str(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not an IANA time zone such as 'UTC' or 'Asia/Shanghai'") from None
    return value


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict:
    """Turn ``postgres://user:pass@host:port/db?sslmode=require`` or ``sqlite:///path`` into a DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/or/abs -> path after the third slash; sqlite:////abs/path for absolute.
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ImproperlyConfigured(f"{name}={url!r} names no SQLite file: use sqlite:///path/to/db.sqlite3")
        # Concurrent work on the embedded default: WAL lets readers go on while one connection writes; a
        # writer waits up to 20 s for the lock instead of failing; transactions take the write lock when they
        # begin (IMMEDIATE), so two that read then write cannot deadlock on upgrading their locks.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path,
                "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ImproperlyConfigured(f"{name}={url!r} names no database: add /<dbname> after the host")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={url!r} has a port that is not a number") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"{name}={url!r} has the unsupported scheme {scheme!r}: use postgres://... or sqlite:///..."
    )


def check_redis_url(url: str, *, name: str = "REDIS_URL") -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "redis+socket"}:
        raise ImproperlyConfigured(f"{name}={url!r} must start with redis://, rediss:// or redis+socket://")
    if parts.scheme != "redis+socket" and not parts.hostname:
        raise ImproperlyConfigured(f"{name}={url!r} names no host")
    try:
        parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name}={url!r} has a port that is not a number") from None
    return url


def var_dir(base_dir: Path) -> Path:
    """The embedded defaults' state folder (SQLite file, broker queues, media); TRACKREPLAY_VAR_DIR moves it."""
    path = Path(env_str("TRACKREPLAY_VAR_DIR", str(base_dir / "var")))
    path.mkdir(parents=True, exist_ok=True)
    return path
