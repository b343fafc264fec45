"""Create the owner and application database roles (docs/operations.md).

Run once per PostgreSQL cluster, with an administrator connection::

    manage.py create_db_roles --admin-url postgres://postgres@127.0.0.1/postgres \\
        --database smarketing [--owner smarketing_owner] [--app smarketing_app] \\
        [--owner-password ...] [--app-password ...]

Idempotent: existing roles are altered to the required attributes, never dropped.
The application role is NOSUPERUSER NOBYPASSRLS and owns nothing, so row-level
security always applies to it; the owner role is granted the application role so that
tests can ``SET ROLE`` to it.
"""

from __future__ import annotations

import psycopg2
from django.core.management.base import BaseCommand, CommandError
from psycopg2 import sql


class Command(BaseCommand):
    help = "Create the owner (migrations) and application (runtime) PostgreSQL roles."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-url", required=True, help="superuser connection URL")
        parser.add_argument("--database", default="smarketing")
        parser.add_argument("--owner", default="smarketing_owner")
        parser.add_argument("--app", default="smarketing_app")
        parser.add_argument("--owner-password", default=None)
        parser.add_argument("--app-password", default=None)
        parser.add_argument(
            "--createdb", action="store_true", help="let the owner create databases (tests)"
        )

    def handle(self, *args, **opts) -> None:
        try:
            conn = psycopg2.connect(opts["admin_url"])
        except psycopg2.Error as exc:
            raise CommandError(f"cannot connect with --admin-url: {exc}") from exc
        conn.autocommit = True
        owner, app, database = opts["owner"], opts["app"], opts["database"]
        with conn.cursor() as cur:
            self._role(
                cur,
                owner,
                opts["owner_password"],
                "NOSUPERUSER NOBYPASSRLS NOCREATEROLE LOGIN "
                + ("CREATEDB" if opts["createdb"] else "NOCREATEDB"),
            )
            self._role(
                cur,
                app,
                opts["app_password"],
                "NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB LOGIN",
            )
            cur.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(app), sql.Identifier(owner))
            )
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
                self.stdout.write(f"created database {database}")
            else:
                cur.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
        conn.close()
        # The public schema must belong to the owner so that it can create tables.
        db_conn = psycopg2.connect(opts["admin_url"], dbname=database)
        db_conn.autocommit = True
        with db_conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
            cur.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(app)
                )
            )
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(app)))
            cur.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
                ).format(sql.Identifier(owner), sql.Identifier(app))
            )
            cur.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                    "GRANT USAGE, SELECT ON SEQUENCES TO {}"
                ).format(sql.Identifier(owner), sql.Identifier(app))
            )
        db_conn.close()
        self.stdout.write(
            self.style.SUCCESS(f"roles {owner} (owner) and {app} (application) ready")
        )

    def _role(self, cur, name: str, password: str | None, attributes: str) -> None:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        verb = "ALTER" if cur.fetchone() else "CREATE"
        statement = sql.SQL(f"{verb} ROLE {{}} {attributes}").format(sql.Identifier(name))
        if password:
            statement = statement + sql.SQL(" PASSWORD {}").format(sql.Literal(password))
        cur.execute(statement)
