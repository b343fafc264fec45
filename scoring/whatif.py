"""The what-if simulation (SPEC.md §2): over the last N days, how many MQLs a model
would have made, and how many of those went on to SQL — the draft next to the active
model, replayed the same way so that the two numbers compare.

How a model is replayed, lead by lead, with the pure engine and the lead's real events:

- A score never rises between two events (decay and closing windows only lower it;
  docs/scoring.md), so whether the MQL definition holds can only change from "no" to
  "yes" at an event. The replay scores the lead at the start of the period and right
  after each of its events in the period that some rule with positive points matches.
- A lead "would have become MQL" at the first of those instants where it meets the
  definition and did not just before (the pipeline's crossing rule: a lead that
  already qualified at the start must fall under the threshold and cross again). A
  lead that appeared during the period did not qualify before it existed.
- The lead must still have been marketing's to hand over at that moment: not yet SQL,
  opportunity or customer, nor disqualified (its stage then, from its stage history).
- It "went on to SQL" when its history has it reaching SQL (or beyond) at or after that
  instant.

Attributes are today's (the lead's and its company's): the past of an attribute is not
kept. Leads whose score could not have risen in the period (no matching event, created
before it) are not replayed at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.utils import timezone

from leads.models import Event, Lead, LifecycleTransition, Stage
from smarketing.tenancy.models import Organization

from .engine import EventData, ModelRules, behaviour_matches, qualifies, score_lead
from .inputs import LEAD_VALUES, company_attrs, lead_attrs, load_events
from .models import ScoringModel
from .rules import compile_model

PERIODS = (7, 30, 90)
BATCH = 500
REACHED_SQL = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})
# Stages from which no scoring model hands a lead over to sales.
CLOSED = REACHED_SQL | {Stage.DISQUALIFIED}
SAMPLE = 5  # leads named under "the draft adds / leaves out"


@dataclass
class Side:
    """One model's replay: the leads it would have made MQL, and when."""

    model: ScoringModel | None
    crossings: dict[int, datetime] = field(default_factory=dict)  # lead id → instant
    sql: set[int] = field(default_factory=set)

    @property
    def mqls(self) -> int:
        return len(self.crossings)

    @property
    def reached_sql(self) -> int:
        return len(self.sql)

    @property
    def rate(self) -> int | None:
        """Percentage of its MQLs that reached SQL (None without MQLs)."""
        return round(100 * self.reached_sql / self.mqls) if self.mqls else None


@dataclass
class WhatIf:
    days: int
    start: datetime
    end: datetime
    draft: Side
    active: Side
    leads_replayed: int
    seconds: float
    added: list[Lead] = field(default_factory=list)  # MQL with the draft only (sample)
    dropped: list[Lead] = field(default_factory=list)  # MQL with the active model only
    added_count: int = 0
    dropped_count: int = 0


def _positive(rules: ModelRules, event: EventData) -> bool:
    """Could this event raise the score? (It matches a rule that adds points.)"""
    return any(rule.points > 0 and behaviour_matches(rule, event) for rule in rules.behaviour_rules)


def _holds(rules: ModelRules, attrs, company, events: Sequence[EventData], at: datetime) -> bool:
    result = score_lead(rules, attrs, company, events, at)
    return qualifies(result.score, result.grade, rules.mql_threshold, rules.min_fit_grade)


def _could_qualify(rules: ModelRules, attrs, company, events, end: datetime) -> bool:
    """A cheap upper bound first: the fit grade never changes (attributes are today's),
    and no rule can add more than its cap, its points once (frequency) or its points
    for each matching event."""
    alone = score_lead(rules, attrs, company, (), end)
    if not qualifies(100, alone.grade, rules.mql_threshold, rules.min_fit_grade):
        return False
    best = alone.fit
    for rule in rules.behaviour_rules:
        if rule.points <= 0:
            continue
        count = sum(1 for e in events if behaviour_matches(rule, e))
        if count:
            gain = rule.points if rule.is_frequency else rule.points * count
            best += min(gain, rule.cap) if rule.cap is not None else gain
    return best >= rules.mql_threshold


def crossing(
    rules: ModelRules,
    attrs,
    company,
    events: Sequence[EventData],
    *,
    start: datetime,
    end: datetime,
    created_at: datetime,
) -> datetime | None:
    """The first instant in (start, end] at which the lead starts meeting ``rules``'
    MQL definition, or None. Pure: the lead's attributes and events are given.

    The lead exists from ``created_at`` or its first event if earlier (the events of
    a visitor it was before it gave its e-mail are its own)."""
    events = sorted(events, key=lambda e: e.occurred_at)
    if not _could_qualify(rules, attrs, company, events, end):
        return None
    appeared = min(created_at, events[0].occurred_at) if events else created_at
    instants = sorted(
        {e.occurred_at for e in events if start < e.occurred_at <= end and _positive(rules, e)}
        | ({appeared} if start < appeared <= end else set())
    )
    if not instants:
        return None
    if appeared > start:
        before = False
    else:
        before = _holds(rules, attrs, company, [e for e in events if e.occurred_at <= start], start)
    earlier = seen = 0  # events[:earlier] happened before the instant, [:seen] until it
    for at in instants:
        while earlier < len(events) and events[earlier].occurred_at < at:
            earlier += 1
        seen = max(seen, earlier)
        while seen < len(events) and events[seen].occurred_at <= at:
            seen += 1
        if before:
            # Qualified at the previous instant: did it fall under since (decay, windows)?
            before = _holds(rules, attrs, company, events[:earlier], at)
        now_holds = _holds(rules, attrs, company, events[:seen], at)
        if now_holds and not before:
            return at
        before = now_holds
    return None


