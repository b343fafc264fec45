"""The two database roles (docs/operations.md, "Database roles").

- the **owner** role owns the schema and runs migrations;
- the **application** role is what web, worker and beat connect as: not superuser,
  not owner of any table, no BYPASSRLS, so row-level security always applies to it.

``manage.py create_db_roles`` creates both from an administrator connection; after
every ``migrate`` the owner grants the application role what it needs on the tables
(``grant_app_role``, connected to ``post_migrate``).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


def grant_app_role(sender=None, using: str = "default", **kwargs) -> None:
    connection = connections[using]
    role = settings.DATABASE_APP_ROLE
    if connection.vendor != "postgresql" or not role:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            log.warning("database role %s does not exist: run manage.py create_db_roles", role)
            return
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return
        quoted = connection.ops.quote_name(role)
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
