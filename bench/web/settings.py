"""Django settings for the web load benchmark (bench/web_load.py): production's, as a
deployment behind a TLS-terminating proxy runs them, with the differences a load test on
loopback needs, each stated below. Never use these anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import os


def _dev_key(label: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode()


# Production refuses to start without its secrets. The benchmark's data is written with the
# development ones (derived as config/settings/local.py derives them; every bench/ loader runs
# under those settings), so those are the defaults here; the environment still wins. Set
# before config.settings.base is first imported: it reads them once.
for _name, _value in {
    "DJANGO_SECRET_KEY": "bench-web-load-only-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "FIELD_ENCRYPTION_KEYS": _dev_key("dev-field-key"),
    "AUDIT_SIGNING_KEY": base64.b64encode(hashlib.sha256(b"dev-audit-signing-key").digest())
    .decode(),
    # Production refuses the receipt keys' public development salt, with which the seed's
    # published keys were hashed: this stands in for production's check only (5. below).
    "RECEIPT_KEY_SALT": "bench-web-load-only-salt",
}.items():
    os.environ.setdefault(_name, _value)

from config.settings.production import *  # noqa: E402,F403
from config.settings.production import (  # noqa: E402
    MIDDLEWARE,
    RECEIPT_KEY_SALT,
    RECEIPT_KEY_SALT_DEVELOPMENT,
    env,
)

# 1. The bench-only urlconf: the app's URLs plus a bare view for the ceiling measurement.
ROOT_URLCONF = "bench.web.urls"

# 2. Production hard-codes two-factor sign-in for staff. The queue-page measurement signs HR
# reviewers in with sessions made beforehand, which carry no verified device.
OTP_REQUIRED_FOR_STAFF = env.bool("OTP_REQUIRED_FOR_STAFF", default=False)

# 3. Only for the bare ceiling run: no middleware at all, so the bench view is a bare Django
# view doing one indexed read (what the brief's ~2,800 requests/s refers to), measured beside
# the same view through the app's whole middleware stack.
if env.bool("BENCH_WEB_BARE", default=False):
    MIDDLEWARE = []

# 4. Only for the profiling runs: count statements and time per request (bench/web/probe.py),
# outermost so that the session and user reads are counted too.
if env.str("BENCH_WEB_PROBE_DIR", default=""):
    MIDDLEWARE = ["bench.web.probe.RequestProbe", *MIDDLEWARE]

# 5. The receipt keys' salt the seed hashed its published keys with (the development one),
# unless the environment names a salt for the seed and the benchmark alike.
if RECEIPT_KEY_SALT == "bench-web-load-only-salt":
    RECEIPT_KEY_SALT = RECEIPT_KEY_SALT_DEVELOPMENT
