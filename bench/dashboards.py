"""Dashboards: the KPI layer, the dashboard page and its partials on a big organization,
and the KPIs checked against a brute-force recomputation from the raw rows.

    python bench/dashboards.py [--leads 100000] [--events 2000000] [--small-orgs 9]
                               [--runs 30] [--reuse-data] [--data-only]

What it does, all on this machine (PostgreSQL on 127.0.0.1):

1. creates a fresh database ``smarketing_bench_dashboards`` (the roles of ``manage.py
   create_db_roles``), migrates it as the owner; then works in-process as the
   application role (row-level security in force) with production settings
   (``DEBUG=0``, cached templates);
2. one big organization (``--leads`` leads over 365 days, ``--events`` events) and
   ``--small-orgs`` small ones (1 % each), generated in SQL: content, campaigns with
   spend, five sales reps; about 35 % of the leads become MQL, sales decide each MQL
   within 48 h (60 % accepted; rejections with the ten reason codes; a quarter of the
   recycled ones come back as MQL), 45 % of the SALs reach SQL, 80 % of those get a
   deal, deals are won (35 %) or lost (30 %) 5 to 40 days later; events carry content
   (downloads, webinars) and campaigns (e-mails); 50 hot leads;
3. builds the daily rollups of every organization (timed: the nightly full rebuild);
4. times, for the big organization, ``kpis.compute`` and ``kpis.report`` (the last 30
   days, a past month, the last 365 days), ``kpis.funnel`` and ``kpis.attribution``;
   then the dashboard page (``dashboards-home``) and each partial
   (``dashboards-panel``) through Django's test client as the owner (the whole view,
   template and middleware stack; no network, no gunicorn). **Cold**: a new database
   connection for every request and each cold request on a different period (the last
   30 days ending on a different day), so nothing of the previous request is reused
   but PostgreSQL's shared buffers; **warm**: the same request again on a kept
   connection. p50/p95 over ``--runs`` requests;
5. checks ``kpis.compute`` (rollups for closed days + live today) against a
   brute-force recomputation in Python from the raw rows (read as superuser) for four
   periods and two segments; any difference fails the bench.

Targets (issue 6, item 6): the page ≤ 150 ms p95, each partial ≤ 50 ms p95.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
DB = "smarketing_bench_dashboards"
ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SUPER_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"
OWNER_URL = f"postgres://smarketing_owner@127.0.0.1:5432/{DB}"
APP_URL = f"postgres://smarketing_app@127.0.0.1:5432/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")

CONTENTS, CAMPAIGNS, REPS = 30, 10, 5
EVENT_TYPES = [
    ("page_view", 0.60),
    ("email_open", 0.72),
    ("email_click", 0.80),
    ("content_download", 0.88),
    ("form_submit", 0.92),
    ("webinar_registered", 0.95),
    ("webinar_attended", 0.97),
    ("demo_request", 0.985),
    ("meeting_booked", 0.99),
    ("unsubscribe", 1.0),
]
REASONS = [
    "bad_fit",
    "no_budget",
    "no_need",
    "bad_timing",
    "student",
    "competitor",
    "duplicate",
    "wrong_contact",
    "no_response",
    "other",
]
RECYCLED = ["no_budget", "no_need", "bad_timing", "no_response", "other"]


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


# --- Data, in SQL ---------------------------------------------------------------------

SQL_REFERENTIAL = """
INSERT INTO leads_content (organization_id, key, title, type, level, persona, funnel_stage,
                           url, created_at)
SELECT %(org)s, 'content-' || g, 'Contenu ' || g,
       (ARRAY['guide', 'white_paper', 'ebook', 'webinar', 'case_study'])[1 + g %% 5],
       (ARRAY['beginner', 'intermediate', 'expert'])[1 + g %% 3], '',
       (ARRAY['awareness', 'consideration', 'decision'])[1 + g %% 3], '', now()
