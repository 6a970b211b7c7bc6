"""Logs (structlog through the standard library) and optional error tracking (Sentry).

Kept in config/, beside the settings that call it: it belongs to no app and must be
importable before any app is.

What a log line may hold: ids (request, task, user, case reference), methods, paths without
their query strings, status codes, counts and timings. Never what a reporter typed (a
narrative, a name, an address): nothing in the code logs a form's fields, and the request
logger logs no body, no query string, no client address and no user agent, which could
single out an anonymous reporter as surely as a name (docs/security.md).
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

# Fields django-structlog would log that could identify an anonymous reporter.
_DROPPED_FIELDS = ("ip", "user_agent")


def _drop_identifying(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for name in _DROPPED_FIELDS:
        event.pop(name, None)
    request = event.get("request")
    if isinstance(request, str) and "?" in request:
        # "GET /path?q=..." -> "GET /path": a query string can carry what someone typed.
        event["request"] = request.split("?", 1)[0]
    return event


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _drop_identifying,
]


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """``LOGGING`` for Django: every record (ours, Django's, Celery's) goes through
    structlog's formatter, as JSON (``fmt="json"``, production) or as readable key=value
    lines (``"console"``, the embedded default)."""
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                               structlog.processors.format_exc_info, renderer],
                "foreign_pre_chain": [*SHARED_PROCESSORS,
                                      structlog.stdlib.ExtraAdder()],
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler",
                                 "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # django-axes announces its version at every start of every process and command;
            # its lockouts and failed sign-ins are logged by other modules and still show.
            "axes.apps": {"level": "WARNING"},
            # django-structlog's request lines replace the runserver/gunicorn-style ones.
            "django.server": {"level": "WARNING"},
            # A failing /readyz check would log its traceback at every probe; the 503 and
            # what it names are logged by the request logger. Unexpected errors still show.
            "health_check": {"level": "ERROR"},
        },
    }


def configure_structlog() -> None:
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *SHARED_PROCESSORS,
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.processors.UnicodeDecoder(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- Error tracking ------------------------------------------------------------------------

_SCRUBBED = "[scrubbed]"
# Request parts that carry what people typed or who they are.
_REQUEST_KEYS = ("data", "cookies", "query_string", "env")
_SENSITIVE_HEADERS = {"authorization", "cookie", "x-csrftoken", "x-forwarded-for",
                      "x-real-ip", "user-agent", "referer"}


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: keep what locates a fault (the exception, its stack, the
    path), drop what could be someone's words or identity: request bodies, query strings,
    cookies, identifying headers, the user beyond their id, local variables, and any
    breadcrumb's data."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _REQUEST_KEYS:
            if key in request:
                request[key] = _SCRUBBED
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: (_SCRUBBED if name.lower() in _SENSITIVE_HEADERS
                                         else value) for name, value in headers.items()}
        url = request.get("url")
        if isinstance(url, str) and "?" in url:
            request["url"] = url.split("?", 1)[0]
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        for crumb in breadcrumbs.get("values") or []:
            crumb.pop("data", None)
    extra = event.get("extra")
    if isinstance(extra, dict):
        event["extra"] = {key: _SCRUBBED for key in extra}
    return event


def init_error_tracking(*, dsn: str, environment: str) -> bool:
    """Start Sentry when a DSN is configured, with personal data off and ``scrub_event``
    on every event. Returns whether it started."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn, environment=environment, send_default_pii=False,
        include_local_variables=False, max_request_body_size="never",
        before_send=scrub_event,  # type: ignore[arg-type]
        integrations=[DjangoIntegration(), CeleryIntegration(),
                      LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        traces_sample_rate=0.0,
    )
    return True
