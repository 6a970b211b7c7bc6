"""The SQL that makes the audit log append-only at the database (migrations 0002, 0004).

Events: UPDATE, DELETE and (SQLite) INSERT OR REPLACE are refused for every client, raw SQL
included, and TRUNCATE too on PostgreSQL. The chain head: never deleted, never moved back.
Getting past them takes database-superuser rights (PostgreSQL's session_replication_role)
or ownership of the tables (dropping a trigger); production runs the application under a
role with neither, which appends only through the audit_append functions
(``manage.py audit_db_roles``).
"""

from __future__ import annotations

from typing import Any

TABLE = "audit_auditevent"
HEAD = "audit_chainhead"
MESSAGE = "audit log is append-only"
HEAD_MESSAGE = "audit chain head only moves forward"

UP = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END",
        # INSERT OR REPLACE deletes the old row without firing delete triggers.
        (f"CREATE TRIGGER IF NOT EXISTS audit_event_no_replace BEFORE INSERT ON {TABLE} "  # noqa: S608
         f"WHEN EXISTS (SELECT 1 FROM {TABLE} WHERE seq = NEW.seq) "
         f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: REPLACE refused'); END"),
        f"CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON {HEAD} "
        f"BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}: DELETE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON {HEAD} "
        f"WHEN NEW.seq < OLD.seq OR NEW.id <> OLD.id "
        f"BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}: UPDATE refused'); END",
    ],
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING MESSAGE = '{MESSAGE}: ' || TG_OP || ' refused',
                ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        f"CREATE OR REPLACE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE "
        f"ON {TABLE} FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()",
        f"CREATE OR REPLACE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()",
        f"""
        CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
                RAISE EXCEPTION USING MESSAGE = '{HEAD_MESSAGE}: ' || TG_OP || ' refused',
                    ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """,
        f"CREATE OR REPLACE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON {HEAD} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()",
        f"CREATE OR REPLACE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON {HEAD} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward_only()",
    ],
}

DOWN = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_event_no_update",
        "DROP TRIGGER IF EXISTS audit_event_no_delete",
        "DROP TRIGGER IF EXISTS audit_event_no_replace",
        "DROP TRIGGER IF EXISTS audit_head_no_delete",
        "DROP TRIGGER IF EXISTS audit_head_forward",
    ],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE}",
        f"DROP TRIGGER IF EXISTS audit_event_no_update_delete ON {TABLE}",
        "DROP FUNCTION IF EXISTS audit_event_refuse_change()",
        f"DROP TRIGGER IF EXISTS audit_head_no_truncate ON {HEAD}",
        f"DROP TRIGGER IF EXISTS audit_head_forward ON {HEAD}",
        "DROP FUNCTION IF EXISTS audit_head_forward_only()",
    ],
}


def statements(direction: dict[str, list[str]], vendor: str) -> list[str]:
    if vendor not in direction:
        raise RuntimeError(f"no append-only triggers for {vendor}: the audit log must not "
                           "run unprotected")
    return direction[vendor]


# --- Checkpoints (migration 0008): the same walls around the signed heads ---------------------

CHECKPOINT_TABLES = ("audit_checkpoint", "audit_checkpointdelivery")
CHECKPOINT_MESSAGE = "audit checkpoints are append-only"


def _checkpoint_up_sqlite() -> list[str]:
    out: list[str] = []
    for table in CHECKPOINT_TABLES:
        out += [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_MESSAGE}: UPDATE refused'); END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_MESSAGE}: DELETE refused'); END",
            (f"CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
             f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
             f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_MESSAGE}: REPLACE refused'); END"),
        ]
    return out


def _checkpoint_up_postgresql() -> list[str]:
    out = [f"""
        CREATE OR REPLACE FUNCTION audit_checkpoint_refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING MESSAGE = '{CHECKPOINT_MESSAGE}: ' || TG_OP || ' refused',
                ERRCODE = 'insufficient_privilege';
        END
        $$
        """]
    for table in CHECKPOINT_TABLES:
        out += [
            f"CREATE OR REPLACE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE "
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_refuse_change()",
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_refuse_change()",
        ]
    return out


CHECKPOINT_UP = {"sqlite": _checkpoint_up_sqlite(), "postgresql": _checkpoint_up_postgresql()}
CHECKPOINT_DOWN = {
    "sqlite": [f"DROP TRIGGER IF EXISTS {table}_{what}" for table in CHECKPOINT_TABLES
               for what in ("no_update", "no_delete", "no_replace")],
    "postgresql": [
        *(f"DROP TRIGGER IF EXISTS {table}_{what} ON {table}" for table in CHECKPOINT_TABLES
          for what in ("no_update_delete", "no_truncate")),
        "DROP FUNCTION IF EXISTS audit_checkpoint_refuse_change()",
    ],
}


def operation(up: dict[str, list[str]], down: dict[str, list[str]]) -> Any:
    """A migration operation running these per-database statements forwards and back; it
    refuses a database it has none for rather than leave the tables unguarded."""
    from django.db import migrations

    def run(direction: dict[str, list[str]]) -> Any:
        def apply(apps: Any, schema_editor: Any) -> None:
            for sql in statements(direction, schema_editor.connection.vendor):
                schema_editor.execute(sql)

        return apply

    return migrations.RunPython(run(up), run(down))


