"""A small, lifelike team for the dashboard page, TV and browser tests: three weeks of
leads moving down the funnel relative to ``now``, decisions with reasons, deals won
after content downloads, campaign spend, hot leads, and an SLA in force with clocks
running, met and breached. Deterministic (seeded random); written in the tenant.

Not a test module (no tests): the helpers the page, TV and browser tests share.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.utils import timezone

from leads.models import (
    Campaign,
    Company,
    Content,
    Deal,
    Decision,
    Event,
    Lead,
    LifecycleTransition,
)
from sla.models import Clock, Contract, ContractVersion, MarketingCommitment, SalesCommitment
from smarketing.tenancy.db import tenant_context

FIRST = ["Claire", "Hugo", "Inès", "Paul", "Léa", "Marc", "Julie", "Nina", "Omar", "Zoé"]
LAST = ["Moreau", "Bernard", "Leroy", "Martin", "Fontaine", "Petit", "Roux", "Garnier"]
COMPANIES = ["Exemple SA", "Acme Industrie", "Nova", "Boréal", "Orion Logistique", "Helios"]
SOURCES = ["website", "organic_search", "paid_search", "webinar", "email", "referral"]
REASONS = ["bad_fit", "no_budget", "bad_timing", "no_need", "student"]


def seed_team(org, owners, *, now: datetime | None = None, prefix: str = "", days: int = 21):
    """Write the team's data in ``org``; ``owners`` are users (the sales reps)."""
    now = now or timezone.now()
    rng = random.Random(7)
    n = 0
    with tenant_context(org.pk):
        today = timezone.localdate(now)
        campaigns = [
            Campaign.objects.create(
                organization=org,
                key=f"{prefix}webinar",
                name=f"{prefix}Webinar Pipeline B2B",
                channel="webinar",
                spend=Decimal("4000"),
                starts_on=today - timedelta(days=days + 5),
            ),
            Campaign.objects.create(
                organization=org,
                key=f"{prefix}ads",
                name=f"{prefix}Google Ads SLA",
                channel="paid_search",
                spend=Decimal("6000"),
                starts_on=today - timedelta(days=days + 5),
            ),
            Campaign.objects.create(
                organization=org,
                key=f"{prefix}newsletter",
                name=f"{prefix}Newsletter",
                channel="email",
                spend=Decimal("500"),
                starts_on=today - timedelta(days=days + 5),
            ),
        ]
        contents = [
            Content.objects.create(
                organization=org,
                key=f"{prefix}k{i}",
                title=f"{prefix}{title}",
                type=kind,
                level=level,
            )
            for i, (title, kind, level) in enumerate(
                [
                    ("Le guide du SLA marketing-ventes", "white_paper", "intermediate"),
                    ("Étude de cas Acme : +40 % de SQL", "case_study", "expert"),
                    ("Replay : scorer ses leads", "webinar", "beginner"),
                    ("Checklist lead scoring", "checklist", "beginner"),
                ]
            )
        ]
        companies = [
            Company.objects.create(organization=org, name=f"{prefix}{name}") for name in COMPANIES
        ]
        leads: list[Lead] = []
        moves: list[LifecycleTransition] = []
        decisions: list[Decision] = []
        events: list[Event] = []
        deals: list[tuple[Lead, datetime, datetime | None, Decimal]] = []
        for day in range(days, -1, -1):
            for _ in range(rng.randint(3, 5)):
                n += 1
                created = now - timedelta(days=day, hours=rng.randint(0, 8), minutes=n)
                if created >= now:
                    created = now - timedelta(minutes=5 + n)
                lead = Lead(
                    organization=org,
                    email=f"{prefix}lead{n}@example.test",
                    first_name=FIRST[n % len(FIRST)],
                    last_name=LAST[(n // len(FIRST)) % len(LAST)],
                    company=companies[n % len(companies)],
                    source=SOURCES[n % len(SOURCES)],
                    campaign=campaigns[n % len(campaigns)],
                    owner=owners[n % len(owners)],
                    grade="ABCD"[n % 4],
                    score=rng.randint(10, 60),
                    created_at=created,
                    stage="lead",
                )
                path = [("", "lead", created)]
                at = created
                content = contents[n % len(contents)]
                events.append((lead, "content_download", created + timedelta(minutes=30), content))
                if rng.random() < 0.5:
                    at = at + timedelta(hours=rng.randint(3, 30))
                    path.append(("lead", "mql", at))
                    events.append((lead, "page_view", at - timedelta(minutes=20), None))
                    if rng.random() < 0.7:
                        at = at + timedelta(hours=rng.randint(1, 6))
                        path.append(("mql", "sal", at))
                        decisions.append((lead, "accept", "", at))
                        lead.first_touch_at = at
                        if rng.random() < 0.55:
                            at = at + timedelta(hours=rng.randint(10, 48))
                            path.append(("sal", "sql", at))
                            if rng.random() < 0.7:
                                at = at + timedelta(hours=rng.randint(4, 24))
                                path.append(("sql", "opportunity", at))
                                amount = Decimal(rng.choice([4000, 7500, 12000, 18000]))
                                won = None
                                if rng.random() < 0.55:
                                    won = at + timedelta(hours=rng.randint(24, 72))
                                    path.append(("opportunity", "customer", won))
                                deals.append((lead, at, won, amount))
                    else:
                        at = at + timedelta(hours=rng.randint(1, 6))
                        reason = REASONS[n % len(REASONS)]
                        path.append(("mql", "recycled", at))
                        decisions.append((lead, "reject", reason, at))
                path = [step for step in path if step[2] < now]
                lead.stage = path[-1][1]
                lead.stage_changed_at = path[-1][2]
                leads.append(lead)
                for from_stage, to_stage, when in path[1:]:
                    moves.append((lead, from_stage, to_stage, when))
        Lead.objects.bulk_create(leads)
        LifecycleTransition.objects.bulk_create(
            LifecycleTransition(organization=org, lead=lead, from_stage=a, to_stage=b, at=when)
            for lead, a, b, when in moves
        )
        Decision.objects.bulk_create(
            Decision(organization=org, lead=lead, kind=kind, reason=reason, at=when)
            for lead, kind, reason, when in decisions
            if when < now
        )
        Event.objects.bulk_create(
            Event(
                organization=org,
                source="test",
                external_id=f"{prefix}e{i}",
                type=kind,
                occurred_at=when,
                lead=lead,
                content=content,
                campaign=lead.campaign,
            )
            for i, (lead, kind, when, content) in enumerate(events)
            if when < now
        )
        Deal.objects.bulk_create(
            Deal(
                organization=org,
                lead=lead,
                name=f"{prefix}Deal {lead.company.name}",
                amount=amount,
                created_at=created,
                status="won" if won and won < now else "open",
                closed_at=won if won and won < now else None,
                owner=lead.owner,
            )
            for lead, created, won, amount in deals
            if created < now
        )
        # The hot leads at the top of the sales queue.
        hot = leads[-12:-4]
        for i, lead in enumerate(hot):
            Lead.objects.for_org(org).filter(pk=lead.pk).update(
                hot=True, score=95 - i * 3, hot_since=now - timedelta(hours=i * 5 + 1)
            )
        # The SLA in force: what marketing delivers, how fast sales responds.
        # The SLA in force (written once; a second call adds clocks to it).
        version = ContractVersion.objects.for_org(org).filter(status="active").first()
        if version is None:
            version = _sla(org, now, prefix)
        to_mql = SalesCommitment.objects.for_org(org).get(version=version, trigger="became_mql")
        clocks = []
        for i, lead in enumerate(hot[:4]):  # running, soonest first
            due = now + timedelta(minutes=25 + i * 50)
            clocks.append(
                Clock(
                    organization=org,
                    lead=lead,
                    commitment=to_mql,
                    owner=lead.owner,
                    status="warned" if i == 0 else "running",
                    started_at=due - timedelta(minutes=240),
                    warn_at=due - timedelta(minutes=60),
                    due_at=due,
                )
            )
        for i, lead in enumerate(leads[-30:-20]):  # due in the last hours: 8 met, 2 breached
            due = now - timedelta(minutes=10 + i * 12)
            breached = i in (2, 7)
            clocks.append(
                Clock(
                    organization=org,
                    lead=lead,
                    commitment=to_mql,
                    owner=lead.owner,
                    status="breached" if breached else "met",
                    started_at=due - timedelta(minutes=240),
                    warn_at=due - timedelta(minutes=60),
                    due_at=due,
                    breached_at=due if breached else None,
                    touched_at=None if breached else due - timedelta(minutes=90 - i),
                )
            )
        Clock.objects.bulk_create(clocks)
    return SimpleNamespace(
        org=org,
        now=now,
        leads=leads,
        hot=hot,
        campaigns=campaigns,
        contents=contents,
        version=version,
        today=today,
    )


def _sla(org, now, prefix):
    """What marketing delivers, how fast sales responds."""
    contract = Contract.objects.create(organization=org, name=f"{prefix}SLA")
    version = ContractVersion.objects.create(
        organization=org,
        contract=contract,
        number=1,
        status=ContractVersion.Status.ACTIVE,
        title="SLA",
        activated_at=now - timedelta(days=60),
    )
    MarketingCommitment.objects.create(
        organization=org, version=version, metric="mql", target=12, period="week", position=0
    )
    MarketingCommitment.objects.create(
        organization=org, version=version, metric="sql", target=16, period="month", position=1
    )
    MarketingCommitment.objects.create(
        organization=org, version=version, metric="sal", target=8, period="week", position=2
    )
    SalesCommitment.objects.create(
        organization=org,
        version=version,
        trigger="became_mql",
        response_minutes=240,
        business_time=True,
        position=0,
    )
    SalesCommitment.objects.create(
        organization=org,
        version=version,
        trigger="became_hot",
        response_minutes=60,
        business_time=False,
        position=1,
    )
    return version


def week_dates(org, now: datetime) -> tuple[date, date]:
    from dashboards import kpis

    period = kpis.week_of(org, kpis.local_today(org, now=now))
    return period.first_day, period.last_day