FROM generate_series(0, %(contents)s - 1) g;
INSERT INTO leads_campaign (organization_id, key, name, channel, utm_source, utm_medium,
                            utm_campaign, spend, currency, starts_on, ends_on, created_at)
SELECT %(org)s, 'campaign-' || g, 'Campagne ' || g,
       (ARRAY['email', 'paid_search', 'paid_social', 'webinar', 'seo'])[1 + g %% 5],
       '', '', 'c' || g, 1000 * (g + 1), 'EUR',
       (now() - interval '1 day' * (30 * g + 20))::date,
       CASE WHEN g %% 2 = 0 THEN (now() - interval '1 day' * (30 * g - 40))::date END, now()
FROM generate_series(0, %(campaigns)s - 1) g;
"""
SQL_LEADS = """
INSERT INTO leads_lead (organization_id, email, first_name, last_name, title, seniority, phone,
    country, source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, stage,
    stage_changed_at, consent_email, consent_tracking, score, fit, grade, hot, hot_since,
    properties, created_at, updated_at, owner_id, campaign_id)
SELECT %(org)s, 'prospect' || g || '@entreprise' || (g %% 5000) || '.fr', 'Prénom', 'Nom' || g,
       '', '', '', 'FR',
       (ARRAY['website', 'organic_search', 'paid_search', 'social', 'email'])[1 + g %% 5],
       '', '', '', '', '', 'lead', now(), true, true, floor(r * 100)::int, 0,
       (ARRAY['A', 'B', 'C', 'D'])[1 + floor(r2 * 4)::int], g < 50,
       CASE WHEN g < 50 THEN now() - interval '1 minute' * g END, '{}'::jsonb,
       now() - interval '365 days' * r3, now(),
       (%(reps)s::bigint[])[1 + g %% %(nreps)s],
       CASE WHEN r2 < 0.5 THEN %(campaign_min)s + floor(r * %(campaigns)s)::bigint END
FROM (SELECT g, random() AS r, random() AS r2, random() AS r3
      FROM generate_series(0, %(leads)s - 1) g) s
"""
SQL_EVENTS = """
INSERT INTO leads_event (organization_id, source, external_id, type, occurred_at, received_at,
                         url, properties, campaign_id, content_id, lead_id, visitor_id)
SELECT %(org)s, 'bench', 'e' || g, t.type, occ, occ + interval '2 seconds', '', '{}'::jsonb,
       CASE WHEN t.type IN ('email_open', 'email_click') AND w < 0.6
            THEN %(campaign_min)s + floor(w * 10 * %(campaigns)s)::bigint %% %(campaigns)s END,
       CASE WHEN t.type IN ('content_download', 'webinar_attended', 'webinar_registered')
            THEN %(content_min)s + floor(w * %(contents)s)::bigint END,
       %(lead_min)s + (floor(%(leads)s * power(r, 2))::bigint * 7919) %% %(leads)s,
       NULL
FROM (SELECT g, random() AS r, random() AS w, random() AS k,
             now() - interval '365 days' * power(random(), 1.2) AS occ
      FROM generate_series(1, %(events)s) g) s
CROSS JOIN LATERAL (SELECT CASE {cases} END AS type) t
ORDER BY occ
"""
# The sales history of every lead, planned in one table, cut at now().
SQL_PLAN = """
CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT id AS lead_id, created_at AS created, r_acc < 0.6 AS accepted,
       (%(reasons)s::text[])[1 + floor(r_reason * 10)::int] AS reason,
       r_remql, r_sql, r_deal, r_won,
       (ARRAY[6000, 9600, 14400, 24000, 36000, 60000])[1 + floor(r_amt * 6)::int] AS amount,
       CASE WHEN r_mql < 0.35 THEN created_at + interval '1 day' * 20 * r_t1 END AS mql_at,
       interval '1 minute' * (20 + 2860 * r_dec) AS to_decision,
       interval '1 day' * (1 + 10 * r_t2) AS to_next,
       interval '1 day' * (0.5 + 5 * r_t3) AS to_deal,
       interval '1 day' * (5 + 35 * r_t1) AS to_close
