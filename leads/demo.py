"""The demo's referential: content, campaigns, about 2,000 leads with 90 days of
engagement (about 50,000 events through the real ingestion service), and a sales
history — MQLs accepted or rejected with reasons, SQLs, deals won and lost — so the
queue, timelines and feedback views have something true to show.

Called by ``manage.py load_demo`` inside the organization's tenant; idempotent: a demo
that already has its leads is left as it is.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from smarketing.tenancy.management.commands.load_demo import DEMO_PASSWORD
from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import Role

from . import simulator
from .models import (
    Activity,
    Campaign,
    Company,
    Content,
    Deal,
    Decision,
    Event,
    Lead,
    LifecycleTransition,
    Qualification,
    RejectReason,
    Stage,
)

EXTRA_REPS = [
    ("lea.bernard@acme.demo", "Léa Bernard"),
    ("hugo.petit@acme.demo", "Hugo Petit"),
]
SENIORITY = dict(simulator.TITLES)
REJECT_WEIGHTS = [
    (RejectReason.BAD_TIMING, 30),
    (RejectReason.NO_BUDGET, 22),
    (RejectReason.BAD_FIT, 18),
    (RejectReason.NO_NEED, 12),
    (RejectReason.STUDENT, 6),
    (RejectReason.NO_RESPONSE, 6),
    (RejectReason.COMPETITOR, 3),
    (RejectReason.DUPLICATE, 3),
]


def load(demo) -> None:
    org = demo.organization
    if Lead.objects.for_org(org).count() >= 500:
        demo.stdout.write("  leads: demo referential already loaded")
        return
    rng = random.Random(2026)
    now = demo.now
    reps = _reps(org, demo)
    _library(org, now)
    crowd = simulator.people(random.Random(2026), 2000)
    events = []
    for person in crowd:
        start = now - timedelta(days=rng.uniform(3, 90))
        events += simulator.journey(rng, person, start, now - timedelta(minutes=5))
    accepted, _dup = simulator.send(org, events, source="simulator")
    _enrich(org, rng, crowd)
    mqls = _history(org, rng, reps, now)
    demo.stdout.write(
        f"  leads: {Lead.objects.for_org(org).count()} leads, {accepted} events, "
        f"{mqls} MQLs with their sales history"
    )


def _reps(org, demo) -> list:
    User = get_user_model()
    reps = [demo.users[Role.SALES_REP]]
    for email, name in EXTRA_REPS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=name)
        Membership.objects.for_org(org).get_or_create(user=user, defaults={"role": Role.SALES_REP})
        reps.append(user)
    return reps


def _library(org, now) -> None:
    for key, title, kind, level, persona, stage in simulator.CONTENT:
        Content.objects.for_org(org).update_or_create(
            key=key,
            defaults={
                "title": title,
                "type": kind,
                "level": level,
                "persona": persona,
                "funnel_stage": stage,
                "url": f"{simulator.SITE}/ressources/{key}",
            },
        )
    for key, name, channel, source, medium, utm, spend, days in simulator.CAMPAIGNS:
        Campaign.objects.for_org(org).update_or_create(
            key=key,
            defaults={
                "name": name,
                "channel": channel,
                "utm_source": source,
                "utm_medium": medium,
                "utm_campaign": utm,
                "spend": Decimal(spend),
                "starts_on": (now - timedelta(days=days)).date(),
                "currency": "EUR",
            },
        )


def _enrich(org, rng, crowd) -> None:
    """Firmographics a CRM would hold, and each lead's seniority and source."""
    bands = ["lt_1m", "1m_10m", "1m_10m", "10m_50m", "10m_50m", "50m_250m", "gt_250m"]
    industries = {
        domain: industry for _n, domain, industry in simulator.companies(random.Random(2026))
    }
    companies = list(Company.objects.for_org(org))
    for company in companies:
        band = rng.choice(bands)
        company.industry = industries.get(company.domain, "Services")
        company.employees = {
            "lt_1m": 8,
            "1m_10m": 40,
            "10m_50m": 180,
            "50m_250m": 900,
            "gt_250m": 4000,
        }[band] + rng.randint(0, 30)
        company.revenue_band = band
        company.country = "FR" if rng.random() < 0.8 else rng.choice(["BE", "CH", "CA"])
    Company.objects.for_org(org).bulk_update(
        companies, ["industry", "employees", "revenue_band", "country"], batch_size=500
    )
    leads = list(Lead.objects.for_org(org).select_related("campaign"))
    sources = {
        "paid_social": Lead.Source.SOCIAL,
        "paid_search": Lead.Source.PAID_SEARCH,
        "email": Lead.Source.EMAIL,
        "webinar": Lead.Source.WEBINAR,
        "event": Lead.Source.EVENT,
        "seo": Lead.Source.ORGANIC_SEARCH,
        "partner": Lead.Source.PARTNER,
    }
    for lead in leads:
        lead.seniority = SENIORITY.get(lead.title, "")
        lead.source = (
            sources.get(lead.campaign.channel, Lead.Source.WEBSITE)
            if lead.campaign
            else rng.choice([Lead.Source.WEBSITE, Lead.Source.ORGANIC_SEARCH, Lead.Source.REFERRAL])
        )
        lead.consent_email = rng.random() < 0.8
        lead.consent_tracking = lead.consent_email
    Lead.objects.for_org(org).bulk_update(
        leads, ["seniority", "source", "consent_email", "consent_tracking"], batch_size=500
    )


