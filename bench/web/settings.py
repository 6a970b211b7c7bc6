"""Django settings for bench/web_load.py only: production's, with the differences a load
test on loopback needs."""

from __future__ import annotations

import base64
import hashlib
import os


def _dev_key(label: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode()


# Production refuses to start without its secrets; the data is written with the
# development keys (as config/settings/local.py derives them). Set before production's
# settings are imported: they read them once.
for _name, _value in {
    "DJANGO_SECRET_KEY": "bench-web-load-only-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "FIELD_ENCRYPTION_KEYS": _dev_key("dev-field-key"),
    "AUDIT_SIGNING_KEY": base64.b64encode(hashlib.sha256(b"dev-audit-signing-key").digest())
    .decode(),
    "RECEIPT_KEY_SALT": "bench-web-load-only-salt",
    # Every request comes from one address: lift the per-client limits.
    "RECEIPT_KEY_RATE_PER_CLIENT": "1000000/s",
    "API_FILING_RATE": "1000000/s",
}.items():
    os.environ.setdefault(_name, _value)

from config.settings.production import *  # noqa: E402,F403
from config.settings.production import env  # noqa: E402

# The app's URLs plus the bare indexed-read view and a readiness probe.
ROOT_URLCONF = "bench.web.urls"
# Reviewers are signed in with sessions made beforehand, which carry no verified device.
OTP_REQUIRED_FOR_STAFF = env.bool("OTP_REQUIRED_FOR_STAFF", default=False)
