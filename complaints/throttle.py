"""Stopping receipt-key guessing, shared by the web follow-up page and the API.

Wrong keys are counted per client address and across all clients (so spreading a guess
over many addresses is stopped too), in the cache, for the length of the window only:
nothing about who tried is ever written to the database. A key is 99 random bits, so the
limits are about cost and noise rather than odds; each guess costs an Argon2 hash too.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from complaints.services.reporter import receipt_key_throttled

GROUP = "receipt-key"


def client_key(group: str, request: HttpRequest) -> str:
    """The client's address, as the web server reports it. A server that reports none (a
    Unix socket behind a proxy) counts every such client together rather than failing."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _everyone(group: str, request: HttpRequest) -> str:
    return "all"


def _rates() -> list[tuple[Any, str]]:
    return [(client_key, settings.RECEIPT_KEY_RATE_PER_CLIENT),
            (_everyone, settings.RECEIPT_KEY_RATE_GLOBAL)]


def receipt_key_blocked(request: HttpRequest) -> bool:
    """True when this client (or everyone) has used up its wrong guesses for now. The first
    refusal in each window is audited; later ones are not, so a flood cannot flood the log."""
    for key, rate in _rates():
        usage = get_usage(request, group=GROUP, key=key, rate=rate, increment=False)
        if usage is not None and usage["count"] >= usage["limit"]:
            flag = f"{GROUP}:audited:{key.__name__}:{key(GROUP, request)}"
            if cache.add(flag, 1, timeout=usage["time_left"] + 1):
                receipt_key_throttled()
            return True
    return False


def receipt_key_failed(request: HttpRequest) -> None:
    """Count one wrong key against this client and against everyone."""
    for key, rate in _rates():
        get_usage(request, group=GROUP, key=key, rate=rate, increment=True)
