"""Production: PostgreSQL, Redis, gunicorn. Refuses to start on a missing or malformed secret."""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config import observability
from config.settings.base import *  # noqa: F403
from config.settings.base import (
    ALLOWED_HOSTS,
    AUDIT_SIGNING_KEY,
    DATABASES,
    FIELD_ENCRYPTION_KEYS,
    METRICS_TOKEN,
    RECEIPT_KEY_SALT,
    RECEIPT_KEY_SALT_DEVELOPMENT,
    REDIS_URL,
    RETENTION_DAYS,
    SECRET_KEY,
    SENTRY_DSN,
    env,
)
from escalation.bounds import RETENTION_MAX_DAYS, RETENTION_MIN_DAYS

DEBUG = False


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ImproperlyConfigured(message)


_require(len(SECRET_KEY) >= 50, "DJANGO_SECRET_KEY must be set to at least 50 characters.")
_require(bool(ALLOWED_HOSTS), "DJANGO_ALLOWED_HOSTS must list the host names served.")
_require(
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql",
    "DATABASE_URL must point at PostgreSQL in production.",
)
_require(bool(REDIS_URL), "REDIS_URL must be set in production.")
_require(
    RETENTION_MIN_DAYS <= RETENTION_DAYS <= RETENTION_MAX_DAYS,
    f"RETENTION_DAYS must be between {RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS} days.",
)
_require(bool(FIELD_ENCRYPTION_KEYS), "FIELD_ENCRYPTION_KEYS must hold at least one Fernet key.")
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except (ValueError, binascii.Error) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a malformed Fernet key.") from exc
try:
    _require(
        len(base64.b64decode(AUDIT_SIGNING_KEY, validate=True)) == 32,
        "AUDIT_SIGNING_KEY must be 32 bytes of base64 (an Ed25519 private key).",
    )
except binascii.Error as exc:
    raise ImproperlyConfigured("AUDIT_SIGNING_KEY is not valid base64.") from exc
# The receipt keys' one salt: with the public development default, anyone holding a copy of
# the database could test guesses offline without knowing anything the server keeps.
_require(
    len(RECEIPT_KEY_SALT) >= 16 and RECEIPT_KEY_SALT != RECEIPT_KEY_SALT_DEVELOPMENT,
    "RECEIPT_KEY_SALT must be set to a secret of at least 16 characters (not the development "
    "default). Set it once: changing it orphans every receipt key already issued.",
)

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="complaints@localhost")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# Not read from the environment here: a staff account in production always needs its second
# factor, whatever a deployment's variables say.
OTP_REQUIRED_FOR_STAFF = True

# Probes and scrapers talk to gunicorn over plain HTTP, often by the pod's address: the
# health and metrics endpoints are not redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# /metrics only with METRICS_TOKEN as a bearer token; with none set it is absent (404).
METRICS_REQUIRE_TOKEN = True
_require(
    not METRICS_TOKEN or len(METRICS_TOKEN) >= 32,
    "METRICS_TOKEN, when set, must be at least 32 characters (the scraper's bearer token).",
)

# One JSON object a line, for the log shipper; LOG_FORMAT=console reads better by hand.
LOGGING = observability.logging_config(fmt=env.str("LOG_FORMAT", default="json"),
                                       level=env.str("LOG_LEVEL", default="INFO"))
observability.init_error_tracking(
    dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="production"))
