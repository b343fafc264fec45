"""Receivers of the domain signals (connected in apps.py): they only call a service.

- outbound webhooks: each signal becomes ``webhooks_out.enqueue`` of its event type, in
  the transaction of the change (the outbox);
- CRM push: a stage change to MQL or later pushes the lead to each CRM connection, on
  commit (``tasks.push_lead``).
"""

from __future__ import annotations

import threading
from decimal import Decimal

from django.db import transaction

from leads.models import LifecycleTransition, Stage

from . import webhooks_out

STAGE_EVENTS = {
    Stage.MQL: "lead.mql",
    Stage.SAL: "lead.accepted",
    Stage.SQL: "lead.sql",
}


def _iso(value):
    return value.isoformat() if value else None


def lead_data(lead, **extra) -> dict:
    company = getattr(lead, "company", None) if lead.company_id else None
    owner = getattr(lead, "owner", None) if lead.owner_id else None
    data = {
        "lead": {
            "id": lead.pk,
            "email": lead.email,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "title": lead.title,
            "company": company.name if company else "",
            "company_domain": company.domain if company else "",
            "country": lead.country,
            "stage": lead.stage,
            "score": lead.score,
            "grade": lead.grade,
            "hot": lead.hot,
            "owner_email": owner.email if owner else "",
        }
    }
    data.update(extra)
    return data


def on_stage_changed(sender, *, organization, lead, from_stage, to_stage, at, by=None, **kw):
    event_type = STAGE_EVENTS.get(to_stage)
    extra = {"from_stage": from_stage, "to_stage": to_stage, "at": _iso(at)}
    if (
        event_type is None
        and from_stage == Stage.MQL
        and to_stage
        in (
            Stage.RECYCLED,
            Stage.DISQUALIFIED,
        )
    ):
        event_type = "lead.rejected"
        reason = (
            LifecycleTransition.objects.for_org(organization)
            .filter(lead_id=lead.pk, to_stage=to_stage)
            .order_by("-at", "-pk")
            .values_list("reason", flat=True)
            .first()
        )
        extra["reason"] = reason or ""
    if event_type is not None:
        webhooks_out.enqueue(
            organization=organization, event_type=event_type, data=lead_data(lead, **extra), at=at
        )
    _push_on_commit(organization, lead, from_stage, to_stage, at)


# Leads whose stage changed in the current transaction, per organization: one push task
# per CRM connection and transaction (a re-score that makes 1,000 MQLs sends batches, not
# 1,000 tasks). Leads left here by a rolled-back transaction are pushed with their
# current stage by the next flush: harmless.
_pending = threading.local()


def _push_on_commit(organization, lead, from_stage, to_stage, at) -> None:
    from .sync import PUSH_STAGES, change_payload, push_targets

    if to_stage not in PUSH_STAGES:
        return
    targets = push_targets(organization)
    if not targets:
        return
    waiting = getattr(_pending, "leads", None)
    if waiting is None:
        waiting = _pending.leads = {}
    org_id = organization.pk
    changes = waiting.setdefault(org_id, {})
    first = changes.get(lead.pk)
    change = change_payload(
        from_stage=first["from_stage"] if first else from_stage, to_stage=to_stage, at=at
    )
    changes[lead.pk] = change
    transaction.on_commit(lambda: _flush(org_id, targets), robust=True)


def _flush(org_id: int, targets: list[int]) -> None:
    from .sync import PUSH_CHUNK
    from .tasks import push_leads

    waiting = getattr(_pending, "leads", {})
    changes = waiting.pop(org_id, None)
    if not changes:
        return
    items = [[lead_id, change] for lead_id, change in sorted(changes.items())]
    for connection_id in targets:
        for start in range(0, len(items), PUSH_CHUNK):
            push_leads.delay(org_id, connection_id, items[start : start + PUSH_CHUNK])


def on_lead_became_hot(sender, *, organization, lead, at=None, **kw):
    webhooks_out.enqueue(
        organization=organization,
        event_type="lead.hot",
        data=lead_data(lead, at=_iso(at)),
        at=at,
    )


def on_deal_won(sender, *, organization, deal, **kw):
    data = {
        "deal": {
            "id": deal.pk,
            "name": deal.name,
            "amount": str(Decimal(deal.amount).quantize(Decimal("0.01"))),
            "currency": deal.currency,
            "stage": deal.stage,
            "closed_at": _iso(deal.closed_at),
            "source": deal.source,
            "external_id": deal.external_id,
            "lead_id": deal.lead_id,
            "lead_email": deal.lead.email if deal.lead_id else "",
        }
    }
    webhooks_out.enqueue(
        organization=organization, event_type="deal.won", data=data, at=deal.closed_at
    )


def _clock_data(clock) -> dict:
    lead = clock.lead
    data = lead_data(lead)
    data["clock"] = {
        "id": clock.pk,
        "status": clock.status,
        "started_at": _iso(clock.started_at),
        "warn_at": _iso(clock.warn_at),
        "due_at": _iso(clock.due_at),
        "owner_email": clock.owner.email if clock.owner_id else "",
        "commitment_id": clock.commitment_id,
    }
    return data


def on_clock_warned(sender, *, organization, clock, **kw):
    webhooks_out.enqueue(
        organization=organization, event_type="sla.warned", data=_clock_data(clock)
    )


def on_clock_breached(sender, *, organization, clock, **kw):
    webhooks_out.enqueue(
        organization=organization, event_type="sla.breached", data=_clock_data(clock)
    )


def on_meeting_published(sender, *, organization, meeting, **kw):
    data = {"meeting": {"id": meeting.pk}}
    for name in ("title", "status", "week_start", "scheduled_for", "closed_at", "snapshot_at"):
        value = getattr(meeting, name, None)
        if value is not None:
            data["meeting"][name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    webhooks_out.enqueue(organization=organization, event_type="meeting.published", data=data)
