from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.triggers import CHECKPOINT_TABLES, HEAD, TABLE

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# Named, not imported (the audit app imports no other app of ours): the complaints app's
# purge permits (complaints/guard.py), which only the SECURITY DEFINER function
# complaint_purge_permit may write. The application's role may read them: the
# verification (complaints/completeness.py) reports a permit without its purge event.
READ_ONLY = ("complaints_purgepermit",)
NO_GRANT_SEQUENCES = ("complaints_purgepermit_id_seq",)
PURGE_PERMIT_FUNCTION = "complaint_purge_permit(bigint)"


def app_role_sql(role: str, database: str) -> list[str]:
    """Grants for the role the application runs as in production.

    It owns nothing and is not a superuser, so it can neither drop nor disable the audit
    triggers nor set session_replication_role. It may only read the audit tables: it
    appends through the SECURITY DEFINER functions audit_append and audit_append_many,
    which run as the owner and only append. The triggers are a second wall behind that.
    Checkpoints it may add (in order, naming the log's head: their insert guard), never
    change or remove. The purge permits it may only read: it asks complaint_purge_permit
    for one, which checks on the log that the case may be purged, and the delete triggers
    on complaints and their parts look for it.
    """
    return [
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {TABLE}, {HEAD} FROM {role}",
        f"GRANT EXECUTE ON FUNCTION audit_append(timestamptz, text, text, text, text, text, "
        f"text, text, text) TO {role}",
        f"GRANT EXECUTE ON FUNCTION audit_append_many(timestamptz, text[], text[], text[], "
        f"text[], text[], text[], text[], text[]) TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(CHECKPOINT_TABLES)} FROM {role}",
        f"REVOKE ALL ON {', '.join(READ_ONLY)} FROM {role}",
        f"GRANT SELECT ON {', '.join(READ_ONLY)} TO {role}",
        f"REVOKE ALL ON SEQUENCE {', '.join(NO_GRANT_SEQUENCES)} FROM {role}",
        f"GRANT EXECUTE ON FUNCTION {PURGE_PERMIT_FUNCTION} TO {role}",
    ]


class Command(BaseCommand):
    help = (
        "Print (or, with --execute, apply as the migrating owner role) the PostgreSQL grants "
        "for the application's production role: everything it needs and no way around the "
        "audit log's append-only triggers or the complaints' delete guard. Run again after "
        "each migration."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the role the web and workers connect as")
        parser.add_argument("--execute", action="store_true", help="apply the grants now")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        if not ROLE_NAME.match(role):
            raise CommandError("role must be a plain lower-case identifier")
        if connection.vendor != "postgresql":
            raise CommandError("database roles apply to PostgreSQL only")
        statements = app_role_sql(role, connection.settings_dict["NAME"])
        if options["execute"]:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
            self.stdout.write(f"granted {role} its production rights")
        else:
            self.stdout.write(";\n".join(statements) + ";")
