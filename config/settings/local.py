"""The embedded default for a developer's machine and `make run`.

Secrets here are derived from fixed development strings so the demo starts with nothing
set; production refuses to start without real ones.
"""

from __future__ import annotations

import base64
import hashlib

from config import observability
from config.settings.base import *  # noqa: F403
from config.settings.base import ALLOWED_HOSTS, SENTRY_DSN, VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-secret-key-not-for-production")
ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]"]


def _dev_key(label: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode()


FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[_dev_key("dev-field-key")])
AUDIT_SIGNING_KEY = env.str(
    "AUDIT_SIGNING_KEY",
    default=base64.b64encode(hashlib.sha256(b"dev-audit-signing-key").digest()).decode(),
)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

observability.init_error_tracking(
    dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="development"))
