"""Deadlines and escalations are never deleted, on SQLite and PostgreSQL.

A complaint's clocks are what keep it from being buried: the sweep escalates what they
say is overdue. Deleting one would stop its clock without a trace, so a trigger refuses
every DELETE (and TRUNCATE on PostgreSQL), whoever sends it; nothing in the application
deletes them (the retention purge keeps them for the statistics, and a complaint row is
never deleted either: complaints migration 0013).
"""

from django.db import migrations

from audit import triggers

TABLES = ("escalation_deadline", "escalation_escalation")
MESSAGE = "deadlines and escalations are never deleted"

UP = {
    "sqlite": [f"CREATE TRIGGER IF NOT EXISTS {table}_never_deleted BEFORE DELETE ON {table} "
               f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END"
               for table in TABLES],
    "postgresql": [
        f"""
        CREATE OR REPLACE FUNCTION escalation_refuse_delete() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING MESSAGE = '{MESSAGE}: ' || TG_OP || ' on ' || TG_TABLE_NAME
                || ' refused', ERRCODE = 'insufficient_privilege';
        END
        $$
        """,
        *(f"CREATE OR REPLACE TRIGGER {table}_never_deleted BEFORE DELETE ON {table} "
          f"FOR EACH ROW EXECUTE FUNCTION escalation_refuse_delete()" for table in TABLES),
        *(f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
          f"FOR EACH STATEMENT EXECUTE FUNCTION escalation_refuse_delete()" for table in TABLES),
    ],
}
DOWN = {
    "sqlite": [f"DROP TRIGGER IF EXISTS {table}_never_deleted" for table in TABLES],
    "postgresql": [
        *(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}" for table in TABLES
          for name in ("never_deleted", "no_truncate")),
        "DROP FUNCTION IF EXISTS escalation_refuse_delete()",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("escalation", "0004_policy_changes")]
    operations = [triggers.operation(UP, DOWN)]