def _history(org, rng, reps, now) -> int:
    """MQLs from engaged leads at the time they got engaged; what sales did with them."""
    engaged = {}
    for lead_id, _kind, at in (
        Event.objects.for_org(org)
        .filter(
            lead__isnull=False,
            type__in=["demo_request", "webinar_attended", "page_view"],
            url__contains="/tarifs",
        )
        .values_list("lead_id", "type", "occurred_at")
        .order_by("occurred_at")
    ):
        engaged.setdefault(lead_id, []).append(at)
    demo_requests = set()
    for lead_id, at in (
        Event.objects.for_org(org).filter(type="demo_request").values_list("lead_id", "occurred_at")
    ):
        engaged.setdefault(lead_id, []).append(at)
        demo_requests.add(lead_id)
    expert = set(
        Event.objects.for_org(org)
        .filter(content__level="expert", lead__isnull=False)
        .values_list("lead_id", flat=True)
    )
    leads = {
        lead.pk: lead
        for lead in Lead.objects.for_org(org).filter(pk__in=engaged).select_related("company")
    }
    transitions, decisions, qualifications, deals, activities = [], [], [], [], []
    mqls = 0
    for n, (lead_id, moments) in enumerate(sorted(engaged.items())):
        lead = leads.get(lead_id)
        if lead is None or len(moments) < 2:
            continue
        mqls += 1
        mql_at = sorted(moments)[1]
        # What sales does follows what the lead did and who they are, as in real life,
        # so that the predictive score has something true to learn.
        fit = SENIORITY.get(lead.title, "") in ("c_level", "vp", "director")
        free_mail = lead.email.rsplit("@", 1)[-1] in simulator.FREE_MAIL
        student = SENIORITY.get(lead.title, "") == "student"
        p_accept = 0.3 + 0.1 * min(len(moments), 5) + 0.15 * (lead_id in demo_requests)
        p_accept = min(0.95, max(0.05, p_accept + 0.1 * fit - 0.3 * free_mail - 0.5 * student))
        p_qualify = 0.05 + 0.45 * (lead_id in demo_requests) + 0.3 * (lead_id in expert)
        p_qualify = min(0.95, max(0.03, p_qualify + 0.25 * fit))
        rep = reps[n % len(reps)]
        lead.owner = rep
        stage, at = Stage.MQL, mql_at
        transitions.append(
            LifecycleTransition(
                organization=org,
                lead=lead,
                from_stage="lead",
                to_stage=Stage.MQL,
                at=mql_at,
                reason="mql_threshold",
            )
        )
        age = now - mql_at
        if age > timedelta(hours=6) or rng.random() < 0.3:  # older MQLs were decided
            decided = mql_at + timedelta(minutes=rng.randint(20, 60 * 30))
            if decided < now:
                activities.append(
                    Activity(
                        organization=org,
                        lead=lead,
                        kind="call",
                        by=rep,
                        at=decided - timedelta(minutes=5),
                        subject="Appel de qualification",
                    )
                )
                if rng.random() < p_accept:
                    decisions.append(
                        Decision(organization=org, lead=lead, kind="accept", by=rep, at=decided)
                    )
                    transitions.append(
                        LifecycleTransition(
                            organization=org,
                            lead=lead,
                            from_stage=Stage.MQL,
                            to_stage=Stage.SAL,
                            at=decided,
                            by=rep,
                            reason="accepted",
                        )
                    )
                    stage, at = Stage.SAL, decided
                    lead.first_touch_at = decided - timedelta(minutes=5)
                    qualify_at = decided + timedelta(days=rng.uniform(1, 10))
                    if qualify_at < now and rng.random() < p_qualify:
                        qualifications.append(
                            Qualification(
                                organization=org,
                                lead=lead,
                                by=rep,
                                at=qualify_at,
                                budget=rng.choice(["15 k€", "30 k€", "50 k€", "80 k€"]),
                                need="Un référentiel unique des leads et un SLA mesuré",
                                authority="Décideur identifié",
                                timing=rng.choice(["T1", "T2"]),
                            )
                        )
                        transitions.append(
                            LifecycleTransition(
                                organization=org,
                                lead=lead,
                                from_stage=Stage.SAL,
                                to_stage=Stage.SQL,
                                at=qualify_at,
                                by=rep,
                                reason="qualified",
                            )
                        )
                        stage, at = Stage.SQL, qualify_at
                        deal_at = qualify_at + timedelta(days=rng.uniform(0.5, 5))
                        if deal_at < now and rng.random() < 0.8:
                            amount = Decimal(rng.choice([6000, 9600, 14400, 24000, 36000, 60000]))
                            close = deal_at + timedelta(days=rng.uniform(5, 40))
                            status = "open"
                            if close < now:
                                status = "won" if rng.random() < 0.45 else "lost"
                            deals.append(
                                Deal(
                                    organization=org,
                                    lead=lead,
                                    company_id=lead.company_id,
                                    owner=rep,
                                    name=f"{lead.company.name if lead.company else lead.email}"
                                    f" – licences",
                                    amount=amount,
                                    currency="EUR",
                                    stage={"open": "proposal", "won": "won", "lost": "lost"}[
                                        status
                                    ],
                                    status=status,
                                    created_at=deal_at,
                                    closed_at=close if status != "open" else None,
                                )
                            )
                            transitions.append(
                                LifecycleTransition(
                                    organization=org,
                                    lead=lead,
                                    from_stage=Stage.SQL,
                                    to_stage=Stage.OPPORTUNITY,
                                    at=deal_at,
                                    by=rep,
                                    reason="deal_created",
                                )
                            )
                            stage, at = Stage.OPPORTUNITY, deal_at
                            if status == "won":
                                transitions.append(
                                    LifecycleTransition(
                                        organization=org,
                                        lead=lead,
                                        from_stage=Stage.OPPORTUNITY,
                                        to_stage=Stage.CUSTOMER,
                                        at=close,
                                        by=rep,
                                        reason="deal_won",
                                    )
                                )
                                stage, at = Stage.CUSTOMER, close
                else:
                    reason = rng.choices(
                        [r for r, _w in REJECT_WEIGHTS], [w for _r, w in REJECT_WEIGHTS]
                    )[0]
                    to = (
                        Stage.DISQUALIFIED
                        if reason
                        in (
                            RejectReason.STUDENT,
                            RejectReason.COMPETITOR,
                            RejectReason.DUPLICATE,
                            RejectReason.BAD_FIT,
                        )
                        else Stage.RECYCLED
                    )
                    decisions.append(
                        Decision(
                            organization=org,
                            lead=lead,
                            kind="reject",
                            reason=reason,
                            by=rep,
                            at=decided,
                        )
                    )
                    transitions.append(
                        LifecycleTransition(
                            organization=org,
                            lead=lead,
                            from_stage=Stage.MQL,
                            to_stage=to,
                            at=decided,
                            by=rep,
                            reason=reason,
                        )
                    )
                    stage, at = to, decided
                    lead.first_touch_at = decided - timedelta(minutes=5)
        lead.stage, lead.stage_changed_at = stage, at
    Lead.objects.for_org(org).bulk_update(
        list(leads.values()),
        ["owner", "stage", "stage_changed_at", "first_touch_at"],
        batch_size=500,
    )
    for model, rows in (
        (LifecycleTransition, transitions),
        (Decision, decisions),
        (Qualification, qualifications),
        (Deal, deals),
        (Activity, activities),
    ):
        model.objects.bulk_create(rows, batch_size=1000)
    return mqls