# --- Checkpoints name the log's head, in order (migration 0009) -----------------------------
#
# A checkpoint row is what the beat trusts to decide when the next is due, and what the
# purge permit (complaints/guard.py) trusts to prove an event is a year old. So a row must
# name an event of the log by its hash (or the empty log: seq 0 and the genesis hash),
# never go back (seq and made_at at least the last checkpoint's), and never claim a time
# the database's clock has not reached (made_at at most a minute ahead of it). Nor may the
# first one be back-dated (at most a minute behind). An inserted row can then only ever
# say "this event existed by now": never that an event is older than it is. Its signature
# the database cannot check; audit.checkpoints trusts only rows whose signature verifies.
#
# SQLite has no roles, so nobody there is kept from the file; its trigger checks the order
# and the head as here, but allows a day ahead of the clock (tests sign checkpoints at
# chosen times) and does not bound the first one from below.

CHECKPOINT_INSERT_MESSAGE = "audit checkpoint refused"
# The advisory lock every signer takes (audit.checkpoints._SIGNER_LOCK): an insert waits
# for any other signer, so "the last checkpoint" is the committed one.
SIGNER_LOCK = 0x61756469_74636b70
GENESIS = "0" * 64
CLOCK_TOLERANCE = "1 minute"
SQLITE_CLOCK_TOLERANCE = "+1 day"


def _checkpoint_insert_sqlite() -> list[str]:
    checkpoint = CHECKPOINT_TABLES[0]
    names_event = (f"(NEW.seq = 0 AND NEW.head_hash = '{GENESIS}') OR EXISTS (SELECT 1 FROM "  # noqa: S608
                   f"{TABLE} WHERE seq = NEW.seq AND hash = NEW.head_hash)")
    goes_back = (f"EXISTS (SELECT 1 FROM {checkpoint} WHERE seq > NEW.seq "  # noqa: S608
                 f"OR julianday(made_at) > julianday(NEW.made_at))")
    return [
        f"CREATE TRIGGER IF NOT EXISTS {checkpoint}_insert_guard BEFORE INSERT ON {checkpoint} "
        f"WHEN NOT ({names_event}) OR {goes_back} OR julianday(NEW.made_at) IS NULL "
        f"OR julianday(NEW.made_at) > julianday('now', '{SQLITE_CLOCK_TOLERANCE}') "
        f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINT_INSERT_MESSAGE}: it must name an event of "
        f"the log, come after the last checkpoint and not be dated ahead'); END",
    ]


def checkpoint_insert_postgresql(tolerance: str = CLOCK_TOLERANCE) -> list[str]:
    checkpoint = CHECKPOINT_TABLES[0]
    return [
        f"""
        CREATE OR REPLACE FUNCTION audit_checkpoint_insert_guard() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            v_seq bigint;
            v_made_at timestamptz;
        BEGIN
            PERFORM pg_catalog.pg_advisory_xact_lock({SIGNER_LOCK});
            IF NOT ((NEW.seq = 0 AND NEW.head_hash = '{GENESIS}') OR EXISTS (
                    SELECT 1 FROM {TABLE} AS e
                    WHERE e.seq = NEW.seq AND e.hash = NEW.head_hash)) THEN
                RAISE EXCEPTION USING MESSAGE = '{CHECKPOINT_INSERT_MESSAGE}: #' || NEW.seq
                    || ' does not name an event of the log by its hash',
                    ERRCODE = 'insufficient_privilege';
            END IF;
            SELECT max(k.seq), max(k.made_at) INTO v_seq, v_made_at FROM {checkpoint} AS k;
            IF NEW.seq < v_seq OR NEW.made_at < v_made_at THEN
                RAISE EXCEPTION USING MESSAGE = '{CHECKPOINT_INSERT_MESSAGE}: it comes before '
                    || 'the last checkpoint', ERRCODE = 'insufficient_privilege';
            END IF;
            IF NEW.made_at > pg_catalog.clock_timestamp() + interval '{tolerance}'
                    OR (v_seq IS NULL
                        AND NEW.made_at < pg_catalog.now() - interval '{tolerance}') THEN
                RAISE EXCEPTION USING MESSAGE = '{CHECKPOINT_INSERT_MESSAGE}: made_at is not '
                    || 'the database''s time', ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END
        $$
        """,  # noqa: S608
        f"CREATE OR REPLACE TRIGGER {checkpoint}_insert_guard BEFORE INSERT ON {checkpoint} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_insert_guard()",
    ]


CHECKPOINT_INSERT_UP = {"sqlite": _checkpoint_insert_sqlite(),
                        "postgresql": checkpoint_insert_postgresql()}
CHECKPOINT_INSERT_DOWN = {
    "sqlite": [f"DROP TRIGGER IF EXISTS {CHECKPOINT_TABLES[0]}_insert_guard"],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {CHECKPOINT_TABLES[0]}_insert_guard ON {CHECKPOINT_TABLES[0]}",
        "DROP FUNCTION IF EXISTS audit_checkpoint_insert_guard()",
    ],
}
