"""Content and campaign attribution of revenue won (SPEC.md §4, "content revenue").

The deals won in the period (``closed_at``); each deal's touches are its lead's
marketing events (not unsubscriptions) with a content (``by="content"``) or a campaign
(``by="campaign"``), before the deal was created, oldest first. The deal's amount is
shared among them:

- ``first_touch`` / ``last_touch``: all of it to the first / the last touch;
- ``linear``: equally;
- ``u_shaped``: 40 % first, 40 % last, 20 % spread over the touches between (one touch:
  100 %; two: 50/50);
- ``w_shaped``: 30 % first, 30 % to the touch that made the lead an MQL (the last touch
  at or before its first MQL transition; the middle touch if there is none), 30 % last,
  the remaining 10 % spread over the other touches (over the three when there are no
  others); with fewer than three distinct key touches their 90 % is split equally;
- ``time_decay``: weight 2^(-age / 7 days), age = deal creation - touch, normalised.

A deal with no touch is credited to the "no touch" row, so that the rows add up to the
period's revenue won. Four queries whatever the number of deals.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Min
from django.utils.translation import gettext as _

from leads.models import Campaign, Content, Deal, Event, LifecycleTransition, Stage
from smarketing.tenancy.models import Organization

from .kpis import (
    ALL_LEADS,
    NOT_A_TOUCH,
    TIME_DECAY_HALF_LIFE_DAYS,
    ZERO,
    AttributionRow,
    Period,
    Segment,
    _money,
    spend_by_campaign,
)


def weights(model: str, touches: list, *, deal_created_at=None, mql_at=None) -> list[float]:
    """The share of each touch (``touches``: ``(occurred_at, key)`` oldest first)."""
    n = len(touches)
    if n == 0:
        return []
    if n == 1:
        return [1.0]
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "u_shaped":
        if n == 2:
            return [0.5, 0.5]
        middle = 0.2 / (n - 2)
        return [0.4] + [middle] * (n - 2) + [0.4]
    if model == "w_shaped":
        mql_index = None
        if mql_at is not None:
            before = [i for i, (at, _key) in enumerate(touches) if at <= mql_at]
            mql_index = before[-1] if before else None
        if mql_index is None:
            mql_index = (n - 1) // 2
        keys = sorted({0, mql_index, n - 1})
        shares = [0.0] * n
        for i in keys:
            shares[i] = 0.9 / len(keys)
        others = [i for i in range(n) if i not in keys]
        rest = others or keys
        for i in rest:
            shares[i] += 0.1 / len(rest)
        return shares
    if model == "time_decay":
        raw = [
            0.5 ** (((deal_created_at - at).total_seconds() / 86400) / TIME_DECAY_HALF_LIFE_DAYS)
            for at, _key in touches
        ]
        total = sum(raw)
        return [w / total for w in raw]
    raise ValueError(f"unknown attribution model {model!r}")


def attribute(
    organization: Organization,
    period: Period,
    *,
    model: str,
    by: str,
    segment: Segment = ALL_LEADS,
) -> list[AttributionRow]:
    org = organization
    deals = list(
        Deal.objects.for_org(org)
        .filter(
            segment.lead_q("lead__"),
            status=Deal.Status.WON,
            closed_at__gte=period.start,
            closed_at__lt=period.end,
        )
        .order_by("closed_at", "pk")
        .values_list("pk", "lead_id", "created_at", "amount")
    )
    key_field = "content_id" if by == "content" else "campaign_id"
    lead_ids = {lead_id for _pk, lead_id, _c, _a in deals if lead_id}
    latest = max((created for _pk, lead_id, created, _a in deals if lead_id), default=None)
    touches: dict[int, list] = defaultdict(list)
    if lead_ids:
        for lead_id, at, key in (
            Event.objects.for_org(org)
            .filter(
                lead_id__in=lead_ids,
                occurred_at__lt=latest,
                **{f"{key_field}__isnull": False},
            )
            .exclude(type__in=NOT_A_TOUCH)
            .order_by("occurred_at", "pk")
            .values_list("lead_id", "occurred_at", key_field)
        ):
            touches[lead_id].append((at, key))
    mql_at: dict[int, object] = {}
    if model == "w_shaped" and lead_ids:
        mql_at = dict(
            LifecycleTransition.objects.for_org(org)
            .filter(lead_id__in=lead_ids, to_stage=Stage.MQL)
            .order_by()
            .values("lead_id")
            .annotate(first=Min("at"))
            .values_list("lead_id", "first")
        )
    revenue: dict[int | None, Decimal] = defaultdict(Decimal)
    credited: dict[int | None, float] = defaultdict(float)
    deal_count: dict[int | None, int] = defaultdict(int)
    touch_count: dict[int | None, int] = defaultdict(int)
    total = Decimal(0)
    for _pk, lead_id, created_at, amount in deals:
        total += amount
        mine = [t for t in touches.get(lead_id, []) if t[0] < created_at] if lead_id else []
        if not mine:
            revenue[None] += amount
            credited[None] += 1.0
            deal_count[None] += 1
            continue
        # The MQL moment of this deal: the lead's first MQL entry, if it came before the
        # deal was created (a lead that became MQL only later has no MQL touch here).
        mql = mql_at.get(lead_id)
        if mql is not None and mql >= created_at:
            mql = None
        shares = weights(model, mine, deal_created_at=created_at, mql_at=mql)
        per_key: dict[int, float] = defaultdict(float)
        for (_at, key), share in zip(mine, shares, strict=True):
            per_key[key] += share
            touch_count[key] += 1
        for key, share in per_key.items():
            revenue[key] += amount * Decimal(repr(share))
            credited[key] += share
            if share > 0:
                deal_count[key] += 1
    return _rows(org, period, by, revenue, credited, deal_count, touch_count, total)


def _rows(
    org, period, by, revenue, credited, deal_count, touch_count, total
) -> list[AttributionRow]:
    keys = [key for key in revenue if key is not None] + [
        key for key in touch_count if key not in revenue
    ]
    rows: list[AttributionRow] = []
    if by == "content":
        for content in Content.objects.for_org(org).filter(pk__in=keys):
            rows.append(
                AttributionRow(
                    key=content.key,
                    id=content.pk,
                    label=content.title,
                    level=content.level,
                    kind=content.type,
                )
            )
    else:
        spends = spend_by_campaign(org, period)
        for campaign in Campaign.objects.for_org(org).filter(pk__in=keys):
            spent = spends.get(campaign.pk, ZERO)
            rows.append(
                AttributionRow(
                    key=campaign.key,
                    id=campaign.pk,
                    label=campaign.name,
                    kind=campaign.channel,
                    spend=spent,
                )
            )
    for row in rows:
        row.revenue = _money(revenue.get(row.id, 0))
        row.deals = deal_count.get(row.id, 0)
        row.touches = touch_count.get(row.id, 0)
        row.share = round(float(row.revenue / total), 4) if total else None
        if row.spend is not None:
            row.roi = round(float(row.revenue / row.spend), 2) if row.spend else None
            share = credited.get(row.id, 0.0)
            row.cac = _money(row.spend / Decimal(repr(share))) if share and row.spend else None
    rows.sort(key=lambda row: (-row.revenue, row.label.lower()))
    if None in revenue:
        rows.append(
            AttributionRow(
                key="",
                id=None,
                label=_("No content touch") if by == "content" else _("No campaign touch"),
                revenue=_money(revenue[None]),
                deals=deal_count[None],
                share=round(float(revenue[None] / total), 4) if total else None,
            )
        )
    return rows
