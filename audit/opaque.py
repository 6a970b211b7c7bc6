"""What a human reader is shown of the log: nothing that tells its shape.

A reader may not see some events (those about a case they are conflicted on). Whatever
they do see must not betray the hidden ones: no sequence numbers (a gap, 3405 -> 3410, is a
case being worked on), no counts of all events, no positions, no times of hidden events.
And it must look the same to every reader, conflicted or not: a presentation that differed
for the conflicted would itself tell them that a case exists. So, for everyone:

- an event is named by ``event_id``: a keyed digest of its hash. Not the hash itself, nor a
  prefix of it: an event's hash is SHA-256 over the previous event's hash, its ``seq`` and
  the fields a reader sees, so with two neighbouring hashes a reader can try every ``seq``
  until one matches, and learn both the position and whether anything is hidden between
  them. A keyed digest can't be tried without the server's secret.
- paging carries a ``cursor``: the position encrypted and authenticated (Fernet, under a
  key derived from ``SECRET_KEY``), so it can be neither forged nor read. Signing alone
  (``django.core.signing``) would not do: a signed value is readable base64.
- no hash of the chain is shown either, the head's included. Two head hashes read a moment
  apart with one event of the reader's own between them (a verification they asked for,
  whose fields they see) are that event's ``prev_hash`` and ``hash``: trying every ``seq``
  finds its position, and so the number of events hidden from them.
- a payload is shown without the keys that carry chain positions, counts of all events or
  chain hashes (``HIDDEN_KEYS``: older events still hold positions and counts, newer ones
  are written without; hashes stay on the record for the operator).
- the chain's integrity is the server's verdict: intact or broken, and when it was
  checked.

The operator's tools (``manage.py verify_audit``, the signed checkpoints) still speak in
sequence numbers: they are for whoever runs the database, who sees every event anyway.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.crypto import salted_hmac

from audit.chain import canonical_payload
from audit.models import AuditEvent

ID_LENGTH = 16
# Payload keys that hold a position in the chain, a count of all its events or a chain hash,
# or a count of cases (older directory events hold ``cases_reevaluated``: a reader conflicted
# on a case below a moved person would learn from it that the case exists). Dropped from
# what readers see, whichever event holds them.
HIDDEN_KEYS = frozenset({"seq", "last_seq", "head_seq", "events", "before", "after", "shown",
                         "first_broken_seq", "head_hash", "hash", "cases_reevaluated"})
_CURSOR_DIRECTIONS = ("after", "before")


class BadCursor(ValueError):
    """A cursor that this server did not make (or made under another secret)."""


def event_id(event: AuditEvent) -> str:
    """The stable, opaque name of an event shown to readers (the log page, the API, the
    exports): 16 hex characters that reveal neither its position nor its neighbours."""
    return salted_hmac("audit.event_id", event.hash, algorithm="sha256").hexdigest()[:ID_LENGTH]


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = salted_hmac("audit.cursor", "fernet key", secret=secret, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def cursor_encode(*, direction: str, seq: int) -> str:
    """A page cursor: events ``after`` or ``before`` this position, unreadable to the
    client (the token is random each time, so equal positions don't look equal either)."""
    if direction not in _CURSOR_DIRECTIONS:
        raise ValueError(f"unknown cursor direction {direction!r}")
    body = json.dumps([direction, seq], separators=(",", ":")).encode()
    # Without base64's padding, so it needs no escaping in a URL.
    return _fernet(settings.SECRET_KEY).encrypt(body).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Cursor:
    direction: str
    seq: int


def cursor_decode(token: str) -> Cursor:
    """The position a cursor stands for. Raises ``BadCursor`` for anything this server
    did not make."""
    try:
        padded = token + "=" * (-len(token) % 4)
        body = _fernet(settings.SECRET_KEY).decrypt(padded.encode("ascii"))
        direction, seq = json.loads(body)
    except (InvalidToken, UnicodeError, ValueError, TypeError) as exc:
        raise BadCursor("this page link is not valid") from exc
    if direction not in _CURSOR_DIRECTIONS or not isinstance(seq, int) or seq < 0:
        raise BadCursor("this page link is not valid")
    return Cursor(direction=direction, seq=seq)


def reader_payload(event: AuditEvent) -> dict[str, Any]:
    """The event's payload as readers see it: without ``HIDDEN_KEYS`` (a broken link's
    position stays: see ``verification_public``)."""
    try:
        loaded = json.loads(event.payload)
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {key: value for key, value in loaded.items()
            if key not in HIDDEN_KEYS or (key == "first_broken_seq" and value is not None)}


def reader_payload_text(event: AuditEvent) -> str:
    return canonical_payload(reader_payload(event))


def verification_payload(result: Any) -> dict[str, Any]:
    """What a chain verification puts on the record (``audit.chain_verified``), which every
    reader of the log sees: the verdict, and where it broke only when it did. Not the number
    of events walked: read against the events a reader can see, it would count the ones
    hidden from them. The head hash is kept for the operator; readers are not shown it."""
    payload: dict[str, Any] = {"intact": result.intact, "head_hash": result.head_hash,
                               "complete": result.complete}
    if not result.intact:
        payload |= {"first_broken_seq": result.first_broken_seq, "problem": result.problem}
    return payload


def verification_public(result: Any, *, checked_at: datetime) -> dict[str, Any]:
    """A verification as the API returns it: ``{intact, checked_at}``, and
    ``first_broken_seq`` with ``problem`` only when the chain is broken. No head hash: see
    the module's docstring.

    The broken position is a trade-off, made on purpose: a broken chain is an incident the
    reader must be able to locate and report, and the operator's tools name it by ``seq``.
    It tells a conflicted reader one position in the chain, once, in an incident that is
    itself investigated; an intact chain (every other day) tells them nothing."""
    shown = {key: value for key, value in verification_payload(result).items()
             if key != "head_hash"}
    return {**shown, "checked_at": checked_at}
