"""The canonical encoding of an event and its hash. One definition for writer and verifier."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64
# One encoder each, built once: json.dumps with non-default arguments builds a new encoder
# on every call, a third of the cost of hashing an event.
_ENCODE_FIELDS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_ENCODE_PAYLOAD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
                                   sort_keys=True).encode
# The same format, written by PostgreSQL's to_char (audit_append, and the verifier's query).
POSTGRES_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_payload(payload: dict[str, object] | None) -> str:
    return _ENCODE_PAYLOAD(payload or {})


def event_hash(
    prev_hash: str,
    seq: int,
    occurred_at: str,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    from_state: str,
    to_state: str,
    payload: str,
) -> str:
    """SHA-256 over the previous hash and a JSON array of the event's fields, in order."""
    body = _ENCODE_FIELDS((seq, occurred_at, actor_type, actor_id, action, target_type,
                           target_id, from_state, to_state, payload))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()
