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

from . import uploads
from .env import (
    check_redis_url,
    env_bool,
    env_int,
    env_list,
    env_rate,
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
# With DEBUG on, the technical 500 page (settings, environment, local variables) only for loopback clients.
DEFAULT_EXCEPTION_REPORTER = "trackreplay.debug.LocalOnlyExceptionReporter"
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
# Sign-in lockout (accounts/lockout.py): this many wrong passwords for one username from one address within
# the lockout period lock that pair out for the period. Behind a reverse proxy, name the header it sets with
# the client's address (e.g. X-Forwarded-For), or every client looks like the proxy.
AUTHENTICATION_BACKENDS = ["accounts.lockout.LockoutBackend"]
TRACKREPLAY_LOGIN_FAILURE_LIMIT = env_int("TRACKREPLAY_LOGIN_FAILURE_LIMIT", 5, minimum=1)
TRACKREPLAY_LOGIN_LOCKOUT_SECONDS = env_int("TRACKREPLAY_LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)
TRACKREPLAY_CLIENT_IP_HEADER = env_str("TRACKREPLAY_CLIENT_IP_HEADER", "")
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

# Bounds on every upload, enforced while it streams (trackreplay/uploads.py; docs/deploy.md "Upload limits").
# Over a byte limit the answer is 413, over a depth or count limit 400, both naming the setting.
_up = uploads.DEFAULTS
# What in-app SDK bridges and device agents post as JSON (events, steps, logs, proxy reports).
TRACKREPLAY_INGEST_MAX_BODY_BYTES = env_int("TRACKREPLAY_INGEST_MAX_BODY_BYTES", _up["TRACKREPLAY_INGEST_MAX_BODY_BYTES"],
                                            minimum=1024)
TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES = env_int("TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES",
                                                    _up["TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES"], minimum=1024)
TRACKREPLAY_INGEST_MAX_DEPTH = env_int("TRACKREPLAY_INGEST_MAX_DEPTH", _up["TRACKREPLAY_INGEST_MAX_DEPTH"], minimum=2,
                                       maximum=1000)
TRACKREPLAY_INGEST_MAX_EVENTS = env_int("TRACKREPLAY_INGEST_MAX_EVENTS", _up["TRACKREPLAY_INGEST_MAX_EVENTS"], minimum=1)
# Uploaded files: HAR and mitmproxy flow imports, recordings, tracking plans; as received, after gunzip,
# JSON nesting, and entries (HAR entries, flows, plan events and properties, rules).
TRACKREPLAY_UPLOAD_MAX_BYTES = env_int("TRACKREPLAY_UPLOAD_MAX_BYTES", _up["TRACKREPLAY_UPLOAD_MAX_BYTES"], minimum=1024)
TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES = env_int("TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES",
                                                    _up["TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES"], minimum=1024)
TRACKREPLAY_UPLOAD_MAX_DEPTH = env_int("TRACKREPLAY_UPLOAD_MAX_DEPTH", _up["TRACKREPLAY_UPLOAD_MAX_DEPTH"], minimum=8,
                                       maximum=1000)
TRACKREPLAY_UPLOAD_MAX_ENTRIES = env_int("TRACKREPLAY_UPLOAD_MAX_ENTRIES", _up["TRACKREPLAY_UPLOAD_MAX_ENTRIES"],
                                         minimum=1)
# The HAR a record-mode proxy uploads at the end of its run (/api/v1/ingest/recording, the agents' recording),
# as received; after gunzip it is bounded like any uploaded file.
TRACKREPLAY_RECORDING_MAX_BYTES = env_int("TRACKREPLAY_RECORDING_MAX_BYTES", _up["TRACKREPLAY_RECORDING_MAX_BYTES"],
                                          minimum=1024)
TRACKREPLAY_SCREENSHOT_MAX_BYTES = env_int("TRACKREPLAY_SCREENSHOT_MAX_BYTES", _up["TRACKREPLAY_SCREENSHOT_MAX_BYTES"],
                                           minimum=1024)
# JSON bodies of the REST API and console form posts; Django's own bound on non-file request data is the same.
TRACKREPLAY_API_MAX_BODY_BYTES = env_int("TRACKREPLAY_API_MAX_BODY_BYTES", _up["TRACKREPLAY_API_MAX_BODY_BYTES"],
                                         minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = TRACKREPLAY_API_MAX_BODY_BYTES
# Uploaded files over this size spool to a temporary file; their total size is bounded by the first handler.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "trackreplay.upload_http.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Requests the platform makes on a user's behalf (live API checks, webhooks) go through trackreplay/egress.py:
# these bound how long they may take and how much of an answer is read.
TRACKREPLAY_EGRESS_CONNECT_TIMEOUT = env_int("TRACKREPLAY_EGRESS_CONNECT_TIMEOUT", 5, minimum=1, maximum=60)
TRACKREPLAY_EGRESS_READ_TIMEOUT = env_int("TRACKREPLAY_EGRESS_READ_TIMEOUT", 10, minimum=1, maximum=300)
TRACKREPLAY_EGRESS_DEADLINE = env_int("TRACKREPLAY_EGRESS_DEADLINE", 30, minimum=1, maximum=600)
TRACKREPLAY_EGRESS_MAX_BYTES = env_int("TRACKREPLAY_EGRESS_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)

# Runs on devices: an agent holds a device through a lease its heartbeats extend; a device unseen this long
# is offline. TRACKREPLAY_QUEUE_PREFIX keeps one installation's (or one test session's) queues apart from
# another's on a shared broker. TRACKREPLAY_AGENT_BROKER_URL is the broker address agents are told to use
# when it differs from the platform's own (e.g. the platform reaches Redis on localhost, agents on the LAN).
TRACKREPLAY_LEASE_SECONDS = env_int("TRACKREPLAY_LEASE_SECONDS", 60, minimum=5)
TRACKREPLAY_DEVICE_OFFLINE_SECONDS = env_int("TRACKREPLAY_DEVICE_OFFLINE_SECONDS", 30, minimum=5)
# A check or screenshot a person asks of a device is offered to its agent this long; after that it shows as
# "no answer from the agent" (an HTTPS check on a phone sets its proxy and loads a page: give it a minute).
TRACKREPLAY_DEVICE_REQUEST_SECONDS = env_int("TRACKREPLAY_DEVICE_REQUEST_SECONDS", 120, minimum=10, maximum=3600)
TRACKREPLAY_QUEUE_PREFIX = env_str("TRACKREPLAY_QUEUE_PREFIX", "")
TRACKREPLAY_AGENT_BROKER_URL = env_str("TRACKREPLAY_AGENT_BROKER_URL", "")
# A run token (trr_…, for an in-app SDK bridge) expires this long after it is issued unless the request asks
# for less; it stops working anyway when its run ends.
TRACKREPLAY_RUN_TOKEN_TTL_SECONDS = env_int("TRACKREPLAY_RUN_TOKEN_TTL_SECONDS", 24 * 3600, minimum=60)

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
    # JSON bodies are bounded while read and parsed (trackreplay/upload_http.py), then checked for values no
    # column can store (trackreplay/values.py): a 400 naming the path. Multipart goes through
    # FILE_UPLOAD_HANDLERS.
    "DEFAULT_PARSER_CLASSES": [
        "trackreplay.upload_http.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "trackreplay.api_support.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["trackreplay.throttling.CallerThrottle"],
}
# API rate limits per caller (trackreplay/throttling.py); over the rate the API answers 429 with Retry-After.
# Agents and run tokens get their own, higher rate: a device host uploads steps, screenshots and event batches.
TRACKREPLAY_THROTTLE_RATES = {
    "agent": env_rate("TRACKREPLAY_THROTTLE_AGENT", "6000/min"),
    "user": env_rate("TRACKREPLAY_THROTTLE_USER", "1200/min"),
    "anon": env_rate("TRACKREPLAY_THROTTLE_ANON", "120/min"),
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
    # The agent reports `proxy`, the device API shows `proxy_mode`: one choice set, one name.
    "ENUM_NAME_OVERRIDES": {"ProxyModeEnum": "automation.models.ProxyMode"},
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under var/ (no server).
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = check_redis_url(REDIS_URL)
    CELERY_RESULT_BACKEND = REDIS_URL
    # Redis hands a message that was taken but never acknowledged (its worker was killed or its machine lost)
    # out again after this long. It must be longer than any task may run (a run's time cap is at most 3 h,
    # automation.models.MAX_TIME_CAP, plus its agent's grace; tests/integration/test_at_least_once.py checks
    # every task's time limit against it) so that a task still running is never handed out twice.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": env_int("TRACKREPLAY_REDIS_VISIBILITY_TIMEOUT", 4 * 3600, minimum=1)}
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _results_dir = VAR_DIR / "celery" / "results"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's default is ./control, wherever the process runs
    for _path in (_broker_dir, _processed_dir, _results_dir, _control_dir):
        _path.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport with acknowledgements that survive a killed worker (device_agent/broker.py).
    CELERY_BROKER_TRANSPORT = "device_agent.broker:Transport"
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
# At least once: a task is acknowledged when it has finished, and a task whose worker process died is
# handed out again (every task is idempotent; see tests/integration/test_at_least_once.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
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
