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
# 1,000 tasks). A batch belongs to the transaction whose on-commit list holds its flush:
# when that transaction rolls back, Django drops the callback and the next change starts
# a new batch (the rolled-back leads are not carried over). The push itself skips leads
# whose current stage is not pushed (sync.push_leads_to), whatever reaches it.
_pending = threading.local()


class _Batch:
    def __init__(self, org_id: int, targets: list[int]) -> None:
        self.org_id = org_id
        self.targets = targets
        self.changes: dict[int, dict] = {}
        self.callback = self._flush  # one object: found again in run_on_commit

    def _flush(self) -> None:
        batches = getattr(_pending, "batches", {})
        if batches.get(self.org_id) is self:
            del batches[self.org_id]
        _flush(self.org_id, self.targets, self.changes)


def _registered(batch: _Batch) -> bool:
    """Is the batch's flush still waiting for the current transaction's commit?"""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return False
    return any(entry[1] is batch.callback for entry in connection.run_on_commit)


def _push_on_commit(organization, lead, from_stage, to_stage, at) -> None:
    from .sync import PUSH_STAGES, change_payload, push_targets

    if to_stage not in PUSH_STAGES:
        return
    targets = push_targets(organization)
    if not targets:
        return
    batches = getattr(_pending, "batches", None)
    if batches is None:
        batches = _pending.batches = {}
    org_id = organization.pk
    batch = batches.get(org_id)
    fresh = batch is None or not _registered(batch)
    if fresh:
        batch = batches[org_id] = _Batch(org_id, targets)
    first = batch.changes.get(lead.pk)
    batch.changes[lead.pk] = change_payload(
        from_stage=first["from_stage"] if first else from_stage, to_stage=to_stage, at=at
    )
    if fresh:
        transaction.on_commit(batch.callback, robust=True)


def _flush(org_id: int, targets: list[int], changes: dict[int, dict]) -> None:
    from .sync import PUSH_CHUNK
    from .tasks import push_leads

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