FROM (SELECT l.*, random() AS r_mql, random() AS r_dec, random() AS r_acc,
             random() AS r_reason, random() AS r_sql, random() AS r_deal, random() AS r_won,
             random() AS r_remql, random() AS r_amt, random() AS r_t1, random() AS r_t2,
             random() AS r_t3
      FROM leads_lead l WHERE organization_id = %(org)s) s;
ALTER TABLE plan ADD COLUMN decided_at timestamptz, ADD COLUMN remql_at timestamptz,
    ADD COLUMN sql_at timestamptz, ADD COLUMN deal_at timestamptz,
    ADD COLUMN close_at timestamptz, ADD COLUMN status text;
UPDATE plan SET mql_at = NULL WHERE mql_at >= now();
UPDATE plan SET decided_at = mql_at + to_decision WHERE mql_at + to_decision < now();
UPDATE plan SET remql_at = decided_at + to_next
 WHERE NOT accepted AND reason = ANY(%(recycled)s::text[]) AND r_remql < 0.25
   AND decided_at + to_next < now();
UPDATE plan SET sql_at = decided_at + to_next
 WHERE accepted AND r_sql < 0.45 AND decided_at + to_next < now();
UPDATE plan SET deal_at = sql_at + to_deal WHERE r_deal < 0.8 AND sql_at + to_deal < now();
UPDATE plan SET close_at = deal_at + to_close,
       status = CASE WHEN r_won < 0.35 THEN 'won' WHEN r_won < 0.65 THEN 'lost' ELSE 'open' END
 WHERE deal_at IS NOT NULL;
UPDATE plan SET status = 'open', close_at = NULL WHERE close_at >= now() OR status = 'open';

INSERT INTO leads_lifecycletransition (organization_id, lead_id, from_stage, to_stage, at, reason)
SELECT %(org)s, lead_id, f, t, at, why FROM (
  SELECT lead_id, '' AS f, 'lead' AS t, created AS at, 'created' AS why FROM plan
  UNION ALL SELECT lead_id, 'lead', 'mql', mql_at, 'mql_threshold' FROM plan
   WHERE mql_at IS NOT NULL
  UNION ALL SELECT lead_id, 'mql',
         CASE WHEN accepted THEN 'sal' WHEN reason = ANY(%(recycled)s::text[]) THEN 'recycled'
              ELSE 'disqualified' END,
         decided_at, CASE WHEN accepted THEN 'accepted' ELSE reason END FROM plan
   WHERE decided_at IS NOT NULL
  UNION ALL SELECT lead_id, 'recycled', 'mql', remql_at, 'mql_threshold' FROM plan
   WHERE remql_at IS NOT NULL
  UNION ALL SELECT lead_id, 'sal', 'sql', sql_at, 'qualified' FROM plan WHERE sql_at IS NOT NULL
  UNION ALL SELECT lead_id, 'sql', 'opportunity', deal_at, 'deal_created' FROM plan
   WHERE deal_at IS NOT NULL
  UNION ALL SELECT lead_id, 'opportunity', 'customer', close_at, 'deal_won' FROM plan
   WHERE status = 'won'
) t ORDER BY at;

INSERT INTO leads_decision (organization_id, lead_id, kind, reason, comment, at)
SELECT %(org)s, lead_id, CASE WHEN accepted THEN 'accept' ELSE 'reject' END,
       CASE WHEN accepted THEN '' ELSE reason END, '', decided_at
FROM plan WHERE decided_at IS NOT NULL ORDER BY decided_at;

INSERT INTO leads_deal (organization_id, name, amount, currency, stage, status, created_at,
                        closed_at, lead_id, source, external_id, updated_at)
SELECT %(org)s, 'Deal ' || lead_id, amount, 'EUR', status, status, deal_at, close_at, lead_id,
       '', '', now()
FROM plan WHERE deal_at IS NOT NULL ORDER BY deal_at;