def _candidates(organization: Organization, rules: Sequence[ModelRules], start: datetime) -> list:
    """Leads whose score could have risen in the period: an event of a type some rule
    reads, or created during the period. Their rows (attributes, created_at)."""
    org_id = organization.pk
    types = sorted({t for r in rules for t in r.event_types})
    active_ids = set(
        Event.objects.for_org(org_id)
        .filter(occurred_at__gt=start, type__in=types, lead_id__isnull=False)
        .order_by()
        .values_list("lead_id", flat=True)
        .distinct()
    )
    leads = Lead.objects.for_org(org_id)
    new_ids = set(leads.filter(created_at__gt=start).values_list("pk", flat=True))
    ids = sorted(active_ids | new_ids)
    rows = []
    for i in range(0, len(ids), BATCH):
        rows += list(
            leads.filter(pk__in=ids[i : i + BATCH])
            .order_by("pk")
            .values(*LEAD_VALUES, "created_at")
        )
    return rows


def _replay(
    organization, every: Sequence[ModelRules], rows, start, end
) -> list[dict[int, datetime]]:
    """Each model's crossings; the events of a batch are loaded once for all models."""
    found: list[dict[int, datetime]] = [{} for _rules in every]
    union = replace(every[0], behaviour_rules=tuple(r for m in every for r in m.behaviour_rules))
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        events = load_events(organization.pk, union, [row["id"] for row in batch], until=end)
        for row in batch:
            attrs, company = lead_attrs(row), company_attrs(row)
            for rules, crossings in zip(every, found, strict=True):
                at = crossing(
                    rules,
                    attrs,
                    company,
                    events[row["id"]],
                    start=start,
                    end=end,
                    created_at=row["created_at"],
                )
                if at is not None:
                    crossings[row["id"]] = at
    return found


def _apply_history(organization, sides: Sequence[Side]) -> None:
    """Drop crossings of leads already closed at that moment; note who reached SQL."""
    ids = sorted({lead_id for side in sides for lead_id in side.crossings})
    history: dict[int, list[tuple[datetime, str]]] = {}
    for i in range(0, len(ids), BATCH):
        rows = (
            LifecycleTransition.objects.for_org(organization)
            .filter(lead_id__in=ids[i : i + BATCH])
            .order_by("at", "pk")
            .values_list("lead_id", "at", "to_stage")
        )
        for lead_id, at, stage in rows:
            history.setdefault(lead_id, []).append((at, stage))
    for side in sides:
        for lead_id, at in list(side.crossings.items()):
            steps = history.get(lead_id, [])
            stage_then = next((s for t, s in reversed(steps) if t < at), None)
            if stage_then in CLOSED:
                del side.crossings[lead_id]
            elif any(t >= at and s in REACHED_SQL for t, s in steps):
                side.sql.add(lead_id)


def simulate(
    *,
    organization: Organization,
    draft: ScoringModel,
    active: ScoringModel | None,
    days: int,
    now: datetime | None = None,
) -> WhatIf:
    """Replay ``draft`` and ``active`` over the last ``days`` days (reads only)."""
    started = time.monotonic()
    end = now or timezone.now()
    start = end - timedelta(days=days)
    draft_rules = compile_model(draft)
    active_rules = compile_model(active) if active is not None else None
    every = [draft_rules] + ([active_rules] if active_rules else [])
    rows = _candidates(organization, every, start)
    crossings = _replay(organization, every, rows, start, end)
    draft_side = Side(model=draft, crossings=crossings[0])
    active_side = Side(model=active, crossings=crossings[1] if active_rules else {})
    _apply_history(organization, [draft_side, active_side])
    added = sorted(set(draft_side.crossings) - set(active_side.crossings))
    dropped = sorted(set(active_side.crossings) - set(draft_side.crossings))
    named = {
        lead.pk: lead
        for lead in Lead.objects.for_org(organization).filter(
            pk__in=added[:SAMPLE] + dropped[:SAMPLE]
        )
    }
    return WhatIf(
        days=days,
        start=start,
        end=end,
        draft=draft_side,
        active=active_side,
        leads_replayed=len(rows),
        seconds=round(time.monotonic() - started, 2),
        added=[named[i] for i in added[:SAMPLE] if i in named],
        dropped=[named[i] for i in dropped[:SAMPLE] if i in named],
        added_count=len(added),
        dropped_count=len(dropped),
    )
