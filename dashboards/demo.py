"""The demo's dashboards: KPI targets that the team can beat or miss, content touches on
the won deals so attribution has something to credit, and the rollups built.

Called by ``manage.py load_demo`` inside the demo organization's tenant, after the leads
and scoring steps; idempotent (targets are created once; the touches have fixed ids;
the rollups are rebuilt, which gives the same rows).
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from leads.models import Content, Deal, Event
from smarketing.tenancy.models import Membership

from . import kpis, rollups
from .models import KpiTarget

SOURCE = "demo-dashboards"
# The share of won deals whose lead read something before the deal (the rest were
# sourced by sales: the "no content touch" row of attribution has something too).
TOUCHED_SHARE = 0.75


def load(demo) -> None:
    org = demo.organization
    touches = _content_touches(org, demo.now)
    created = _targets(org, demo)
    built = rollups.refresh(org, now=demo.now, full=True)
    demo.stdout.write(
        f"  dashboards: {created} targets, {touches} content touches added, rollups {built}"
    )


def _content_touches(org, now) -> int:
    """Won deals whose lead has no content event before the deal get one to three
    (decision-stage content first, as a buyer reads before talking to sales)."""
    library = list(Content.objects.for_org(org).order_by("key"))
    if not library:
        return 0
    decision = [c for c in library if c.funnel_stage == Content.FunnelStage.DECISION] or library
    deals = list(
        Deal.objects.for_org(org)
        .filter(status=Deal.Status.WON, lead__isnull=False)
        .order_by("pk")
        .values_list("pk", "lead_id", "created_at")
    )
    touched = set(
        Event.objects.for_org(org)
        .filter(lead_id__in=[lead for _pk, lead, _at in deals], content__isnull=False)
        .values_list("lead_id", "occurred_at")
    )
    earliest: dict[int, object] = {}
    for lead_id, at in touched:
        earliest[lead_id] = min(at, earliest.get(lead_id, at))
    rng = random.Random(2026)  # noqa: S311 - demo data, not a secret
    events = []
    for pk, lead_id, created_at in deals:
        share = rng.random()
        if lead_id in earliest and earliest[lead_id] < created_at:
            continue
        if share > TOUCHED_SHARE:
            continue
        for i in range(rng.randint(1, 3)):
            content = rng.choice(decision if i == 0 else library)
            events.append(
                Event(
                    organization=org,
                    source=SOURCE,
                    external_id=f"deal-{pk}-{i}",
                    type="content_download",
                    occurred_at=created_at - timedelta(days=rng.uniform(0.5, 20)),
                    received_at=now,
                    lead_id=lead_id,
                    content=content,
                    url=content.url,
                )
            )
    Event.objects.bulk_create(events, ignore_conflicts=True)
    return len(events)


def _weekly_average(org, now, name: str) -> Decimal:
    """The average of ``name`` over the last four whole weeks."""
    today = kpis.local_today(org, now=now)
    monday = today - timedelta(days=today.weekday())
    period = kpis.period_from_dates(org, monday - timedelta(days=28), monday - timedelta(days=1))
    value = kpis.kpi_value(kpis.compute(org, period), name) or 0
    return Decimal(str(value)) / 4


def _targets(org, demo) -> int:
    if KpiTarget.objects.for_org(org).exists():
        return 0
    owner = Membership.objects.for_org(org).filter(role="owner").select_related("user").first()
    by = owner.user if owner else None
    now = demo.now
    rows = []
    # Weekly volumes 10 % above the recent pace: reachable, not given.
    for name in ("mqls", "sals", "sqls"):
        value = (_weekly_average(org, now, name) * Decimal("1.1")).quantize(
            Decimal("1"), rounding=ROUND_HALF_UP
        )
        rows.append((name, "week", max(value, Decimal(1))))
    for name in ("new_leads", "revenue_won", "pipeline_created"):
        monthly = _weekly_average(org, now, name) * Decimal("4.35") * Decimal("1.1")
        rows.append((name, "month", max(monthly.quantize(Decimal("100")), Decimal(1))))
    rows += [
        ("acceptance_rate", "month", Decimal("0.6")),
        ("speed_to_lead_minutes", "month", Decimal("60")),
        ("sla_rate", "month", Decimal("0.9")),
        ("marketing_sourced_share", "month", Decimal("0.5")),
    ]
    KpiTarget.objects.bulk_create(
        [
            KpiTarget(organization=org, kpi=kpi, period_kind=kind, value=value, updated_by=by)
            for kpi, kind, value in rows
        ]
    )
    return len(rows)
