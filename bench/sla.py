"""SLA: one scan tick over 100,000 running clocks, and the delay from a clock's due time
to its breach notification with a real beat and worker.

    python bench/sla.py [--orgs 10] [--clocks 100000] [--due 300] [--window 120]
                        [--skip-live] [--reuse-data]

What it does, on this machine (PostgreSQL and Redis on 127.0.0.1):

1. a fresh database ``smarketing_bench_sla`` (the roles of ``manage.py
   create_db_roles``), migrated as the owner; then in-process as the application role
   (row-level security in force) with production settings;
2. ``--orgs`` organizations, each with a rep (a member), a signed contract with one
   business-hours commitment, ``--clocks``/``--orgs`` leads owned by the rep and one
   running clock per lead, due times spread over the next 30 days (none due now);
3. (a) the tick: ``sla.services.scan(now)`` (what the ``sla.scan`` task runs: the three
   compare-and-swap statements across tenants in the system context), 30 ticks with
   nothing due, median and p95; then ticks that each find 100 clocks to breach (and
   notify their owner in-app). Reference in the same run: a plain ``SELECT count(*)``
   of the open clocks on the partial index (all 100,000 rows), warm, median of 5;
4. (b) live: a Celery worker (queues ``sla,default``) and Celery beat (``sla.scan``
   every 15 s) on Redis; ``--due`` clocks among the 100,000 are made due at instants
   spread uniformly over the next ``--window`` seconds; a poller (every 200 ms) reads
   the ``sla.breached`` notifications; delay = notification ``created_at`` − ``due_at``
   (both written by the database clock of this machine).

Targets (issue 5, item 7): (a) ≤ 100 ms per tick; (b) p99 ≤ 60 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
DB = "smarketing_bench_sla"
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SUPER_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"
OWNER_URL = f"postgres://smarketing_owner@127.0.0.1:5432/{DB}"
APP_URL = f"postgres://smarketing_app@127.0.0.1:5432/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def manage(*args: str, env: dict) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def prepare_database(env_base: dict) -> None:
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    admin.close()
    manage(
        "create_db_roles", "--admin-url", ADMIN_URL, "--database", DB, "--createdb", env=env_base
    )
    manage("migrate", "-v0", env={**env_base, "DATABASE_URL": OWNER_URL})


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


SQL_CLOCKS = """
INSERT INTO sla_clock (organization_id, lead_id, commitment_id, owner_id, status, started_at,
    started_by, warn_at, due_at, escalate_at, touch_kind, created_at)
SELECT l.organization_id, l.id, %(commitment)s, %(owner)s, 'running', now(), 'bench',
       now() + interval '30 days' * r + interval '1 hour',
       now() + interval '30 days' * r + interval '2 hours',
       now() + interval '30 days' * r + interval '3 hours', '', now()
FROM (SELECT id, organization_id, random() AS r FROM leads_lead
      WHERE organization_id = %(org)s) l