UPDATE leads_lead l SET
  first_touch_at = p.decided_at - interval '5 minutes',
  stage = CASE WHEN p.status = 'won' THEN 'customer' WHEN p.deal_at IS NOT NULL
               THEN 'opportunity' WHEN p.sql_at IS NOT NULL THEN 'sql'
               WHEN p.remql_at IS NOT NULL THEN 'mql'
               WHEN p.decided_at IS NOT NULL AND p.accepted THEN 'sal'
               WHEN p.decided_at IS NOT NULL AND p.reason = ANY(%(recycled)s::text[])
               THEN 'recycled' WHEN p.decided_at IS NOT NULL THEN 'disqualified'
               WHEN p.mql_at IS NOT NULL THEN 'mql' ELSE 'lead' END
FROM plan p WHERE l.id = p.lead_id AND p.mql_at IS NOT NULL;
"""


def _type_cases() -> str:
    return " ".join(f"WHEN k < {share} THEN '{name}'" for name, share in EVENT_TYPES[:-1]) + (
        f" ELSE '{EVENT_TYPES[-1][0]}'"
    )


def generate(org_id: int, reps: list[int], *, leads: int, events: int) -> None:
    conn = psycopg2.connect(OWNER_URL)
    with conn, conn.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '512MB'")
        cur.execute("SELECT set_config('smarketing.system', 'on', true)")
        args = {
            "org": org_id,
            "contents": CONTENTS,
            "campaigns": CAMPAIGNS,
            "leads": leads,
            "events": events,
            "reps": reps,
            "nreps": len(reps),
            "reasons": REASONS,
            "recycled": RECYCLED,
        }
        cur.execute(SQL_REFERENTIAL, args)
        cur.execute("SELECT min(id) FROM leads_campaign WHERE organization_id = %s", [org_id])
        args["campaign_min"] = cur.fetchone()[0]
        cur.execute("SELECT min(id) FROM leads_content WHERE organization_id = %s", [org_id])
        args["content_min"] = cur.fetchone()[0]
        cur.execute(SQL_LEADS, args)
        cur.execute(
            "SELECT min(id), max(id), count(*) FROM leads_lead WHERE organization_id = %s",
            [org_id],
        )
        lo, hi, count = cur.fetchone()
        assert hi - lo + 1 == count == leads, "lead ids must be contiguous"
        args["lead_min"] = lo
        cur.execute(SQL_EVENTS.replace("{cases}", _type_cases()), args)
        cur.execute(SQL_PLAN, args)
    conn.close()


def vacuum() -> None:
    conn = psycopg2.connect(SUPER_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()


def create_data(args):
    from django.contrib.auth import get_user_model

    from smarketing.tenancy.db import tenant_context
    from smarketing.tenancy.models import Membership
    from smarketing.tenancy.services import organization_create

    User = get_user_model()
    owner = User.objects.create_user(email="bench@bench.test", password=secrets.token_urlsafe(16))
    reps = [
        User.objects.create_user(
            email=f"rep{i}@bench.test", password=secrets.token_urlsafe(16), full_name=f"Rep {i}"
        )
        for i in range(REPS)
    ]
    orgs = [
        organization_create(name=f"Bench {i}", owner=owner, slug=f"bench-{i}")
        for i in range(args.small_orgs + 1)
    ]
    for org in orgs:
        with tenant_context(org.pk):
            for rep in reps:
                Membership.objects.create(organization=org, user=rep, role="sales_rep")
    big, smalls = orgs[0], orgs[1:]
    small_leads, small_events = max(10, args.leads // 100), max(10, args.events // 100)
    start = time.perf_counter()
    rep_ids = [rep.pk for rep in reps]
    for org in smalls[: len(smalls) // 2]:
        generate(org.pk, rep_ids, leads=small_leads, events=small_events)
    generate(big.pk, rep_ids, leads=args.leads, events=args.events)
    for org in smalls[len(smalls) // 2 :]:
        generate(org.pk, rep_ids, leads=small_leads, events=small_events)
    vacuum()
    print(
        f"data: {args.leads + args.small_orgs * small_leads:,} leads, "
        f"{args.events + args.small_orgs * small_events:,} events in {len(orgs)} organizations "
        f"(big one: {args.leads:,} / {args.events:,}), generated in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return big


# --- Timing ---------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]


def timed(fn, runs: int, *, cold_setup=None) -> list[float]:
    out = []
    for i in range(runs):
        if cold_setup is not None:
            cold_setup(i)
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def new_connection(_i=None) -> None:
    """Cold: a new database connection and an empty KPI cache."""
    from django.core.cache import cache
    from django.db import connection

    connection.close()
    cache.clear()


def kpi_cache(on: bool) -> None:
    from django.conf import settings

    settings.DASHBOARDS_KPI_CACHE_SECONDS = 20 if on else 0
    settings.DASHBOARDS_KPI_CACHE_CLOSED_SECONDS = 300 if on else 0


def reference_query(org) -> float:
    """The same-run reference: one indexed aggregate of the kind the layer runs."""
    from django.db import connection

    from smarketing.tenancy.db import tenant_context

    times = []
    for _ in range(7):
        with tenant_context(org.pk), connection.cursor() as cur:
            start = time.perf_counter()
            cur.execute(
                "SELECT to_stage, count(DISTINCT lead_id) FROM leads_lifecycletransition "
                "WHERE organization_id = %s AND at >= now() - interval '30 days' "
                "GROUP BY to_stage",
                [org.pk],
            )
            cur.fetchall()
            times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def bench_layer(org, runs: int) -> list[tuple[str, list[float], list[float]]]:
    from dashboards import kpis
    from smarketing.tenancy.db import tenant_context

    today = kpis.local_today(org)
    last30 = kpis.last_days(org, 30)
    month = kpis.month_of(org, today.replace(day=1) - timedelta(days=1))
    year = kpis.last_days(org, 365)

    def shifted(i: int) -> kpis.Period:  # a different 30-day period for every cold run
        end = today - timedelta(days=i)
        return kpis.period_from_dates(org, end - timedelta(days=29), end)

    cases = [
        ("compute, last 30 days", lambda p: kpis.compute(org, p), last30),
        ("compute, last month", lambda p: kpis.compute(org, p), month),
        ("compute, last 365 days", lambda p: kpis.compute(org, p), year),
        ("report (period + previous + targets), 30 days", lambda p: kpis.report(org, p), last30),
        (
            "report, segment source=website",
            lambda p: kpis.report(org, p, kpis.Segment(source="website")),
            last30,
        ),
        ("funnel, 30 days", lambda p: kpis.funnel(org, p), last30),
        ("funnel by source, 30 days", lambda p: kpis.funnel(org, p, by="source"), last30),
        (
            "attribution w_shaped by content, 30 days",
            lambda p: kpis.attribution(org, p, model="w_shaped"),
            last30,
        ),
        ("hot leads", lambda p: kpis.hot_leads(org), last30),
    ]
    results = []
    for label, fn, period in cases:

        def cold_call(i, fn=fn, period=period):
            p = shifted(i + 1) if period == last30 else period
            with tenant_context(org.pk):
                fn(p)

        def warm_call(_i, fn=fn, period=period):
            with tenant_context(org.pk):
                fn(period)

        cold = timed(cold_call, runs, cold_setup=new_connection)
        kpi_cache(False)
        warm_call(0)
        uncached = timed(warm_call, runs)
        kpi_cache(True)
        warm_call(0)
        warm = timed(warm_call, runs)
        results.append((label, cold, uncached, warm))
        print(
            f"  {label}: cold p95 {pct(cold, 0.95) * 1000:.0f} ms, warm uncached p95 "
            f"{pct(uncached, 0.95) * 1000:.0f} ms, warm p95 {pct(warm, 0.95) * 1000:.0f} ms",
            flush=True,
        )
    return results


def bench_pages(org, owner, runs: int) -> list[tuple[str, list[float], list[float], int]]:
    from django.test import Client
    from django.urls import reverse

    from dashboards import kpis

    try:
        from dashboards.views import PANELS
    except ImportError:
        PANELS = ()
    client = Client()
    client.force_login(owner)
    today = kpis.local_today(org)
    urls = [("page dashboards-home", reverse("dashboards-home", args=[org.slug]))]
    for name in PANELS:
        urls.append((f"partial {name}", reverse("dashboards-panel", args=[org.slug, name])))

    def custom(first, last) -> dict:
        return {"period": "custom", "date_from": first.isoformat(), "date_to": last.isoformat()}

    results = []
    for label, url in urls:
        status = client.get(url).status_code  # first hit: imports, template compilation

        def cold_call(i, url=url):
            first = today - timedelta(days=29 + i + 1)
            last = today - timedelta(days=i + 1)
            response = client.get(url, custom(first, last))
            assert response.status_code == 200, (url, response.status_code)

        def warm_call(_i, url=url):
            response = client.get(url, custom(today - timedelta(days=29), today))
            assert response.status_code == 200, (url, response.status_code)

        cold = timed(cold_call, runs, cold_setup=new_connection)
        kpi_cache(False)
        warm_call(0)
        uncached = timed(warm_call, runs)
        kpi_cache(True)
        warm_call(0)
        warm = timed(warm_call, runs)
        results.append((label, cold, uncached, warm, status))
        print(
            f"  {label}: cold p95 {pct(cold, 0.95) * 1000:.0f} ms, warm uncached p95 "
            f"{pct(uncached, 0.95) * 1000:.0f} ms, warm p95 {pct(warm, 0.95) * 1000:.0f} ms",
            flush=True,
        )
    return results


# --- Brute force ------------------------------------------------------------------------


def raw_rows(org_id: int) -> dict:
    """Everything the definitions need, read as superuser (no RLS, no Django)."""
    conn = psycopg2.connect(SUPER_URL)
    out = {}
    with conn.cursor() as cur:
        queries = {
            "leads": "SELECT id, created_at, first_touch_at, source, campaign_id, owner_id, grade "
            "FROM leads_lead WHERE organization_id = %s",
            "transitions": "SELECT lead_id, to_stage, at FROM leads_lifecycletransition "
            "WHERE organization_id = %s",
            "decisions": "SELECT lead_id, kind, reason, at FROM leads_decision "
            "WHERE organization_id = %s",
            "deals": "SELECT lead_id, amount, status, created_at, closed_at FROM leads_deal "
            "WHERE organization_id = %s",
            "first_event": "SELECT lead_id, min(occurred_at) FROM leads_event "
            "WHERE organization_id = %s AND type <> 'unsubscribe' AND lead_id IS NOT NULL "
            "GROUP BY lead_id",
        }
        for name, sql in queries.items():
            cur.execute(sql, [org_id])
            out[name] = cur.fetchall()
    conn.close()
    return out


def brute_force(raw: dict, start: datetime, end: datetime, source: str = "") -> dict:
    leads = {row[0]: row for row in raw["leads"]}

    def keep(lead_id) -> bool:
        if not source:
            return True
        return lead_id is not None and leads[lead_id][3] == source

    def inside(at) -> bool:
        return at is not None and start <= at < end

    entered = defaultdict(set)
    mql_times = defaultdict(list)
    sql_times = defaultdict(list)
    all_mql = defaultdict(list)
    for lead_id, stage, at in raw["transitions"]:
        if not keep(lead_id):
            continue
        if stage == "mql":
            all_mql[lead_id].append(at)
        if stage == "sql":
            sql_times[lead_id].append(at)
        if inside(at):
            entered[stage].add(lead_id)
            if stage == "mql":
                mql_times[lead_id].append(at)
    accepted = rejected = 0
    reasons = defaultdict(int)
    for lead_id, kind, reason, at in raw["decisions"]:
        if keep(lead_id) and inside(at):
            if kind == "accept":
                accepted += 1
            else:
                rejected += 1
                reasons[reason] += 1
    first_event = dict(raw["first_event"])
    pipeline = revenue = marketing = Decimal(0)
    won = 0
    for lead_id, amount, status, created_at, closed_at in raw["deals"]:
        if not keep(lead_id):
            continue
        if inside(created_at):
            pipeline += amount
        if status == "won" and inside(closed_at):
            won += 1
            revenue += amount
            first = first_event.get(lead_id)
            if first is not None and first < created_at:
                marketing += amount
    reached = sum(
        1
        for lead_id, times in mql_times.items()
        if any(s >= min(times) for s in sql_times.get(lead_id, []))
    )
    spans = []
    for lead_id, row in leads.items():
        touch = row[2]
        if keep(lead_id) and inside(touch):
            before = [at for at in all_mql.get(lead_id, []) if at <= touch]
            if before:
                spans.append((touch - max(before)).total_seconds() / 60)
    return {
        "new_leads": sum(1 for row in leads.values() if keep(row[0]) and inside(row[1])),
        "mqls": len(entered["mql"]),
        "sals": len(entered["sal"]),
        "sqls": len(entered["sql"]),
        "new_customers": len(entered["customer"]),
        "accepted": accepted,
        "rejected": rejected,
        "rejection_reasons": dict(reasons),
        "pipeline_created": pipeline.quantize(Decimal("0.01")),
        "revenue_won": revenue.quantize(Decimal("0.01")),
        "deals_won": won,
        "marketing_sourced_revenue": marketing.quantize(Decimal("0.01")),
        "mql_cohort": (len(mql_times), reached),
        "speed_to_lead_minutes": round(statistics.median(spans), 1) if spans else None,
    }


def check_brute_force(org) -> list[str]:
    from dashboards import kpis
    from smarketing.tenancy.db import tenant_context

    raw = raw_rows(org.pk)
    today = kpis.local_today(org)
    cases = [
        ("last 30 days", kpis.last_days(org, 30), ""),
        ("last month", kpis.month_of(org, today.replace(day=1) - timedelta(days=1)), ""),
        ("last 365 days", kpis.last_days(org, 365), ""),
        ("last 7 days, today included", kpis.last_days(org, 7), ""),
        ("last 30 days, source=website", kpis.last_days(org, 30), "website"),
        ("last 365 days, source=email", kpis.last_days(org, 365), "email"),
    ]
    problems = []
    for label, period, source in cases:
        with tenant_context(org.pk):
            got = kpis.compute(org, period, kpis.Segment(source=source))
        expected = brute_force(raw, period.start, period.end, source)
        actual = {
            "new_leads": got.new_leads,
            "mqls": got.mqls,
            "sals": got.sals,
            "sqls": got.sqls,
            "new_customers": got.new_customers,
            "accepted": got.accepted,
            "rejected": got.rejected,
            "rejection_reasons": {code: n for code, _label, n in got.rejection_reasons},
            "pipeline_created": got.pipeline_created,
            "revenue_won": got.revenue_won,
            "deals_won": got.deals_won,
            "marketing_sourced_revenue": got.marketing_sourced_revenue,
            "mql_cohort": (got.mql_cohort.size, got.mql_cohort.reached_sql),
            "speed_to_lead_minutes": got.speed_to_lead_minutes,
        }
        diffs = [k for k in expected if expected[k] != actual[k]]
        status = "equal" if not diffs else f"DIFFERENT: {diffs}"
        print(
            f"  {label}: {status} (MQLs {got.mqls:,}, SQLs {got.sqls:,}, revenue won "
            f"{got.revenue_won:,})",
            flush=True,
        )
        for k in diffs:
            problems.append(f"{label} {k}: expected {expected[k]!r}, got {actual[k]!r}")
    return problems


# --- Main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--small-orgs", type=int, default=9)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse-data", action="store_true")
    parser.add_argument("--data-only", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()

    env_base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smarketing.settings",
        "SMARKETING_VAR_DIR": "/tmp/smarketing-bench-dashboards-var",
    }
    env_base.pop("SMARKETING_TESTING", None)
    prod_env = {
        **env_base,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": APP_URL,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }
    if not args.reuse_data:
        print(f"preparing database {DB}…", flush=True)
        prepare_database(env_base)
    os.environ.update(prod_env)
    os.environ.pop("SMARKETING_TESTING", None)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from dashboards import rollups
    from smarketing.tenancy.db import tenant_context
    from smarketing.tenancy.models import Organization

    settings.SESSION_COOKIE_SECURE = False
    kpi_cache(True)
    # No collectstatic here: plain static URLs (the manifest is a deploy step).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.CSRF_COOKIE_SECURE = False
    big = Organization.objects.get(slug="bench-0") if args.reuse_data else create_data(args)
    if args.data_only:
        return
    owner = get_user_model().objects.get(email="bench@bench.test")

    start = time.perf_counter()
    for org in Organization.objects.filter(slug__startswith="bench-").order_by("pk"):
        with tenant_context(org.pk):
            rollups.refresh(org, full=True)
        if org.pk == big.pk:
            full_build = time.perf_counter() - start
    all_builds = time.perf_counter() - start
    with tenant_context(big.pk):
        start = time.perf_counter()
        rollups.refresh(big, days=rollups.NIGHTLY_DAYS)
        nightly = time.perf_counter() - start
        from dashboards.models import DailyKpi

        rollup_rows = DailyKpi.objects.for_org(big).count()
    print(
        f"rollups: big organization's full history {full_build:.1f} s ({rollup_rows:,} rows), "
        f"all {all_builds:.1f} s; nightly {rollups.NIGHTLY_DAYS} days {nightly:.1f} s",
        flush=True,
    )

    reference = reference_query(big)
    print(
        f"reference: one aggregate over the last 30 days' stage changes, warm median "
        f"{reference * 1000:.1f} ms",
        flush=True,
    )
    print("brute-force check:", flush=True)
    problems = check_brute_force(big)
    print("KPI layer (in-process):", flush=True)
    layer = bench_layer(big, args.runs)
    pages = []
    if not args.skip_pages:
        print("pages (Django test client, DEBUG=0):", flush=True)
        pages = bench_pages(big, owner, args.runs)

    print()
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · runs per case: {args.runs}")
    print(
        "| case | cold p50 | cold p95 | warm, no KPI cache p50 | p95 | warm p50 | warm p95 "
        "| target (p95) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")

    def ms(values, p):
        return f"{pct(values, p) * 1000:.0f} ms"

    missed = False
    for label, cold, uncached, warm in layer:
        print(
            f"| {label} | {ms(cold, 0.5)} | {ms(cold, 0.95)} | {ms(uncached, 0.5)} | "
            f"{ms(uncached, 0.95)} | {ms(warm, 0.5)} | {ms(warm, 0.95)} | |"
        )
    for label, cold, uncached, warm, _status in pages:
        target = 0.150 if label.startswith("page") else 0.050
        verdict = ", ".join(
            f"{name} {'met' if pct(values, 0.95) <= target else 'MISSED'}"
            for name, values in (("cold", cold), ("warm", warm))
        )
        missed |= "MISSED" in verdict
        print(
            f"| {label} | {ms(cold, 0.5)} | {ms(cold, 0.95)} | {ms(uncached, 0.5)} | "
            f"{ms(uncached, 0.95)} | {ms(warm, 0.5)} | {ms(warm, 0.95)} | "
            f"≤ {target * 1000:.0f} ms: {verdict} |"
        )
    if missed:
        print("a target is missed (see above)")
    if problems:
        print("KPIs differ from the brute-force recomputation:")
        for problem in problems:
            print("  " + problem)
        sys.exit(1)


if __name__ == "__main__":
    main()
