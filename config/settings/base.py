"""Settings shared by every environment, read from the environment through django-environ.

With nothing set, the project runs on the embedded default: SQLite in ``var/`` and a Celery
broker on kombu's filesystem transport, so a fresh machine needs nothing but Python.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

from config import observability

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_fsm",
    "rules",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "audit",
    "complaints",
    "escalation",
    "compliance",
    "operations",
    "django_prometheus",
    "django_structlog",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    # First and last (django-prometheus): request counts and latencies around everything.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside every middleware that reads the session or the user: a lost database is a 503
    # with a plain page (the report form keeps what was typed), never a traceback.
    # complaints/unavailable.py also answers what is raised in those middlewares.
    "complaints.unavailable.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything that may answer on its own (the two-factor redirect, the axes
    # lockout page), so every page carries the policy.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session and before CommonMiddleware, as Django requires: it picks each
    # request's language (the switcher's cookie, then Accept-Language, then English).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Needs request.user.is_verified(), which OTPMiddleware installs.
    "complaints.two_factor.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Binds a request id (and the user's id) to every log line of the request.
    "django_structlog.middlewares.RequestMiddleware",
    # Last, as axes requires: it turns a lockout flagged during the view into its page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "complaints.views.staff.context",
                "operations.sweep_watch.context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "complaints.sqlite3"
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two processes never deadlock upgrading
        # a read lock, and audit appends are serialised by SQLite itself. WAL lets readers
        # carry on while the web, the worker and beat write.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Reusing connections is not optional: a new PostgreSQL connection per request costs
    # far more than the request itself (bench/README.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # Kept on, though it costs each request a "SELECT 1" round trip before its first
    # statement: without it, after a PostgreSQL restart or failover every worker answers its next
    # request with a 500 on its dead connection, and that request may be someone's report.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Test databases are UTF-8 even on a cluster made under another locale.
    DATABASES["default"]["TEST"] = {"TEMPLATE": "template0", "CHARSET": "UTF8"}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# Object permissions (who may see which complaint) come from complaints/access.py, which
# registers its check with ``rules`` as ``complaints.view_complaint``. Axes goes first: it
# refuses a locked-out username and address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Login lockout (django-axes): a guesser gets AXES_FAILURE_LIMIT tries per username from one
# address, then that pair waits an hour (restarted by each further try). Locking by the pair,
# not the username alone, keeps a stranger from locking a handler out of their own cases.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(hours=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_HTTP_RESPONSE_CODE = 429

# Two-factor sign-in (django-otp, TOTP). Production forces it on for every staff role: a
# handler's password alone opens the most sensitive records the organisation holds.
OTP_REQUIRED_FOR_STAFF = env.bool("OTP_REQUIRED_FOR_STAFF", default=False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Speak up")

# Content-Security-Policy (django-csp 4), the same everywhere: pages use one stylesheet and
# no inline script or style, so nothing looser is needed and an injected script cannot run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en"
# Each language under its own name, as the switcher shows it: a reader who cannot read the
# page's current language still finds theirs.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
# The compiled catalogues (.mo) are kept next to their .po, so a machine without gettext
# runs the translated pages; `manage.py compilemessages` rebuilds them.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves from here; it must exist before the first `collectstatic`.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Celery -----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # kombu's filesystem transport needs no server. It can drop a message if a worker
    # dies, which loses nothing: the work itself lives in the database and the next
    # beat tick finds it again. The host name means nothing to it; without one kombu warns
    # at every connection that it fell back to "localhost".
    CELERY_BROKER_URL = "filesystem://localhost"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# What a task prints (the console mail backend of `make run` prints every message) is logged
# as INFO, not as the WARNING it would otherwise look like.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "audit-verify-chain": {
        "task": "audit.tasks.audit_verify_chain",
        "schedule": env.int("AUDIT_VERIFY_EVERY_SECONDS", default=3600),
    },
}

# --- Secrets for data at rest and the audit checkpoints -----------------------------------
# FIELD_ENCRYPTION_KEYS: Fernet keys, newest first (MultiFernet decrypts with any of them).
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# AUDIT_SIGNING_KEY: a base64 Ed25519 private key (32 raw bytes) that signs checkpoints.
AUDIT_SIGNING_KEY: str = env.str("AUDIT_SIGNING_KEY", default="")
# The public halves of keys that signed checkpoints before a rotation (base64, raw 32
# bytes): still published, so older checkpoints still verify.
AUDIT_PREVIOUS_PUBLIC_KEYS: list[str] = env.list("AUDIT_PREVIOUS_PUBLIC_KEYS", default=[])
# Witnessed checkpoints (audit/checkpoints.py): signed at least this often and after this
# many events, checked by a beat task every AUDIT_CHECKPOINT_CHECK_SECONDS.
AUDIT_CHECKPOINT_EVERY_SECONDS = env.int("AUDIT_CHECKPOINT_EVERY_SECONDS", default=3600)
AUDIT_CHECKPOINT_EVERY_EVENTS = env.int("AUDIT_CHECKPOINT_EVERY_EVENTS", default=10_000)
AUDIT_CHECKPOINT_CHECK_SECONDS = env.int("AUDIT_CHECKPOINT_CHECK_SECONDS", default=60)
# Where each checkpoint is also written, never overwritten (audit/sinks.py,
# docs/audit-log.md).
AUDIT_CHECKPOINT_SINK_CLASS = env.str("AUDIT_CHECKPOINT_SINK_CLASS",
                                      default="audit.sinks.DirectorySink")
AUDIT_CHECKPOINT_SINK = env.str("AUDIT_CHECKPOINT_SINK", default=str(VAR_DIR / "checkpoints"))
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {
    "task": "audit.tasks.audit_checkpoint_tick",
    "schedule": AUDIT_CHECKPOINT_CHECK_SECONDS,
}
# Checks that the log is complete, each owned by the app whose rows it compares with the
# log (audit.services.completeness_problems).
AUDIT_COMPLETENESS_CHECKS = ["complaints.completeness.audit_completeness"]
# Whether a notification's recipient is now conflicted on its case: the outbox (escalation)
# drops such mail unsent, by the conflict rules of the app above it.
NOTIFICATION_RECIPIENT_CONFLICTED = "complaints.access.recipient_conflicted"

# --- Logs and error tracking (config/observability.py) ---------------------------------------
# LOG_FORMAT: "console" (readable key=value lines, the embedded default) or "json" (one JSON
# object a line, production's default). Every line of a request carries its request_id, and
# every line of a Celery task its task_id (django-structlog).
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
LOGGING = observability.logging_config(fmt=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
observability.configure_structlog()
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# An anonymous reporter's address is not logged (config/observability.py drops it anyway).
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
# SENTRY_DSN: errors are sent there, scrubbed of personal data; unset, nothing is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
# Started by local.py and production.py, each naming its environment.

# --- Health and metrics (operations/) -------------------------------------------------------
# /readyz fails when the oldest undelivered notification is older than this.
MAIL_MAX_AGE_SECONDS = env.int("MAIL_MAX_AGE_SECONDS", default=3600)
# /metrics: with METRICS_TOKEN set, only "Authorization: Bearer <token>" gets it; without,
# it is open unless METRICS_REQUIRE_TOKEN (production: then it is absent, a 404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_REQUIRE_TOKEN = False
PROMETHEUS_EXPORT_MIGRATIONS = False

# Argon2id cost of an anonymous reporter's receipt key (argon2-cffi's RFC 9106 low-memory
# profile: 64 MiB, 3 passes). Filing anonymously pays this once; guessing pays it per try.
# The one salt of every receipt-key hash (complaints/receipts.py explains why one suffices).
# The default is public (it is in this file), so it serves development only: production
# refuses to start with it. Changing the salt orphans every key already issued.
RECEIPT_KEY_SALT_DEVELOPMENT = "misconduct-complaints/receipt-key/v1"
RECEIPT_KEY_SALT = env.str("RECEIPT_KEY_SALT", default=RECEIPT_KEY_SALT_DEVELOPMENT)
RECEIPT_KEY_ARGON2 = {
    "time_cost": env.int("RECEIPT_KEY_ARGON2_TIME_COST", default=3),
    "memory_cost": env.int("RECEIPT_KEY_ARGON2_MEMORY_KIB", default=65536),
    "parallelism": 4,
}

# Where "Leave this site quickly" sends someone who may be watched: an ordinary page
# elsewhere (the reporter's session ends first).
QUICK_EXIT_URL = env.str("QUICK_EXIT_URL", default="https://www.bbc.co.uk/weather")

# --- Attachments and retention ------------------------------------------------------------
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# A closed, dismissed or withdrawn case's personal data is erased this long after it ended.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=3 * 365)
RETENTION_PURGE_EVERY_SECONDS = env.int("RETENTION_PURGE_EVERY_SECONDS", default=24 * 3600)

# --- Deadlines and escalation ---------------------------------------------------------------
# The organisation's calendar: business days are Monday to Friday except the public holidays
# of this country (and subdivision), counted in this time zone.
ORG_TIME_ZONE = env.str("ORG_TIME_ZONE", default="Europe/London")
ORG_HOLIDAYS_COUNTRY = env.str("ORG_HOLIDAYS_COUNTRY", default="GB")
ORG_HOLIDAYS_SUBDIVISION = env.str("ORG_HOLIDAYS_SUBDIVISION", default="ENG") or None
# How long a worker may hold a notification before another may take it over (it died).
NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", default=300)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=12)
# A hung mail server must not hold a notification past its lease (then another worker would
# send it again): sends give up well inside it.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="complaints@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# The operators: told by mail when the sweep escalates a case to nobody (everyone who holds
# the role is conflicted on it). Addresses, comma-separated; none conflicted on the case.
ADMINS = [(address, address) for address in env.list("ADMINS", default=[])]
SWEEP_EVERY_SECONDS = env.float("SWEEP_EVERY_SECONDS", default=60.0)
# A sweep older than this counts as stopped (/readyz, the staff banner, the alert mail);
# 0 means twice SWEEP_EVERY_SECONDS.
SWEEP_STALE_AFTER_SECONDS = env.float("SWEEP_STALE_AFTER_SECONDS", default=0.0)
# A Healthchecks-style dead-man's switch, pinged (GET) after each completed sweep: the
# outside monitor alerts when the pings stop. Unset: no ping.
SWEEP_PING_URL = env.str("SWEEP_PING_URL", default="")
# Batches a sweep escalates at once, each on its own database connection (PostgreSQL).
# Three batches of a thousand keep both cores busy on this kind of machine (bench/README.md).
SWEEP_WORKERS = env.int("SWEEP_WORKERS", default=3)
SWEEP_BATCH_SIZE = env.int("SWEEP_BATCH_SIZE", default=1000)
CELERY_BEAT_SCHEDULE["escalation-sweep"] = {
    "task": "complaints.tasks.sweep_deadlines",
    "schedule": SWEEP_EVERY_SECONDS,
}
CELERY_BEAT_SCHEDULE["notifications-deliver"] = {
    "task": "escalation.tasks.deliver_notifications",
    "schedule": SWEEP_EVERY_SECONDS,
}
CELERY_BEAT_SCHEDULE["retention-purge"] = {
    "task": "complaints.tasks.retention_purge",
    "schedule": RETENTION_PURGE_EVERY_SECONDS,
}

# --- Cache and rate limits ------------------------------------------------------------------
# Rate limits count in the cache: Redis when there is one (shared by every process on every
# host), else each process's own memory. The embedded default has no Redis, and the Procfile
# runs WEB_CONCURRENCY (2) gunicorn workers, so there each worker counts on its own and a
# client can get up to that many times a limit.
# Nothing a request needs is kept only in the cache, so a lost Redis costs the counting and
# nothing else (complaints/throttle.py fails open). The timeouts keep a Redis that hangs,
# rather than refuses, from holding every request until the web server kills it.
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
     "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    if REDIS_URL else
    {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "complaints"}
)}
# A counter the cache cannot give back (it lost the key, or the connection) limits nobody.
RATELIMIT_FAIL_OPEN = True
# Wrong receipt keys per client address before its guesses wait for a free hashing slot.
RECEIPT_KEY_RATE_PER_CLIENT = env.str("RECEIPT_KEY_RATE_PER_CLIENT", default="10/h")
# Receipt-key checks hashing at once, per process (complaints/throttle.py). A bound on the
# Argon2 work, not on the reporters: gunicorn's sync workers are separate processes serving
# one request each, so there it never waits and the host's bound is its worker count; with
# threads (gthread, runserver) it keeps a flood of guesses from running a 64 MiB hash on
# every thread at once, which would take every core and most of the memory.
RECEIPT_KEY_CONCURRENCY = env.int("RECEIPT_KEY_CONCURRENCY", default=2)
# How long a check under its client's limit waits for a slot before a 503 (try again).
RECEIPT_KEY_WAIT_SECONDS = env.float("RECEIPT_KEY_WAIT_SECONDS", default=10.0)

# --- REST API (complaints/api/) --------------------------------------------------------------
# Bearer tokens only: no session authentication, so CSRF is not in play, and a browser's
# signed-in session can never be used against the API by another site.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["complaints.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["complaints.api.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["complaints.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "complaints.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Misconduct complaints API",
    "DESCRIPTION": "File and follow complaints, work cases, follow the audit log, sync the "
                   "directory. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Request bodies get their own components, so the postprocessing hook can close them.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CategoryEnum": "complaints.models.Category",
        "StateEnum": "complaints.models.State",
        "SeverityEnum": "complaints.models.Severity",
        "OutcomeEnum": "complaints.models.Outcome",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "complaints.api.schema.reject_unknown_fields",
    ],
    # The documentation page's assets come from the drf-spectacular-sidecar package, served
    # as our own static files: the CSP allows no other origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# A request body larger than this is refused (413) before it is read.
API_MAX_REQUEST_BYTES = env.int("API_MAX_REQUEST_BYTES", default=1024 * 1024)
# Filing, through the web form and the API together, per client address (django-ratelimit's
# syntax, as the receipt keys: "30/m", "500/h").
API_FILING_RATE = env.str("API_FILING_RATE", default="30/m")
# Bearer token lifetimes: a user's working day; an anonymous reporter's short visit.
API_TOKEN_TTL_USER = timedelta(seconds=env.int("API_TOKEN_TTL_USER_SECONDS", default=12 * 3600))
API_TOKEN_TTL_REPORTER = timedelta(
    seconds=env.int("API_TOKEN_TTL_REPORTER_SECONDS", default=30 * 60))
