"""Production settings: the same environment-driven settings, with the safety catches on.

Refuses to start with DEBUG on or without SECRET_KEY, so a forgotten variable cannot expose debug
pages or sign sessions with a development key.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool

if env_bool("DEBUG", False):
    raise ImproperlyConfigured("DEBUG must be off in production (trackreplay.settings_production)")
if not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production (trackreplay.settings_production)")
os.environ["DEBUG"] = "0"

from .settings import *  # noqa: E402,F403
from .settings import ALLOWED_HOSTS, env_bool as _env_bool, env_int  # noqa: E402

if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production: a comma-separated list of host names")

SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
