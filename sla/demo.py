"""The demo organization's SLA: a calendar, a contract signed by the demo marketing and
sales managers, its commitments, and clocks for the demo's MQLs — met, breached and a
few running close to their due time so the sales queue shows countdowns. Idempotent;
works on SQLite (``make run``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Min

from smarketing.tenancy.permissions import Role

from . import calendar as cal
from . import selectors, services
from .models import Clock, ContractVersion, SalesCommitment, Trigger

MARKETING = [
    {"metric": "mql", "target": 120, "period": "month"},
    {"metric": "sql", "target": 30, "period": "month"},
]
SALES = [
    {"trigger": "became_mql", "response_minutes": 240, "label": "MQL → 4 h ouvrées"},
    {
        "trigger": "event",
        "event_type": "demo_request",
        "response_minutes": 120,
        "label": "Demande de démo → 2 h ouvrées",
    },
    {"trigger": "became_hot", "response_minutes": 60, "label": "Lead chaud → 1 h ouvrée"},
]
PREAMBLE = (
    "Marketing et ventes s'engagent ensemble sur un seul pipeline : le marketing livre un "
    "volume de leads qualifiés, les ventes rappellent chaque lead dans le délai convenu. "
    "Revue chaque lundi à la réunion Smarketing."
)
HISTORY_DAYS = 60
LIVE_CLOCKS = 6


def load(demo) -> None:
    org = demo.organization
    services.calendar_ensure(organization=org, now=demo.now)
    version = _contract(demo)
    made = _clocks(demo, version)
    demo.stdout.write(f"  sla: contract v{version.number} in force, {made} clocks added")


def _contract(demo) -> ContractVersion:
    org = demo.organization
    active = selectors.active_version(org)
    if active is not None:
        return active
    version = services.draft_create(actor=None, organization=org, now=demo.now)
    version = services.version_update(
        actor=None, version=version, title="SLA Smarketing Acme", preamble=PREAMBLE
    )
    if not version.marketing_commitments.exists():
        for data in MARKETING:
            services.marketing_commitment_add(actor=None, version=version, data=data)
    if not version.sales_commitments.exists():
        for data in SALES:
            services.sales_commitment_add(actor=None, version=version, data=data)
    signed_at = demo.now - timedelta(days=HISTORY_DAYS + 5)
    marketing, sales = (
        demo.users[Role.MARKETING_MANAGER.value],
        demo.users[Role.SALES_MANAGER.value],
    )
    version.refresh_from_db()
    if version.marketing_signed_at is None:
        services.sign(version=version, user=marketing, side="marketing", at=signed_at)
    version.refresh_from_db()
    return services.sign(
        version=version, user=sales, side="sales", at=signed_at + timedelta(hours=3)
    )


def _clocks(demo, version: ContractVersion) -> int:
    """Clocks for the MQL transitions of the last 60 days (their outcome from the lead's
    first touch), then a few fresh ones on untouched MQLs, due within the next hours."""
    from leads.models import Lead, LifecycleTransition, Stage

    org = demo.organization
    if Clock.objects.for_org(org).exists():
        return 0
    by_trigger = {
        c.trigger: c for c in SalesCommitment.objects.for_org(org).filter(version=version)
    }
    mql = by_trigger.get(Trigger.BECAME_MQL)
    if mql is None:
        return 0
    spec = selectors.calendar_spec(org)
    now = demo.now
    since = now - timedelta(days=HISTORY_DAYS)
    firsts = (
        LifecycleTransition.objects.for_org(org)
        .filter(to_stage=Stage.MQL, at__gte=since)
        .values("lead_id")
        .annotate(at=Min("at"))
    )
    mql_at = {row["lead_id"]: row["at"] for row in firsts}
    leads = {
        lead.pk: lead
        for lead in Lead.objects.for_org(org)
        .filter(pk__in=list(mql_at))
        .only("pk", "owner_id", "stage", "first_touch_at")
    }
    live = [
        lead
        for lead in sorted(leads.values(), key=lambda lead: mql_at[lead.pk], reverse=True)
        if lead.stage == Stage.MQL and lead.first_touch_at is None
    ][:LIVE_CLOCKS]
    live_ids = {lead.pk for lead in live}
    rows = []
    for lead_id, started in mql_at.items():
        lead = leads.get(lead_id)
        if lead is None or lead_id in live_ids:
            continue
        rows.append(_historic(org, lead, mql, spec, started, now))
    demo_request = by_trigger.get(Trigger.EVENT, mql)
    for i, lead in enumerate(live):
        commitment = demo_request if i % 3 == 1 else mql
        used = spec if commitment.business_time else cal.WALL_CLOCK
        # Started a while ago, in working time: due in 20 min, 1 h, 1 h 40…
        left = 20 + 40 * i
        started = _working_minutes_before(used, now, commitment.response_minutes - left)
        rows.append(_clock(org, lead, commitment, used, started, now))
    Clock.objects.bulk_create([row for row in rows if row is not None], ignore_conflicts=True)
    return len(rows)


def _working_minutes_before(spec, now, minutes: int):
    """An instant such that ``minutes`` of working time separate it from ``now`` (walks
    back by whole working days; exact enough for demo data)."""
    if minutes <= 0:
        return now
    guess = now - timedelta(minutes=minutes)
    for _ in range(60):
        worked = cal.working_minutes_between(spec, guess, now)
        if worked >= minutes:
            return guess
        guess -= timedelta(hours=6)
    return guess


def _clock(org, lead, commitment, spec, started, now) -> Clock:
    warn_at, due_at = cal.deadlines(
        spec, started, commitment.response_minutes, commitment.warn_percent
    )
    status = Clock.Status.WARNED if warn_at <= now < due_at else Clock.Status.RUNNING
    return Clock(
        organization=org,
        lead_id=lead.pk,
        commitment=commitment,
        owner_id=lead.owner_id,
        status=status,
        started_at=started,
        started_by="mql" if commitment.trigger == Trigger.BECAME_MQL else "event:demo_request",
        warn_at=warn_at,
        due_at=due_at,
        warned_at=warn_at if status == Clock.Status.WARNED else None,
        escalate_at=cal.add_working_minutes(spec, due_at, commitment.escalation_minutes),
        created_at=started,
    )


def _historic(org, lead, commitment, spec, started, now) -> Clock:
    clock = _clock(org, lead, commitment, spec, started, now)
    touched = (
        lead.first_touch_at if lead.first_touch_at and lead.first_touch_at >= started else None
    )
    if clock.due_at > now and touched is None:
        return clock  # still running
    clock.warned_at = clock.warn_at if clock.warn_at <= (touched or now) else None
    if touched is not None and touched <= clock.due_at:
        clock.status = Clock.Status.MET
    else:
        clock.status = Clock.Status.BREACHED
        clock.breached_at = clock.due_at
        if touched is None and clock.escalate_at and clock.escalate_at <= now:
            clock.escalated_at = clock.escalate_at
        if touched is not None:
            clock.escalate_at = None
    clock.touched_at = touched
    clock.touch_kind = "call" if touched else ""
    return clock
