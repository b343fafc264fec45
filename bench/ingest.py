"""Ingestion throughput over HTTP, next to a raw PostgreSQL insert of the same rows.

    python bench/ingest.py [--batches 60] [--clients 4] [--workers 3]

What it does, all on this machine:
1. creates a fresh database ``smarketing_bench`` (the owner and application roles of
   ``manage.py create_db_roles``), migrates it as the owner, creates an organization
   and a read-write API key;
2. starts gunicorn with production settings (``DEBUG=0``, PostgreSQL as the
   application role, Redis), on 127.0.0.1;
3. posts ``--batches`` batches of 1,000 events to ``POST /api/v1/events`` from
   ``--clients`` threads, realistic events (page views, downloads, forms) from a pool
   of 5,000 people, and reports events/s and p50/p95 batch latency;
4. inserts the same number of rows into the same table with a batched
   ``INSERT … ON CONFLICT DO NOTHING`` (1,000 rows a statement, one connection) and
   reports rows/s — the reference;
5. prints the ratio and appends nothing anywhere: copy the figures into
   docs/benchmarks.md.

Target (issue 3): HTTP ingestion at least 50 % of the raw rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DB = "smarketing_bench"
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
OWNER_URL = f"postgres://smarketing_owner@127.0.0.1:5432/{DB}"
APP_URL = f"postgres://smarketing_app@127.0.0.1:5432/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TYPES = ["page_view"] * 14 + ["content_download"] * 3 + ["email_click"] * 2 + ["form_submit"]
PAGES = [
    "/",
    "/tarifs",
    "/produit",
    "/blog/alignement-sales-marketing",
    "/cas-clients",
    "/demo",
    "/ressources/guide-icp",
    "/contact",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args: str, env: dict) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def prepare(env_base: dict) -> str:
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    admin.close()
    manage(
        "create_db_roles", "--admin-url", ADMIN_URL, "--database", DB, "--createdb", env=env_base
    )
    owner_env = {**env_base, "DATABASE_URL": OWNER_URL}
    manage("migrate", "-v0", env=owner_env)
    manage(
        "create_organization",
        "bench",
        "--name",
        "Bench",
        "--owner",
        "bench@bench.test",
        "--password",
        secrets.token_urlsafe(16),
        env=owner_env,
    )
    return manage("create_api_key", "bench", "--scope", "rw", env=owner_env).splitlines()[-1]


def make_events(n: int, run: str, rng: random.Random) -> list[dict]:
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        person = rng.randrange(5000)
        kind = rng.choice(TYPES)
        event = {
            "id": f"{run}-{i}",
            "type": kind,
            "occurred_at": (now - timedelta(minutes=rng.randrange(60 * 24 * 30))).isoformat(),
            "email": f"prospect{person}@entreprise{person % 700}.fr",
            "visitor_id": f"v-{person:08d}",
            "url": "https://www.exemple.fr" + rng.choice(PAGES),
            "properties": {"title": "Page", "referrer": "https://www.google.com/"},
        }
        if kind == "content_download":
            event["content"] = f"guide-{rng.randrange(12)}"
        if kind == "form_submit":
            event.update(
                first_name="Prénom",
                last_name=f"Nom{person}",
                company=f"Entreprise {person % 700}",
                company_domain=f"entreprise{person % 700}.fr",
            )
        if rng.random() < 0.3:
            event["campaign"] = {
                "utm_source": "linkedin",
                "utm_medium": "paid_social",
                "utm_campaign": f"campagne-{rng.randrange(8)}",
            }
        events.append(event)
    return events


def http_run(url: str, key: str, batches: list[list[dict]], clients: int):
    latencies: list[float] = []
    errors: list[str] = []
    queue = list(enumerate(batches))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                _i, batch = queue.pop()
            body = json.dumps({"events": batch}).encode()
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    payload = json.loads(response.read())
                    if response.status != 202 or payload["accepted"] != len(batch):
                        errors.append(f"{response.status} {payload}")
            except Exception as exc:  # report every failure, go on
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, errors


def raw_run(rows: int, org_id: int) -> float:
    conn = psycopg2.connect(OWNER_URL)
    now = datetime.now(UTC)
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('smarketing.organization_id', %s, false)", [str(org_id)])
        cur.execute("SELECT id FROM leads_lead WHERE organization_id = %s LIMIT 5000", [org_id])
        lead_ids = [r[0] for r in cur.fetchall()] or [None]
    conn.commit()
    rng = random.Random(7)
    run = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    for batch_start in range(0, rows, 1000):
        values = [
            (
                org_id,
                "raw",
                f"{run}-{i}",
                rng.choice(TYPES),
                now - timedelta(minutes=i),
                now,
                rng.choice(lead_ids),
                None,
                "https://www.exemple.fr" + rng.choice(PAGES),
                None,
                None,
                json.dumps({"title": "Page", "referrer": "https://www.google.com/"}),
            )
            for i in range(batch_start, min(batch_start + 1000, rows))
        ]
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('smarketing.organization_id', %s, true)", [str(org_id)])
            execute_values(
                cur,
                "INSERT INTO leads_event (organization_id, source, external_id, type, "
                "occurred_at, received_at, lead_id, visitor_id, url, content_id, campaign_id, "
                "properties) VALUES %s ON CONFLICT DO NOTHING",
                values,
                page_size=1000,
            )
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    env_base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smarketing.settings",
        "SMARKETING_VAR_DIR": "/tmp/smarketing-bench-var",
    }
    print(f"preparing database {DB}…", flush=True)
    key = prepare(env_base)
    port = free_port()
    prod_env = {
        **env_base,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": APP_URL,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "smarketing.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=prod_env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        rng = random.Random(42)
        run = uuid.uuid4().hex[:8]
        warm = [make_events(1000, f"warm-{run}-{i}", rng) for i in range(4)]
        http_run(f"{url}/api/v1/events", key, warm, args.clients)  # leads created, JIT warm
        batches = [make_events(1000, f"{run}-{b}", rng) for b in range(args.batches)]
        elapsed, latencies, errors = http_run(f"{url}/api/v1/events", key, batches, args.clients)
    finally:
        server.terminate()
        server.wait(timeout=30)
    events = 1000 * args.batches
    http_rate = events / elapsed
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000

    conn = psycopg2.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}")
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM tenancy_organization WHERE slug = 'bench'")
        org_id = cur.fetchone()[0]
    conn.close()
    raw_elapsed = raw_run(events, org_id)
    raw_rate = events / raw_elapsed

    print()
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"HTTP  POST /api/v1/events: {events} events in {elapsed:.2f} s = "
        f"{http_rate:,.0f} events/s; batch of 1,000 p50 {p50:.0f} ms, p95 {p95:.0f} ms "
        f"({args.clients} clients, gunicorn -w {args.workers})"
    )
    print(
        f"raw   INSERT … ON CONFLICT DO NOTHING: {events} rows in {raw_elapsed:.2f} s = "
        f"{raw_rate:,.0f} rows/s (1 connection, 1,000 rows a statement)"
    )
    print(f"ratio HTTP / raw: {http_rate / raw_rate:.0%} (target ≥ 50 %)")
    if errors:
        print(f"ERRORS ({len(errors)}): {errors[:3]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
