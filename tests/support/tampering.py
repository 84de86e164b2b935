"""Tampering with the audit tables the way an attacker with database superuser rights could."""

import importlib

from django.db import connection

triggers = importlib.import_module("audit.migrations.0002_append_only_triggers")


def tamper(*statements: tuple[str, list]) -> None:
    """Run SQL as an attacker with superuser rights would: with the append-only triggers off.

    Must run inside the test's transaction, which puts the triggers back when it rolls back.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            for table in triggers.TABLES:
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER {table}_no_{op}")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            for table in triggers.TABLES:
                for statement in triggers.sqlite_triggers(table):
                    cursor.execute(statement)
