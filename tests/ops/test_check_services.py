"""``scripts/check_services.py``: what ``make test`` says before pytest starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_services.py"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--timeout", "2", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in {"PG_ADMIN_URL", "CHROMIUM_PATH"}},
    )


def test_says_what_is_missing_and_how_to_start_it(tmp_path):
    port = closed_port()
    result = run(
        "--pg-url", f"postgres://postgres@127.0.0.1:{port}/postgres",
        "--redis-url", f"redis://127.0.0.1:{port}/0",
        "--chromium", str(tmp_path / "no-chromium"),
    )  # fmt: skip
    assert result.returncode == 1
    out = result.stdout
    assert f"PostgreSQL is not reachable at 127.0.0.1:{port}" in out
    assert "pg_ctlcluster" in out
    assert f"Redis is not reachable at 127.0.0.1:{port}" in out
    assert "redis-server" in out
    assert "Chromium is missing" in out
    assert "3 service(s) missing" in out


def test_a_refused_login_is_not_reported_as_down():
    result = run(
        "--pg-url", "postgres://no_such_role_for_smarketing@127.0.0.1:5432/postgres",
        "--skip-chromium",
    )  # fmt: skip
    assert result.returncode == 1
    assert "answers at 127.0.0.1:5432 but refuses" in result.stdout
    assert "set PG_ADMIN_URL" in result.stdout
    assert "ok       redis" in result.stdout


def test_all_present():
    # make test runs this suite only after the same check passed.
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISSING" not in result.stdout
