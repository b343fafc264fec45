#!/usr/bin/env python3
"""Before ``make test``: are PostgreSQL, Redis and Chromium there? Say clearly what is not.

Reads the same variables as the Makefile: ``PG_ADMIN_URL`` (an administrator
connection, used next to create the database roles), ``REDIS_URL`` and
``CHROMIUM_PATH`` (default ``/usr/bin/chromium``, what the browser tests drive).
Exit status 0 when everything answers, 1 otherwise, with one line per problem and
how to fix it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# How to fix a service that does not answer at all; a service that answers but refuses
# gets the setting to change instead.
START_HINTS = {
    "postgresql": "start it: pg_ctlcluster --skip-systemctl-redirect 15 main start "
    "(or set PG_ADMIN_URL to a reachable administrator connection)",
    "redis": 'start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""'
    " (or set REDIS_URL)",
    "chromium": "install it: apt-get install chromium (or set CHROMIUM_PATH)",
}
SETTING_HINTS = {
    "postgresql": "set PG_ADMIN_URL to a superuser connection, "
    "e.g. postgres://postgres@127.0.0.1:5432/postgres",
    "redis": "set REDIS_URL to a Redis that answers PING, e.g. redis://127.0.0.1:6379/15",
}


def _tcp(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_postgres(url: str, timeout: float = 3.0) -> str | None:
    """None when an administrator connection works, else what went wrong."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    problem = _tcp(host, port, timeout)
    if problem:
        return f"PostgreSQL is not reachable at {host}:{port} ({problem})"
    try:
        import psycopg2
    except ImportError:  # the script also runs before the virtualenv exists
        return None
    try:
        conn = psycopg2.connect(url, connect_timeout=int(max(timeout, 1)))
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL answers at {host}:{port} but refuses {_safe(url)}: {first}"
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
            )
            row = cursor.fetchone()
    finally:
        conn.close()
    if not row or not row[0]:
        return f"{_safe(url)} cannot create roles: PG_ADMIN_URL must be an administrator"
    return None


def check_redis(url: str, timeout: float = 3.0) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    problem = _tcp(host, port, timeout)
    if problem:
        return f"Redis is not reachable at {host}:{port} ({problem})"
    try:
        import redis
    except ImportError:
        return None
    try:
        redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
    except redis.RedisError as exc:
        return f"Redis answers at {host}:{port} but PING failed: {exc}"
    return None


def check_chromium(path: str) -> str | None:
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return None
    found = shutil.which(path)
    return None if found else f"Chromium is missing at {path} (the browser tests drive it)"


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return parts.geturl()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the services the test suite needs.")
    parser.add_argument("--pg-url", default=os.environ.get("PG_ADMIN_URL") or DEFAULT_PG)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--skip-chromium", action="store_true")
    args = parser.parse_args(argv)

    checks = [
        ("postgresql", check_postgres(args.pg_url, args.timeout), _safe(args.pg_url)),
        ("redis", check_redis(args.redis_url, args.timeout), _safe(args.redis_url)),
    ]
    if not args.skip_chromium:
        checks.append(("chromium", check_chromium(args.chromium), args.chromium))
    missing = 0
    for name, problem, target in checks:
        if problem is None:
            print(f"ok       {name:<10} {target}", flush=True)
        else:
            missing += 1
            unreachable = "not reachable" in problem or "missing" in problem
            hint = START_HINTS[name] if unreachable else SETTING_HINTS[name]
            print(f"MISSING  {name:<10} {problem}\n         → {hint}", flush=True)
    if missing:
        print(f"check_services: {missing} service(s) missing; the tests cannot run.", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
