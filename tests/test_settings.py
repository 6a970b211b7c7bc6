"""Production settings refuse to start on a missing or malformed secret."""

from __future__ import annotations

import base64
import os
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
}


def load(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in GOOD}
    clean |= env | {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False,
    )


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
])
def test_production_settings_refuse_a_missing_or_malformed_secret(name: str, value: str,
                                                                   message: str) -> None:
    result = load(GOOD | {name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
