"""The funnel audit (the guide's week 1: where do we lose prospects?).

For each stage of ``kpis.FUNNEL_STAGES``, the leads that entered it in the period (a
new lead "enters" the lead stage when it is created; a lead counts once per stage, at
its first entry in the period):

- ``moved_on``: of those, the leads that later reached a further stage of the funnel
  (at any time up to now; a manager's jump over a stage counts);
- ``conversion`` = moved_on / entered, ``dropped`` = entered - moved_on;
- ``median_days``: days from the entry to the lead's next stage change, over the leads
  that left the stage (forward or out: recycled, disqualified).

On PostgreSQL one statement (a window over each lead's stage changes, see
``FUNNEL_SQL``); elsewhere three queries and one pass in Python over each lead's
history. Both give the same figures (tested).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from django.db import connection
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
    if connection.vendor == "postgresql":
        stats = _stats_sql(organization, period, segment, by)
    else:
        stats = _stats_python(organization, period, segment, by)
    groups = sorted({group for group, _stage in stats})
    labels = _group_labels(organization, by, groups)
    if by:
        groups.sort(key=lambda g: (-stats.get((g, Stage.LEAD), (0,))[0], labels.get(g, g)))
    else:
        groups = [""]
    result: list[FunnelStage] = []
    for group in groups:
        for index, stage in enumerate(FUNNEL_STAGES):
            entered, moved_on, median_days = stats.get((group, stage), (0, 0, None))
            terminal = index == len(FUNNEL_STAGES) - 1
            result.append(
                FunnelStage(
                    stage=stage,
                    label=str(Stage(stage).label),
                    entered=entered,
                    moved_on=0 if terminal else moved_on,
                    dropped=0 if terminal else entered - moved_on,
                    conversion=None if terminal or not entered else round(moved_on / entered, 4),
                    median_days=None if median_days is None else round(median_days, 1),
                    group=group,
                    group_label=labels.get(group, "") if by else "",
                    next_stage="" if terminal else FUNNEL_STAGES[index + 1],
                )
            )
    return result


Stats = dict[tuple[str, str], tuple[int, int, float | None]]


def _stats_python(organization: Organization, period: Period, segment: Segment, by: str) -> Stats:
    """Portable (SQLite): the entries, then every later stage change of those leads in
    one query on the (lead, at) index, walked in Python."""
    first = _first_entries(organization, period, segment, by)
    lead_ids = sorted({lead_id for leads in first.values() for lead_id in leads})
    history: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    later = LifecycleTransition.objects.for_org(organization).filter(
        lead_id__in=lead_ids, at__gte=period.start
    )
    for lead_id, stage, at in later.order_by("lead_id", "at", "pk").values_list(
        "lead_id", "to_stage", "at"
    ):
        history[lead_id].append((at, stage))
    stats: Stats = {}
    for (group, stage), leads in first.items():
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
        stats[(group, stage)] = (len(leads), moved_on, statistics.median(stays) if stays else None)
    return stats


# PostgreSQL: one statement. Each lead's stage changes since the period's start (and its
# creation, as a "lead" row) in time order; a window over the rows after each one gives
# when the lead left the stage and the furthest funnel stage it reached afterwards; the
# first entry of each lead to each stage in the period is then aggregated.
FUNNEL_SQL = """
WITH leads AS (
    SELECT l.id, {group} AS grp, l.created_at FROM leads_lead l
    WHERE l.organization_id = %(org)s {segment}
      AND l.created_at >= %(start)s AND l.created_at < %(end)s
    UNION
    SELECT l.id, {group} AS grp, l.created_at FROM leads_lead l
    WHERE l.organization_id = %(org)s {segment}
      AND l.id IN (SELECT t.lead_id FROM leads_lifecycletransition t
                   WHERE t.organization_id = %(org)s AND t.to_stage = ANY(%(stages)s)
                     AND t.at >= %(start)s AND t.at < %(end)s)
), rows AS (
    SELECT id AS lead_id, grp, 'lead' AS stage, created_at AS at, 0 AS ord, 0::bigint AS pk,
           created_at >= %(start)s AND created_at < %(end)s AS entry
    FROM leads
    UNION ALL
    SELECT t.lead_id, leads.grp, t.to_stage, t.at, 1, t.id,
           t.to_stage <> 'lead' AND t.at < %(end)s
    FROM leads_lifecycletransition t JOIN leads ON leads.id = t.lead_id
    WHERE t.organization_id = %(org)s AND t.at >= %(start)s
), walked AS (
    SELECT lead_id, grp, stage, at, entry,
           array_position(%(stages_all)s, stage) AS rank,
           max(array_position(%(stages_all)s, stage)) OVER later AS furthest,
           min(at) FILTER (WHERE stage NOT IN ('lead', 'subscriber')) OVER later AS left_lead,
           min(at) OVER later AS left_other
    FROM rows
    WINDOW later AS (PARTITION BY lead_id ORDER BY at, ord, pk
                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
), firsts AS (
    SELECT DISTINCT ON (lead_id, stage) grp, stage, rank, furthest,
           CASE WHEN stage = 'lead' THEN left_lead ELSE left_other END - at AS stay
    FROM walked WHERE entry AND rank IS NOT NULL
    ORDER BY lead_id, stage, at
)
SELECT grp, stage, count(*), count(*) FILTER (WHERE furthest > rank),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stay))
       FILTER (WHERE stay IS NOT NULL) / 86400.0
FROM firsts GROUP BY grp, stage
"""


def _stats_sql(organization: Organization, period: Period, segment: Segment, by: str) -> Stats:
    group = {"": "''", "source": "l.source", "campaign": "coalesce(l.campaign_id::text, '')"}[by]
    conditions, params = [], {}
    for name, column in (
        ("source", "source"),
        ("campaign_id", "campaign_id"),
        ("owner_id", "owner_id"),
        ("grade", "grade"),
    ):
        value = getattr(segment, name)
        if value:
            conditions.append(f"AND l.{column} = %(seg_{name})s")
            params[f"seg_{name}"] = value
    sql = FUNNEL_SQL.format(group=group, segment=" ".join(conditions))
    params.update(
        org=organization.pk,
        start=period.start,
        end=period.end,
        stages=list(FUNNEL_STAGES[1:]),
        stages_all=list(FUNNEL_STAGES),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (grp or "", stage): (entered, moved, None if median is None else float(median))
            for grp, stage, entered, moved, median in cursor.fetchall()
        }


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
