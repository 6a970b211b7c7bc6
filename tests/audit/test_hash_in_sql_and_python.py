"""The event hash is defined twice: in Python (audit/chain.py, which the verifier uses) and
in SQL (audit_event_hash, which the append function uses, migration 0007). A few hundred
random events, seeded so a failure repeats, pin the two together."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection, transaction

from audit import services as audit
from audit.actions import Action
from audit.chain import canonical_payload, event_hash, format_time
from audit.models import AuditEvent

pytestmark = [pytest.mark.services, pytest.mark.django_db]

CASES = 400
# Quotes, backslashes, JSON's control characters, line and paragraph separators, accents,
# CJK, astral emoji, a lone surrogate's neighbours: everything the two encoders could
# disagree on. PostgreSQL text holds no NUL, so a NUL appears only inside the payload,
# where JSON escapes it.
ALPHABET = ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01", "\x1f", "\x7f", "\u0085",
            "\u00e9", "\u2028", "\u2029", "\ufeff", "\ud7ff", "\ue000", "\uffff", "中", "文",
            "\U0001f600", "\U0010ffff", "<", ">", "&", "'", " ", "a", "Z", "0", "{", "]"]


def _text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 6 if depth < 3 else 3)
    if kind == 0:
        return _text(rng) + rng.choice(["", "\x00"])
    if kind == 1:
        return rng.randint(-(2**63), 2**63)
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 6): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _moment(rng: random.Random) -> datetime:
    base = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randint(0, 130 * 365 * 86400), microseconds=rng.randint(0, 999_999))
    zone = timezone(timedelta(minutes=rng.randint(-14 * 60, 14 * 60)))
    return base.astimezone(zone)


def _event(rng: random.Random) -> tuple[Any, ...]:
    return ("".join(rng.choice("0123456789abcdef") for _ in range(64)),
            rng.randint(1, 2**62), _moment(rng),
            rng.choice(list(AuditEvent.ActorType.values) + [_text(rng, 4)]), _text(rng),
            rng.choice([a.value for a in Action]), _text(rng), _text(rng), _text(rng), _text(rng),
            canonical_payload(_value(rng, 1) if rng.random() < 0.2 else
                              {_text(rng, 6): _value(rng, 1) for _ in range(rng.randint(0, 5))}))


def test_the_database_hashes_random_events_as_python_does() -> None:
    rng = random.Random(20260329)
    with connection.cursor() as cursor:
        for case in range(CASES):
            event = _event(rng)
            cursor.execute("SELECT audit_event_hash(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                           list(event))
            expected = event_hash(event[0], event[1], format_time(event[2]), *event[3:])
            assert cursor.fetchone()[0] == expected, f"case {case}: {event!r}"


def test_events_appended_by_the_database_verify_in_python() -> None:
    rng = random.Random(7)
    actors = [audit.SYSTEM, audit.ActorRef("user", "42"), audit.ActorRef("reporter", "MC-é")]
    with transaction.atomic():
        audit.record_many([
            audit.Entry(action=rng.choice([a.value for a in Action]), actor=rng.choice(actors),
                        target=(_text(rng, 8) or "t", _text(rng, 8)), from_state=_text(rng),
                        to_state=_text(rng),
                        payload={_text(rng, 6): _value(rng, 1) for _ in range(3)})
            for _ in range(CASES // 4)])
        audit.record(action=Action.AUDIT_LOG_VIEWED, actor=audit.SYSTEM,
                     payload={"q": _text(rng)})
    result = audit.verify(completeness=False)
    assert result.intact, result
    assert result.events == CASES // 4 + 1
