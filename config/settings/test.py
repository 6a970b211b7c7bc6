"""Settings for pytest: fast hashers, locmem mail, and the same database switch as local."""

from __future__ import annotations

import tempfile

from config.settings.local import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {}
RECEIPT_KEY_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
# Under pytest's `db` fixture nothing commits, so other connections would see nothing: the
# sweep's own parallelism is tested on committed data in tests/escalation/test_races.py.
SWEEP_WORKERS = 1
# Two-factor and login lockout are off unless a test turns them on (tests/test_account_security.py
# does): a developer's OTP_REQUIRED_FOR_STAFF must not change other tests, and axes refuses
# `client.login()`, which authenticates without a request.
OTP_REQUIRED_FOR_STAFF = False
AXES_ENABLED = False
# Checkpoints a test delivers land in a directory of this run, not the developer's var/.
AUDIT_CHECKPOINT_SINK = tempfile.mkdtemp(prefix="checkpoint-sink-")
# The heartbeat's clock is the wall clock, and a test session runs for minutes: a stopped
# sweep (a banner and a mail on staff pages) is tested where a test asks for it
# (tests/operations/), by setting this back to 0 (twice SWEEP_EVERY_SECONDS).
SWEEP_STALE_AFTER_SECONDS = 10 * 365 * 24 * 3600.0
