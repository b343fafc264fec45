"""The funnel audit (the guide's week 1: where do we lose prospects?).

For each stage of ``kpis.FUNNEL_STAGES``, the leads that entered it in the period (a
new lead "enters" the lead stage when it is created; a lead counts once per stage, at
its first entry in the period):

- ``moved_on``: of those, the leads that later reached a further stage of the funnel
  (at any time up to now; a manager's jump over a stage counts);
- ``conversion`` = moved_on / entered, ``dropped`` = entered - moved_on;
- ``median_days``: days from the entry to the lead's next stage change, over the leads
  that left the stage (forward or out: recycled, disqualified).

One query per stage (entries annotated with two index look-ups each), medians in
Python over the period's entries.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from django.db.models import Exists, OuterRef, Subquery
from django.utils.translation import gettext as _

from leads.models import Campaign, Lead, LifecycleTransition, Stage
from smarketing.tenancy.models import Organization

from .kpis import ALL_LEADS, FUNNEL_BY, FUNNEL_STAGES, FunnelStage, Period, Segment

DAY = 86400.0


def _forward(stage: str) -> list[str]:
    return list(FUNNEL_STAGES[FUNNEL_STAGES.index(stage) + 1 :])


def _entries(organization: Organization, period: Period, segment: Segment, stage: str, by: str):
    """``(lead_id, group, entered_at, moved_on, left_at)`` of the stage's entries."""
    org = organization
    transitions = LifecycleTransition.objects.for_org(org)
    group_field = {"": None, "source": "source", "campaign": "campaign_id"}[by]
    if stage == Stage.LEAD:
        moment = "created_at"
        rows = Lead.objects.for_org(org).filter(
            segment.lead_q(), created_at__gte=period.start, created_at__lt=period.end
        )
        lead_ref, group_path = "pk", group_field
        left = transitions.filter(lead_id=OuterRef("pk"), at__gte=OuterRef("created_at")).exclude(
            to_stage__in=(Stage.LEAD, Stage.SUBSCRIBER)
        )
        moved = transitions.filter(
            lead_id=OuterRef("pk"), at__gte=OuterRef("created_at"), to_stage__in=_forward(stage)
        )
    else:
        moment = "at"
        rows = transitions.filter(
            segment.lead_q("lead__"), to_stage=stage, at__gte=period.start, at__lt=period.end
        )
        lead_ref, group_path = "lead_id", (f"lead__{group_field}" if group_field else None)
        left = transitions.filter(lead_id=OuterRef("lead_id"), at__gt=OuterRef("at")).exclude(
            to_stage=stage
        )
        moved = transitions.filter(
            lead_id=OuterRef("lead_id"), at__gt=OuterRef("at"), to_stage__in=_forward(stage)
        )
    rows = rows.annotate(
        moved_on=Exists(moved),
        left_at=Subquery(left.order_by("at").values("at")[:1]),
    ).order_by()
    fields = [lead_ref, moment, "moved_on", "left_at"]
    if group_path:
        fields.append(group_path)
    for values in rows.values_list(*fields):
        lead_id, entered_at, moved_on, left_at = values[:4]
        group = values[4] if group_path else ""
        yield lead_id, ("" if group is None else str(group)), entered_at, moved_on, left_at


def funnel_stages(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS, *, by: str = ""
) -> list[FunnelStage]:
    if by not in FUNNEL_BY:
        raise ValueError(f"unknown funnel grouping {by!r}")
    # group -> stage -> lead -> (entered_at, moved_on, left_at) of the first entry
    first: dict[str, dict[str, dict[int, tuple[datetime, bool, datetime | None]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for stage in FUNNEL_STAGES:
        for lead_id, group, entered_at, moved_on, left_at in _entries(
            organization, period, segment, stage, by
        ):
            seen = first[group][stage].get(lead_id)
            if seen is None or entered_at < seen[0]:
                first[group][stage][lead_id] = (entered_at, moved_on, left_at)
    labels = _group_labels(organization, by, list(first))
    groups = sorted(first, key=lambda g: (-len(first[g][Stage.LEAD]), labels.get(g, g)))
    if not by:
        groups = [""]
    result: list[FunnelStage] = []
    for group in groups:
        for index, stage in enumerate(FUNNEL_STAGES):
            leads = first.get(group, {}).get(stage, {})
            entered = len(leads)
            moved_on = sum(1 for _at, moved, _left in leads.values() if moved)
            stays = [
                (left - at).total_seconds() / DAY
                for at, _moved, left in leads.values()
                if left is not None
            ]
            terminal = index == len(FUNNEL_STAGES) - 1
            result.append(
                FunnelStage(
                    stage=stage,
                    label=str(Stage(stage).label),
                    entered=entered,
                    moved_on=0 if terminal else moved_on,
                    dropped=0 if terminal else entered - moved_on,
                    conversion=None if terminal or not entered else round(moved_on / entered, 4),
                    median_days=round(statistics.median(stays), 1) if stays else None,
                    group=group,
                    group_label=labels.get(group, "") if by else "",
                    next_stage="" if terminal else FUNNEL_STAGES[index + 1],
                )
            )
    return result


def _group_labels(organization: Organization, by: str, keys: list[str]) -> dict[str, str]:
    if by == "source":
        sources = dict(Lead.Source.choices)
        return {key: str(sources.get(key, key)) if key else _("Unknown") for key in keys}
    if by == "campaign":
        ids = [int(key) for key in keys if key]
        names = dict(
            Campaign.objects.for_org(organization).filter(pk__in=ids).values_list("pk", "name")
        )
        return {key: names.get(int(key), key) if key else _("No campaign") for key in keys}
    return {}
