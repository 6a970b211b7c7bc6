"""Production settings refuse to start on a missing or malformed secret, and pass Django's
deployment checks when every secret is good."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DJANGO_SECRET_KEY": "s" * 64,
    "DJANGO_ALLOWED_HOSTS": "complaints.example.com",
    "DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/complaints",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "AUDIT_SIGNING_KEY": base64.b64encode(b"k" * 32).decode(),
    "RECEIPT_KEY_SALT": "a-deployments-own-salt",
}


# Variables a developer's shell might hold that would change what production does.
LOCAL_OVERRIDES = {"SECURE_SSL_REDIRECT", "OTP_REQUIRED_FOR_STAFF", "DJANGO_DEBUG"}


def run_production(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in GOOD and k not in LOCAL_OVERRIDES}
    clean |= env | {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
    return subprocess.run(  # noqa: S603 (argv is this module's own constants)
        [sys.executable, *argv],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False,
    )


def load(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_production(["-c", "import django; django.setup(); print('started')"], env)


def test_production_settings_start_with_every_secret_set() -> None:
    assert load(GOOD).stdout.strip() == "started"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DJANGO_SECRET_KEY", "", "DJANGO_SECRET_KEY"),
    ("DJANGO_SECRET_KEY", "short", "DJANGO_SECRET_KEY"),
    ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS"),
    ("DATABASE_URL", "sqlite:///x.sqlite3", "DATABASE_URL"),
    ("REDIS_URL", "", "REDIS_URL"),
    ("FIELD_ENCRYPTION_KEYS", "not-a-key", "malformed Fernet key"),
    ("AUDIT_SIGNING_KEY", "bm90IDMyIGJ5dGVz", "AUDIT_SIGNING_KEY"),
    ("AUDIT_SIGNING_KEY", "%%%", "AUDIT_SIGNING_KEY"),
    # A retention period is configuration on the record: none the law's bounds refuse.
    ("RETENTION_DAYS", "36500", "RETENTION_DAYS"),
    ("RETENTION_DAYS", "30", "RETENTION_DAYS"),
    ("RECEIPT_KEY_SALT", "", "RECEIPT_KEY_SALT"),
    ("RECEIPT_KEY_SALT", "fifteen-chars!!", "RECEIPT_KEY_SALT"),
    # The old default: public, in the source.
    ("RECEIPT_KEY_SALT", "misconduct-complaints/receipt-key/v1", "RECEIPT_KEY_SALT"),
    # Optional, but a scraper's bearer token too short to resist guessing is refused.
    ("METRICS_TOKEN", "short", "METRICS_TOKEN"),
])
def test_production_settings_refuse_a_missing_or_malformed_secret(name: str, value: str,
                                                                   message: str) -> None:
    result = load(GOOD | {name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


# A deployment's secrets: random, as they would be (Django warns on a key of few distinct
# characters). `check` does not connect to the database unless asked.
DEPLOYED = GOOD | {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/x",
    "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
}


def test_production_refuses_to_start_without_a_receipt_key_salt() -> None:
    # Unset altogether (run_production drops the shell's own): the public default is refused.
    result = load({k: v for k, v in GOOD.items() if k != "RECEIPT_KEY_SALT"})
    assert result.returncode != 0 and "RECEIPT_KEY_SALT" in result.stderr


def test_production_passes_the_deployment_checks_without_a_warning() -> None:
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            DEPLOYED)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


# An anonymous request for a staff page: it runs the whole middleware stack but needs neither
# the database nor collected static files, which this subprocess does not have.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/accounts/two-factor/", secure=True,
                        headers={"host": "complaints.example.com"})
print(json.dumps({
    "otp_required": settings.OTP_REQUIRED_FOR_STAFF,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
    "hsts_seconds": settings.SECURE_HSTS_SECONDS,
    "status": response.status_code,
    "location": response.get("Location", ""),
    "csp": response.get("Content-Security-Policy", ""),
    "hsts": response.get("Strict-Transport-Security", ""),
}))
"""


def test_production_requires_two_factor_secure_cookies_hsts_and_a_csp() -> None:
    result = run_production(["-c", PROBE], DEPLOYED | {"OTP_REQUIRED_FOR_STAFF": "false"})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    # Forced on, whatever the environment says.
    assert seen["otp_required"] is True
    assert seen["session_cookie_secure"] is True and seen["csrf_cookie_secure"] is True
    assert seen["hsts_seconds"] >= 365 * 24 * 3600
    assert seen["status"] == 302 and seen["location"].startswith("/accounts/login/")
    assert "default-src 'self'" in seen["csp"] and "frame-ancestors 'none'" in seen["csp"]
    assert "script-src 'self'" in seen["csp"] and "unsafe-inline" not in seen["csp"]
    assert seen["hsts"].startswith("max-age=31536000")
