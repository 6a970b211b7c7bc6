from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from audit.triggers import HEAD, TABLE

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_sql(role: str, database: str) -> list[str]:
    """Grants for the role the application runs as in production.

    It owns nothing and is not a superuser, so it can neither drop nor disable the audit
    triggers nor set session_replication_role. It may only read the audit tables: it
    appends through the SECURITY DEFINER functions audit_append and audit_append_many,
    which run as the owner and only append. The triggers are a second wall behind that.
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
    ]


class Command(BaseCommand):
    help = (
        "Print (or, with --execute, apply as the migrating owner role) the PostgreSQL grants "
        "for the application's production role: everything it needs and no way around the "
        "audit log's append-only triggers. Run again after each migration."
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
