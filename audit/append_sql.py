"""The audit append on PostgreSQL: a call of the database's append functions.

Raw SQL because there is no ORM form of it: in production the application's role may not
INSERT into the audit tables at all (``manage.py audit_db_roles``); it may only call the
SECURITY DEFINER functions ``audit_append`` and ``audit_append_many`` (migrations
0003-0007), which lock the chain head, hash, insert and move the head. This is a
permission boundary, not a speed-up, so it carries no benchmark figure. SQLite, which has
no roles, appends through the ORM (``audit.services.record_many``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

# The fields of one event in the functions' argument order, after its time:
# actor type, actor id, action, target type, target id, from state, to state, payload.
Fields = Sequence[str]

_APPEND_ONE = (
    "SELECT new_seq, new_prev_hash, new_hash "
    "FROM audit_append(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_APPEND_MANY = (
    "SELECT new_seq, new_prev_hash, new_hash FROM audit_append_many(%s, %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
)


def append(now: datetime, events: Sequence[Fields]) -> list[tuple[int, str, str]]:
    """Append these events, in order, all at time ``now``: one statement. Returns each
    one's (seq, prev_hash, hash)."""
    with connection.cursor() as cursor:
        if len(events) == 1:
            cursor.execute(_APPEND_ONE, [now, *events[0]])
        else:
            cursor.execute(_APPEND_MANY, [now, *map(list, zip(*events, strict=True))])
        return [(int(seq), str(prev), str(digest)) for seq, prev, digest in cursor.fetchall()]
