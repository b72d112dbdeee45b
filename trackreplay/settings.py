"""Settings for trackreplay, read from the environment (see docs/deploy.md for every variable).

With nothing set you get the embedded defaults that `make run` uses: SQLite and a filesystem Celery
broker under var/, DEBUG on. Production uses trackreplay.settings_production, which refuses to start
in DEBUG or without an explicit SECRET_KEY.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from celery.schedules import crontab

from django.core.exceptions import ImproperlyConfigured

from .env import (
    check_redis_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    env_time_zone,
    parse_database_url,
    var_dir,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir(BASE_DIR)

DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("SECRET_KEY is shorter than 32 characters")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # A development key kept under var/ so sessions survive restarts of `make run`.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "tracking_plan",
    "scenarios",
    "mock_records",
    "test_records",
    "reports",
    "automation",
    "notifications",
    "sdk_bridge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "trackreplay.urls"
WSGI_APPLICATION = "trackreplay.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # platform/ is a plain folder of templates and static files, not a Python package.
        "DIRS": [BASE_DIR / "platform" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'trackreplay.sqlite3'}")),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "platform" / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request when it is missing
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Exchange bodies up to this size live in the database row; larger ones go to MEDIA_ROOT files.
TRACKREPLAY_INLINE_BODY_MAX = env_int("TRACKREPLAY_INLINE_BODY_MAX", 256 * 1024, minimum=0)

# Bounds on what in-app SDK bridges may post to /api/v1/ingest/events (and on decoded tracking requests).
TRACKREPLAY_INGEST_MAX_BODY_BYTES = env_int("TRACKREPLAY_INGEST_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES = env_int("TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES", 50 * 1024 * 1024,
                                                    minimum=1024)
TRACKREPLAY_INGEST_MAX_DEPTH = env_int("TRACKREPLAY_INGEST_MAX_DEPTH", 64, minimum=2, maximum=1000)
TRACKREPLAY_INGEST_MAX_EVENTS = env_int("TRACKREPLAY_INGEST_MAX_EVENTS", 5000, minimum=1)
# The HAR a record-mode proxy uploads at the end of its run (/api/v1/ingest/recording).
TRACKREPLAY_RECORDING_MAX_BYTES = env_int("TRACKREPLAY_RECORDING_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)

# Runs on devices: an agent holds a device through a lease its heartbeats extend; a device unseen this long
# is offline. TRACKREPLAY_QUEUE_PREFIX keeps one installation's (or one test session's) queues apart from
# another's on a shared broker. TRACKREPLAY_AGENT_BROKER_URL is the broker address agents are told to use
# when it differs from the platform's own (e.g. the platform reaches Redis on localhost, agents on the LAN).
TRACKREPLAY_LEASE_SECONDS = env_int("TRACKREPLAY_LEASE_SECONDS", 60, minimum=5)
TRACKREPLAY_DEVICE_OFFLINE_SECONDS = env_int("TRACKREPLAY_DEVICE_OFFLINE_SECONDS", 30, minimum=5)
TRACKREPLAY_QUEUE_PREFIX = env_str("TRACKREPLAY_QUEUE_PREFIX", "")
TRACKREPLAY_AGENT_BROKER_URL = env_str("TRACKREPLAY_AGENT_BROKER_URL", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.ProjectRolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "trackreplay.api_support.Pagination",
    # JSON bodies are checked for values no column can store (trackreplay/values.py): a 400 naming the path.
    "DEFAULT_PARSER_CLASSES": [
        "trackreplay.api_support.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "trackreplay.api_support.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "trackreplay API",
    "DESCRIPTION": "Projects, tracking plans, scenarios and rules, mock and test records, reports, "
    "devices, agents, tasks and runs. Authenticate with a session or `Authorization: Bearer <token>` "
    "(a personal token for CI, an agent token for device agents).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the drf-spectacular-sidecar package: a self-hosted console must not need a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {},
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under var/ (no server).
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = check_redis_url(REDIS_URL)
    CELERY_RESULT_BACKEND = REDIS_URL
    # Longer than any run can take (automation.models.MAX_TIME_CAP plus Celery's limits): Redis hands an
    # unacknowledged message out again after this long, and a run must not be delivered twice while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 4 * 3600}
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _results_dir = VAR_DIR / "celery" / "results"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's default is ./control, wherever the process runs
    for _path in (_broker_dir, _processed_dir, _results_dir, _control_dir):
        _path.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
        "control_folder": str(_control_dir),
        # The folder is polled; kombu's default of 1 s would add up to a second to every hop (a run reaching
        # its agent, a finished run reaching verification).
        "polling_interval": 0.2,
    }
    CELERY_RESULT_BACKEND = f"file://{_results_dir}"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = f"{TRACKREPLAY_QUEUE_PREFIX}default"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed platform jobs (task groups' user-defined schedules live in the database, see automation/).
CELERY_BEAT_SCHEDULE = {
    "run-housekeeping": {"task": "automation.tasks.housekeeping", "schedule": 15.0},
    "check-watched-mock-records": {"task": "mock_records.tasks.check_watched",
                                   "schedule": crontab(hour=3, minute=17)},
}
CELERY_RESULT_EXPIRES = 3600
DJANGO_CELERY_BEAT_TZ_AWARE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
