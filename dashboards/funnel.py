"""The funnel audit (the guide's week 1: where do we lose prospects?).

For each stage of ``kpis.FUNNEL_STAGES``, the leads that entered it in the period (a
new lead "enters" the lead stage when it is created; a lead counts once per stage, at
its first entry in the period):

- ``moved_on``: of those, the leads that later reached a further stage of the funnel
  (at any time up to now; a manager's jump over a stage counts);
- ``conversion`` = moved_on / entered, ``dropped`` = entered - moved_on;
- ``median_days``: days from the entry to the lead's next stage change, over the leads
  that left the stage (forward or out: recycled, disqualified).

Three queries (new leads, the period's stage entries, and every later stage change of
those leads), then one pass in Python over each lead's history.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from django.utils.translation import gettext as _

from leads.models import Campaign, Lead, LifecycleTransition, Stage
from smarketing.tenancy.models import Organization

from .kpis import ALL_LEADS, FUNNEL_BY, FUNNEL_STAGES, FunnelStage, Period, Segment

DAY = 86400.0


def _forward(stage: str) -> frozenset[str]:
    return frozenset(FUNNEL_STAGES[FUNNEL_STAGES.index(stage) + 1 :])


FORWARD = {stage: _forward(stage) for stage in FUNNEL_STAGES}
NOT_LEAVING_LEAD = frozenset({Stage.LEAD, Stage.SUBSCRIBER})


def _first_entries(organization: Organization, period: Period, segment: Segment, by: str):
    """``{(group, stage): {lead_id: entered_at}}``: each lead's first entry to each
    stage in the period (two queries)."""
    org = organization
    group_field = {"": None, "source": "source", "campaign": "campaign_id"}[by]
    first: dict[tuple[str, str], dict[int, datetime]] = defaultdict(dict)

    def keep(key, lead_id, at) -> None:
        seen = first[key].get(lead_id)
        if seen is None or at < seen:
            first[key][lead_id] = at

    created = Lead.objects.for_org(org).filter(
        segment.lead_q(), created_at__gte=period.start, created_at__lt=period.end
    )
    fields = ["pk", "created_at", *([group_field] if group_field else [])]
    for values in created.order_by().values_list(*fields):
        group = values[2] if group_field else ""
        keep(("" if group is None else str(group), Stage.LEAD), values[0], values[1])
    entries = LifecycleTransition.objects.for_org(org).filter(
        segment.lead_q("lead__"),
        to_stage__in=FUNNEL_STAGES[1:],
        at__gte=period.start,
        at__lt=period.end,
    )
    fields = ["lead_id", "to_stage", "at", *([f"lead__{group_field}"] if group_field else [])]
    for values in entries.order_by().values_list(*fields):
        group = values[3] if group_field else ""
        keep(("" if group is None else str(group), values[1]), values[0], values[2])
    return first


def funnel_stages(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS, *, by: str = ""
) -> list[FunnelStage]:
    if by not in FUNNEL_BY:
        raise ValueError(f"unknown funnel grouping {by!r}")
    first = _first_entries(organization, period, segment, by)
    # Every later stage change of those leads, in one query on the (lead, at) index,
    # grouped by lead in time order.
    lead_ids = sorted({lead_id for leads in first.values() for lead_id in leads})
    history: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    later = LifecycleTransition.objects.for_org(organization).filter(
        lead_id__in=lead_ids, at__gte=period.start
    )
    for lead_id, stage, at in later.order_by("lead_id", "at", "pk").values_list(
        "lead_id", "to_stage", "at"
    ):
        history[lead_id].append((at, stage))

    groups = sorted(
        {group for group, _stage in first},
        key=lambda g: (-len(first.get((g, Stage.LEAD), {})), g),
    )
    labels = _group_labels(organization, by, groups)
    if by:
        groups.sort(key=lambda g: (-len(first.get((g, Stage.LEAD), {})), labels.get(g, g)))
    else:
        groups = [""]
    result: list[FunnelStage] = []
    for group in groups:
        for index, stage in enumerate(FUNNEL_STAGES):
            leads = first.get((group, stage), {})
            forward = FORWARD[stage]
            moved_on = 0
            stays = []
            for lead_id, entered_at in leads.items():
                moved = False
                left_at = None
                for at, to_stage in history.get(lead_id, ()):
                    if stage == Stage.LEAD:
                        if at < entered_at:
                            continue
                        leaving = to_stage not in NOT_LEAVING_LEAD
                    else:
                        if at <= entered_at:
                            continue
                        leaving = to_stage != stage
                    if leaving and left_at is None:
                        left_at = at
                    if to_stage in forward:
                        moved = True
                        if left_at is not None:
                            break
                moved_on += moved
                if left_at is not None:
                    stays.append((left_at - entered_at).total_seconds() / DAY)
            entered = len(leads)
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
