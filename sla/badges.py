"""The SLA countdown on the leads pages ("1 h 12 min left", amber once warned, red once
breached), registered in leads/extensions.py from ``SlaConfig.ready``.

The server renders each badge with what the browser needs to keep it ticking without
asking again (static/sla/countdown.js): the due and warning instants, and for a
business-hours clock the working minutes left at render time and the instant the
current working span closes (the countdown pauses there until the next opening; the
badge then refreshes itself through htmx). Times left are in the clock's own time:
working minutes for business-hours commitments (``sla.calendar``), else wall-clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.template.loader import render_to_string
from django.utils import timezone

from leads.extensions import register_lead_badges

from . import calendar as cal
from . import selectors
from .models import Clock

TEMPLATE = "sla/_countdown.html"
OPEN = (Clock.Status.RUNNING, Clock.Status.WARNED)
STYLES = ["sla/sla.css"]
SCRIPTS = ["sla/countdown.js"]


@dataclass
class Countdown:
    """One clock as its badge shows it."""

    clock: Clock
    state: str  # running | warned | overdue | breached | met | late
    business: bool
    minutes_left: float | None  # open clocks: working (or wall) minutes to the due time
    minutes_over: float | None  # breached: wall minutes since the due time
    minutes_taken: float | None  # touched: minutes from start to touch (clock's time)
    paused: bool  # a business clock outside working hours
    pause_at: datetime | None  # when the current working span closes
    now: datetime

    @property
    def lead_id(self) -> int:
        return self.clock.lead_id


def countdown(clock: Clock, *, now: datetime, spec: cal.CalendarSpec | None) -> Countdown:
    business = bool(clock.commitment.business_time) and spec is not None
    used = spec if business else None
    left = over = taken = None
    paused = False
    pause_at = None
    if clock.touched_at is not None:
        taken = cal.working_minutes_between(used, clock.started_at, clock.touched_at)
    if clock.status in (Clock.Status.RUNNING, Clock.Status.WARNED):
        if now >= clock.due_at:
            state, over = "overdue", (now - clock.due_at).total_seconds() / 60
        else:
            left = cal.working_minutes_between(used, now, clock.due_at)
            state = (
                "warned"
                if clock.status == Clock.Status.WARNED or now >= clock.warn_at
                else "running"
            )
            if business:
                pause_at = cal.current_interval_end(spec, now)
                paused = pause_at is None
    elif clock.status == Clock.Status.BREACHED:
        state = "late" if clock.touched_at else "breached"
        over = ((clock.touched_at or now) - clock.due_at).total_seconds() / 60
    else:
        state = "met"
    return Countdown(
        clock=clock,
        state=state,
        business=business,
        minutes_left=left,
        minutes_over=over,
        minutes_taken=taken,
        paused=paused,
        pause_at=pause_at,
        now=now,
    )


def most_urgent_clocks(organization: Any, lead_ids: Sequence[int]) -> dict[int, Clock]:
    """``{lead_id: clock}`` in ONE query: the lead's open clock due soonest, else its
    latest breach nobody answered yet (an old breach must not hide a running clock)."""
    if not lead_ids:
        return {}
    is_open = Q(status__in=OPEN)
    ranked = (
        Clock.objects.for_org(organization)
        .filter(lead_id__in=list(lead_ids))
        .filter(is_open | Q(status=Clock.Status.BREACHED, touched_at=None))
        .select_related("commitment")
        .annotate(
            urgency=Window(
                RowNumber(),
                partition_by=[F("lead_id")],
                order_by=[
                    Case(When(is_open, then=Value(0)), default=Value(1)).asc(),
                    Case(When(is_open, then=F("due_at"))).asc(nulls_last=True),
                    F("due_at").desc(),
                    F("pk").desc(),
                ],
            )
        )
        .filter(urgency=1)
    )
    return {clock.lead_id: clock for clock in ranked}


def _most_urgent_of(clocks: Sequence[Clock]) -> Clock | None:
    """The same choice as ``most_urgent_clocks``, in Python, for one lead's clocks."""
    open_ = [c for c in clocks if c.status in OPEN]
    if open_:
        return min(open_, key=lambda c: (c.due_at, c.pk))
    unanswered = [c for c in clocks if c.status == Clock.Status.BREACHED and not c.touched_at]
    return max(unanswered, key=lambda c: (c.due_at, c.pk)) if unanswered else None


def _needs_calendar(clocks: Sequence[Clock]) -> bool:
    return any(c.commitment.business_time for c in clocks)


def countdowns(
    organization: Any,
    leads: Sequence[Any],
    *,
    now: datetime | None = None,
    single: bool = False,
):
    """``{lead_id: Countdown}``: each lead's most urgent clock (an open one, or a breach
    nobody answered yet); on the lead's own page (``single=True``, said by the caller:
    a list may hold one lead) the latest clock otherwise. Two queries at most (the
    clocks; the calendar when a clock counts business hours)."""
    now = now or timezone.now()
    ids = [lead.pk for lead in leads]
    if single and len(ids) == 1:
        # The lead page: its clocks in one query; the most urgent, else the latest.
        mine = selectors.lead_clocks(organization, ids[0])
        pick = _most_urgent_of(mine) or (mine[0] if mine else None)
        found = {pick.lead_id: pick} if pick else {}
    else:
        found = most_urgent_clocks(organization, ids)
    if not found:
        return {}
    spec = selectors.calendar_spec(organization) if _needs_calendar(list(found.values())) else None
    return {lead_id: countdown(clock, now=now, spec=spec) for lead_id, clock in found.items()}


def clock_badges(organization: Any, clocks: Sequence[Clock], *, now: datetime | None = None):
    """``[(clock, html)]``: given clocks as countdown badges (the SLA pages' lists)."""
    now = now or timezone.now()
    spec = selectors.calendar_spec(organization) if _needs_calendar(clocks) else None
    return [
        (
            clock,
            render_to_string(
                TEMPLATE,
                {"cd": countdown(clock, now=now, spec=spec), "organization": organization},
            ),
        )
        for clock in clocks
    ]


def lead_badges(organization: Any, leads: Sequence[Any], *, single: bool = False) -> dict[int, str]:
    """The provider registered in leads/extensions.py (``SafeString`` values)."""
    context = {"organization": organization, "single": single}
    return {
        lead_id: render_to_string(TEMPLATE, {**context, "cd": item})
        for lead_id, item in countdowns(organization, leads, single=single).items()
    }


register_lead_badges(lead_badges, styles=STYLES, scripts=SCRIPTS)