"""


def create_data(args) -> list[int]:
    from django.contrib.auth import get_user_model

    from leads.models import Lead
    from sla import services
    from smarketing.tenancy.db import tenant_context
    from smarketing.tenancy.models import Membership, Organization
    from smarketing.tenancy.permissions import Role

    per_org = args.clocks // args.orgs
    User = get_user_model()
    orgs = []
    conn = psycopg2.connect(OWNER_URL)
    for i in range(args.orgs):
        org = Organization.objects.create(name=f"Bench {i}", slug=f"bench-{i}", language="fr")
        rep = User.objects.create_user(email=f"rep{i}@bench.test", password=None)
        with tenant_context(org.pk):
            Membership.objects.create(organization=org, user=rep, role=Role.SALES_REP)
            version = services.draft_create(actor=None, organization=org)
            commitment = services.sales_commitment_add(
                actor=None,
                version=version,
                data={"trigger": "became_mql", "response_minutes": 240},
            )
            services._activate(version, at=datetime.now(UTC))
            for start in range(0, per_org, 5000):
                Lead.objects.bulk_create(
                    [
                        Lead(
                            organization=org,
                            email=f"p{i}-{n}@prospect.test",
                            stage="mql",
                            owner=rep,
                        )
                        for n in range(start, min(per_org, start + 5000))
                    ]
                )
        with conn, conn.cursor() as cur:
            cur.execute("SELECT set_config('smarketing.system', 'on', true)")
            cur.execute(SQL_CLOCKS, {"commitment": commitment.pk, "owner": rep.pk, "org": org.pk})
        orgs.append(org.pk)
        print(f"  organization {i + 1}/{args.orgs}: {per_org:,} leads and clocks", flush=True)
    conn.close()
    conn = psycopg2.connect(SUPER_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return orgs


def reference_count() -> tuple[float, int]:
    """A raw indexed count of the open clocks (the 100,000), as the app role."""
    conn = psycopg2.connect(APP_URL)
    times, count = [], 0
    with conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('smarketing.system', 'on', true)")
        for _ in range(6):
            start = time.perf_counter()
            cur.execute("SELECT count(*) FROM sla_clock WHERE status IN ('running', 'warned')")
            count = cur.fetchone()[0]
            times.append(time.perf_counter() - start)
    conn.close()
    return statistics.median(times[1:]), count


def make_due(n: int, first: datetime, window: float) -> list[int]:
    """Move ``n`` open clocks' due times to ``first`` + i·window/n (and their warning to
    the past, already warned: only breaches are measured)."""
    conn = psycopg2.connect(OWNER_URL)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('smarketing.system', 'on', true)")
        cur.execute(
            "SELECT id FROM sla_clock WHERE status = 'running' ORDER BY random() LIMIT %s", [n]
        )
        ids = [row[0] for row in cur.fetchall()]
        for i, clock_id in enumerate(ids):
            due = first + timedelta(seconds=window * i / max(n, 1))
            cur.execute(
                "UPDATE sla_clock SET status = 'warned', warned_at = %s, warn_at = %s, "
                "due_at = %s, escalate_at = %s WHERE id = %s",
                [
                    due - timedelta(hours=1),
                    due - timedelta(hours=1),
                    due,
                    due + timedelta(days=1),
                    clock_id,
                ],
            )
    conn.close()
    return ids


def bench_tick(args) -> dict:
    from django.db import connection
    from django.utils import timezone

    from sla import services

    now = timezone.now()
    services.scan(now)  # warm
    empty = []
    for _ in range(30):
        start = time.perf_counter()
        result = services.scan(timezone.now())
        empty.append(time.perf_counter() - start)
        assert result.total == 0, result
    busy, moved = [], 0
    for _ in range(5):
        ids = make_due(100, timezone.now() - timedelta(seconds=5), 1)
        start = time.perf_counter()
        result = services.scan(timezone.now())
        busy.append(time.perf_counter() - start)
        moved += len(result.breached)
        assert set(result.breached) == set(ids), (len(result.breached), len(ids))
    connection.close()
    ref, count = reference_count()
    return {"empty": empty, "busy": busy, "moved": moved, "ref": ref, "count": count}


def bench_live(args, prod_env: dict) -> dict:
    from django.db import connection
    from django.utils import timezone

    tmp = Path(tempfile.mkdtemp(prefix="bench-sla-"))
    env = {**prod_env, "SMARKETING_VAR_DIR": str(tmp)}
    subprocess.run(
        [PY, "-m", "celery", "-A", "smarketing", "purge", "-f", "-Q", "sla,default"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    worker = subprocess.Popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "smarketing",
            "worker",
            "-Q",
            "sla,default",
            "--pool=solo",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"bench-sla-{os.getpid()}",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / "worker.log", "w"),  # noqa: SIM115 - lives as long as the process
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "smarketing",
            "beat",
            "-l",
            "warning",
            "--schedule",
            str(tmp / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / "beat.log", "w"),  # noqa: SIM115 - lives as long as the process
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(8)  # both up, the first ticks done
        first = timezone.now() + timedelta(seconds=10)
        ids = make_due(args.due, first, args.window)
        wanted = set(ids)
        seen: dict[int, float] = {}
        deadline = time.monotonic() + args.window + 10 + 120
        conn = psycopg2.connect(APP_URL)
        conn.autocommit = True
        while time.monotonic() < deadline and len(seen) < len(wanted):
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT set_config('smarketing.system', 'on', true)")
                cur.execute(
                    "SELECT c.id, extract(epoch FROM n.created_at - c.due_at) "
                    "FROM notifications_notification n "
                    "JOIN sla_clock c ON n.dedupe_key = 'sla.breached:' || c.id "
                    "WHERE n.kind = 'sla.breached' AND n.created_at >= %s",
                    [first - timedelta(seconds=1)],
                )
                for clock_id, delay in cur.fetchall():
                    if clock_id in wanted:
                        seen[clock_id] = float(delay)
                cur.execute("COMMIT")
            time.sleep(0.2)
        conn.close()
    finally:
        for proc in (beat, worker):
            proc.terminate()
        for proc in (beat, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    connection.close()
    return {"delays": sorted(seen.values()), "lost": len(wanted) - len(seen), "logs": tmp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--clocks", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=300, help="(b): clocks made due")
    parser.add_argument("--window", type=float, default=120, help="(b): seconds they span")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--reuse-data", action="store_true")
    args = parser.parse_args()

    env_base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smarketing.settings",
        "SMARKETING_VAR_DIR": "/tmp/smarketing-bench-sla-var",
    }
    env_base.pop("SMARKETING_TESTING", None)
    prod_env = {
        **env_base,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": APP_URL,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }
    if not args.reuse_data:
        print(f"preparing database {DB}…", flush=True)
        prepare_database(env_base)
    else:
        manage("migrate", "-v0", env={**env_base, "DATABASE_URL": OWNER_URL})
    os.environ.update(prod_env)
    import django

    django.setup()
    if not args.reuse_data:
        create_data(args)
    tick = bench_tick(args)
    live = None if args.skip_live else bench_live(args, prod_env)

    print()
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    empty, busy = tick["empty"], tick["busy"]
    print(
        f"(a) scan tick, {tick['count']:,} open clocks in {args.orgs} organizations, nothing "
        f"due: median {statistics.median(empty) * 1000:.1f} ms, p95 {pct(empty, 0.95) * 1000:.1f}"
        f" ms, max {max(empty) * 1000:.1f} ms over {len(empty)} ticks (target ≤ 100 ms)"
    )
    print(
        f"    ticks that breach 100 clocks and notify their owners: median "
        f"{statistics.median(busy) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms "
        f"({tick['moved']} clocks breached, each once)"
    )
    print(
        f"    reference: SELECT count(*) of the open clocks (partial index): "
        f"{tick['ref'] * 1000:.1f} ms"
    )
    missed = statistics.median(empty) > 0.1
    if live is not None:
        delays = live["delays"]
        print(
            f"(b) due → breach notification, real beat (sla.scan every 15 s) + worker on Redis: "
            f"{len(delays)} clocks over {args.window:.0f} s: p50 {pct(delays, 0.5):.1f} s, p95 "
            f"{pct(delays, 0.95):.1f} s, p99 {pct(delays, 0.99):.1f} s, max "
            f"{(delays[-1] if delays else float('nan')):.1f} s; {live['lost']} not notified "
            f"within 2 min (target p99 ≤ 60 s)"
        )
        missed |= not delays or pct(delays, 0.99) > 60 or live["lost"] > 0
        if live["lost"]:
            print(f"    logs: {live['logs']}")
    if missed:
        print("a target is missed (see above)")


if __name__ == "__main__":
    main()
