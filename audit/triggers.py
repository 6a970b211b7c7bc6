"""The SQL that makes the audit log append-only at the database (applied by migration 0002).

UPDATE and DELETE are refused for every client, raw SQL included, and TRUNCATE too on
PostgreSQL. Getting past them takes database-superuser rights (PostgreSQL's
session_replication_role) or ownership of the table (dropping the trigger); production runs
the application under a role with neither (``manage.py audit_db_roles``).
"""

from __future__ import annotations

TABLE = "audit_auditevent"
MESSAGE = "audit log is append-only"

UP = {
    "sqlite": [
        f"CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END",
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
        f"CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()",
        f"CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()",
    ],
}

DOWN = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_event_no_update",
        "DROP TRIGGER IF EXISTS audit_event_no_delete",
    ],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE}",
        f"DROP TRIGGER IF EXISTS audit_event_no_update_delete ON {TABLE}",
        "DROP FUNCTION IF EXISTS audit_event_refuse_change()",
    ],
}


def statements(direction: dict[str, list[str]], vendor: str) -> list[str]:
    if vendor not in direction:
        raise RuntimeError(f"no append-only triggers for {vendor}: the audit log must not "
                           "run unprotected")
    return direction[vendor]
