"""Limits on what costs the server: checking receipt keys, and filing.

**Receipt keys.** A key is 99 random bits, so limits are about cost and noise rather than
odds: each check is an Argon2id hash (64 MiB, about a tenth of a second of a core). What is
bounded is that work, never the reporters:

- every check that hashes runs under a process-wide semaphore
  (``RECEIPT_KEY_CONCURRENCY`` hashes at once, settings explain the size);
- wrong keys are counted per client address (``RECEIPT_KEY_RATE_PER_CLIENT``), in the
  cache, for the window only: nothing about who tried is ever written to the database;
- a client under its limit waits for a slot (``RECEIPT_KEY_WAIT_SECONDS``, then
  ``ReceiptKeyBusy``: 503 with Retry-After);
- a client over its limit is checked only when a slot is free at once: its right key still
  opens, a wrong one is refused as throttled (429); with no free slot it is refused at no
  hashing cost. The first refusal of each window is audited (``reporter.key_throttled``),
  later ones are not, so a flood cannot flood the log.

There is no limit across all clients: one would let anybody with enough addresses lock
every reporter out, right key included. A flood of wrong keys therefore never refuses a
right one; at worst it makes a reporter wait for a slot.

**Filing** (web form and API together): ``API_FILING_RATE`` per client address, counted
on every attempt, valid or not, as the API always has.

**A lost cache** (Redis down) limits nobody: every counter access goes through
``_usage``, which fails open and logs a warning at most once a minute. The semaphore is in
memory, so it still bounds the hashing meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from complaints.access import ReporterPrincipal
from complaints.receipts import normalise
from complaints.services.reporter import (
    WrongReceiptKey,
    receipt_key_redeem,
    receipt_key_throttled,
)

log = logging.getLogger(__name__)

GROUP = "receipt-key"
FILING_GROUP = "filing"
# What a 503 asks a reporter to wait: a slot frees in well under a second.
BUSY_RETRY_AFTER = 5
WARN_EVERY_SECONDS = 60.0


class ReceiptKeyThrottled(Exception):
    """This client has used up its wrong keys for now, and this key did not open a report
    (or could not be checked without waiting)."""


class ReceiptKeyBusy(Exception):
    """Every hashing slot stayed taken for the whole wait: try again shortly."""

    retry_after = BUSY_RETRY_AFTER


def client_key(group: str, request: HttpRequest) -> str:
    """The client's address, as the web server reports it. A server that reports none (a
    Unix socket behind a proxy) counts every such client together rather than failing."""
    return request.META.get("REMOTE_ADDR") or "unknown"


# --- The counters, and a cache that is gone --------------------------------------------------

_warned_at = -WARN_EVERY_SECONDS


def _cache_lost(exc: Exception) -> None:
    # A warning a minute, not one per request: with Redis down, every request lands here.
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= WARN_EVERY_SECONDS:
        _warned_at = now
        log.warning("rate-limit counters unavailable, limiting nobody until the cache is "
                    "back: %s", exc)


def _usage(request: HttpRequest, *, group: str, rate: str,
           increment: bool) -> dict[str, Any] | None:
    """The client's count in this window (django-ratelimit's usage), or None when the cache
    cannot say. The one way in to the counters, so a lost cache is never a 500."""
    try:
        return get_usage(request, group=group, key=client_key, rate=rate,  # type: ignore[no-any-return]
                         increment=increment)
    except Exception as exc:  # noqa: BLE001 - any cache failure: count nothing, serve
        _cache_lost(exc)
        return None


def _first_in_window(flag: str, usage: dict[str, Any]) -> bool:
    try:
        return bool(cache.add(flag, 1, timeout=usage["time_left"] + 1))
    except Exception as exc:  # noqa: BLE001 - as in _usage
        _cache_lost(exc)
        return False


# --- Receipt keys ---------------------------------------------------------------------------

_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def hashing_slots() -> threading.BoundedSemaphore:
    """This process's semaphore, made at first use (and again if the setting changes, which
    only tests do)."""
    global _slots
    size = max(1, int(settings.RECEIPT_KEY_CONCURRENCY))
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


def _refused(request: HttpRequest, usage: dict[str, Any]) -> ReceiptKeyThrottled:
    if _first_in_window(f"{GROUP}:audited:{client_key(GROUP, request)}", usage):
        receipt_key_throttled()
    return ReceiptKeyThrottled()


def receipt_key_check(request: HttpRequest, *, key: str) -> ReporterPrincipal:
    """The reporter a receipt key stands for, checked within the limits above.

    Raises ``WrongReceiptKey`` (counted against this client), ``ReceiptKeyThrottled``
    (429) or ``ReceiptKeyBusy`` (503). Audits as ``receipt_key_redeem`` does, except that
    the wrong keys of a client over its limit are audited once per window, as throttled.
    """
    usage = _usage(request, group=GROUP, rate=settings.RECEIPT_KEY_RATE_PER_CLIENT,
                   increment=False)
    over = usage is not None and usage["count"] >= usage["limit"]
    slots = hashing_slots()
    acquired = False
    if normalise(key) is not None:  # only a well-formed key is hashed
        if over:
            acquired = slots.acquire(blocking=False)
        else:
            acquired = slots.acquire(timeout=float(settings.RECEIPT_KEY_WAIT_SECONDS))
            if not acquired:
                raise ReceiptKeyBusy
    if over and not acquired:
        raise _refused(request, usage or {})
    try:
        principal = receipt_key_redeem(key=key, audit_rejection=not over)
    except WrongReceiptKey:
        principal = None
    finally:
        if acquired:
            slots.release()
    if principal is not None:
        return principal
    if over:
        raise _refused(request, usage or {})
    _usage(request, group=GROUP, rate=settings.RECEIPT_KEY_RATE_PER_CLIENT, increment=True)
    raise WrongReceiptKey


# --- Filing ---------------------------------------------------------------------------------

def filing_limited(request: HttpRequest) -> int | None:
    """Counts this filing attempt; seconds to wait when this client address has filed too
    often (web and API together), else None."""
    usage = _usage(request, group=FILING_GROUP, rate=settings.API_FILING_RATE, increment=True)
    if usage is not None and usage["should_limit"]:
        return max(int(usage["time_left"]), 1)
    return None
