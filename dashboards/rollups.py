"""Additive KPIs: read from the daily rollups for closed days, live for the rest.

A period made of whole local days (org time zone) is split at the end of the last day
whose rollups are built (``RollupState.built_through``): those days are one ``SUM``
over ``DailyKpi`` rows, the rest (today, or days not built yet) comes from the live
rows with the same definitions. A period with other edges is entirely live.

Rollup metrics (one row per local day, metric and segment key):

- ``new_leads`` (leads created);
- ``enter:<stage>`` for mql, sal, sql, customer: distinct leads entering the stage that
  day; ``reenter:<stage>``: of those, the leads whose previous entry to the stage was on
  ``prev_day``. A period counts each lead once per stage: the sum of the day's entries
  minus the re-entries whose previous entry is inside the period;
- ``accepted``, ``rejected``, ``reject:<reason>`` (sales decisions);
- ``deals_created`` (count and amount), ``deals_won`` (by ``closed_at``), and
  ``marketing_won``: won deals whose lead had a marketing touch (an event other than
  an unsubscription) before the deal was created.

- ``speed_sample``: one row per lead whose first sales touch is that day (after becoming
  MQL): ``count`` holds the MQL → touch span in microseconds (not summed: the median is
  taken over the samples).

Each fact is written twice: under its segment key, and under the organization's total
key (``source = "*"``), so that the unsegmented read (the dashboard's default, the TV,
the meeting pack) sums a few rows per day.

Building a range of days replaces its rows under a row lock on the organization's
``RollupState``: running it twice, or twice at once, gives the same rows.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from leads.models import Deal, Decision, Event, Lead, LifecycleTransition, Stage
from smarketing.tenancy.models import Organization

from .kpis import ALL_LEADS, NOT_A_TOUCH, Period, Segment, local_midnight, local_today
from .models import DailyKpi, RollupState

log = logging.getLogger(__name__)

ENTRY_STAGES = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.CUSTOMER)
TOTAL = "*"  # the source of the organization's total rows
TOTAL_DIMS = (TOTAL, None, None, "")
SAMPLE = "speed_sample"
# Rollups written by another layout of these rows are not read (and are rebuilt).
VERSION = 2
CHUNK_DAYS = 31
# Closed days rebuilt every night: late events and edited deals reach the rollups.
NIGHTLY_DAYS = 35


@dataclass
class Counts:
    """Metric → (count, amount), rollup part and live part added up."""

    values: dict[str, list] = field(default_factory=lambda: defaultdict(lambda: [0, Decimal(0)]))

    def add(self, metric: str, count: int, amount: Decimal | int | None = 0) -> None:
        row = self.values[metric]
        row[0] += count or 0
        row[1] += Decimal(amount or 0)

    def count(self, metric: str) -> int:
        return self.values[metric][0] if metric in self.values else 0

    def amount(self, metric: str) -> Decimal:
        return self.values[metric][1] if metric in self.values else Decimal(0)

    def distinct_entries(self, stage: str) -> int:
        return self.count(f"enter:{stage}") - self.count(f"reenter:{stage}")

    def rejection_reasons(self) -> dict[str, int]:
        return {
            metric.removeprefix("reject:"): row[0]
            for metric, row in self.values.items()
            if metric.startswith("reject:")
        }


def built_through(organization: Organization) -> date | None:
    """The last local day read from the rollups: ``None`` if they were built in another
    layout or time zone, and never past the day before the first changed day
    (``dirty_from``)."""
    row = (
        RollupState.objects.for_org(organization)
        .values_list("built_through", "dirty_from", "version", "time_zone")
        .first()
    )
    if row is None:
        return None
    through, dirty_from, version, time_zone = row
    if through is None or version != VERSION or time_zone != str(organization.zone):
        return None
    if dirty_from is not None:
        through = min(through, dirty_from - timedelta(days=1))
    return through


# --- Changes to past days -----------------------------------------------------------


def mark_dirty(organization: Organization, moment: datetime | date | None) -> None:
    """A row of ``moment``'s local day changed (written with a past timestamp, edited
    or deleted): once the transaction commits, that day and the later ones are read
    live until ``refresh`` rebuilds them. Today's changes cost nothing (today is always
    live). One ``UPDATE`` per transaction and organization, however many rows."""
    if moment is None or organization is None:
        return
    tz = organization.zone
    day = moment.astimezone(tz).date() if isinstance(moment, datetime) else moment
    if day >= timezone.now().astimezone(tz).date():
        return
    org_id = organization.pk
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _mark_now(org_id, day)
        return
    for entry in connection.run_on_commit:
        pending = getattr(entry[1], "dirty_days", None)
        if pending is not None and not entry[1].done:  # this transaction's callback
            pending[org_id] = min(pending.get(org_id, day), day)
            return
    pending = {org_id: day}

    def apply() -> None:
        apply.done = True
        for pk, first in pending.items():
            _mark_now(pk, first)

    apply.dirty_days = pending
    apply.done = False
    transaction.on_commit(apply)


def _mark_now(organization_id: int, day: date) -> None:
    from smarketing.tenancy.db import tenant_context

    try:
        with tenant_context(organization_id):
            # No condition on ``built_through``: a build running now holds the row
            # lock; this waits for it and then marks the day (the build may not have
            # seen the change).
            RollupState.objects.for_org(Organization(pk=organization_id)).filter(
                built_through__isnull=False
            ).update(dirty_from=Least(Coalesce("dirty_from", Value(day)), Value(day)))
    except Exception:  # after the commit: the change is written, only slower to show
        log.exception("Marking the KPI rollups of organization %s dirty failed", organization_id)


def rollup_days(organization: Organization, period: Period) -> tuple[date, date] | None:
    """The days of the period read from rollups, or None."""
    if not period.is_whole_days:
        return None
    tz = organization.zone
    if period.start != local_midnight(period.start.astimezone(tz).date(), tz) or (
        period.end != local_midnight(period.end.astimezone(tz).date(), tz)
    ):
        return None  # whole days of another time zone: the rollups' days do not fit
    through = built_through(organization)
    if through is None or through < period.first_day:
        return None
    return period.first_day, min(through, period.last_day)


_UNSET = object()


def additive(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS, *, days=_UNSET
) -> Counts:
    """``days``: the rollup days of the period if the caller already asked
    (``rollup_days``), to save the look-up."""
    counts = Counts()
    if days is _UNSET:
        days = rollup_days(organization, period)
    live_from = period.start
    if days is not None:
        first, last = days
        _read_rollups(organization, first, last, segment, counts)
        live_from = local_midnight(last + timedelta(days=1), organization.zone)
    if live_from < period.end:
        live(organization, live_from, period.end, segment, counts, period_start=period.start)
    return counts


def _segment_rows(organization: Organization, first: date, last: date, segment: Segment):
    rows = DailyKpi.objects.for_org(organization).filter(day__gte=first, day__lte=last)
    if segment.is_all:
        return rows.filter(source=TOTAL)
    q = ~Q(source=TOTAL)
    if segment.source:
        q &= Q(source=segment.source)
    if segment.campaign_id:
        q &= Q(campaign_id=segment.campaign_id)
    if segment.owner_id:
        q &= Q(owner_id=segment.owner_id)
    if segment.grade:
        q &= Q(grade=segment.grade)
    return rows.filter(q)


def _read_rollups(
    organization: Organization, first: date, last: date, segment: Segment, counts: Counts
) -> None:
    rows = (
        _segment_rows(organization, first, last, segment)
        .filter(Q(prev_day__isnull=True) | Q(prev_day__gte=first))
        .exclude(metric=SAMPLE)
        .order_by()
        .values("metric")
        .annotate(n=Sum("count"), total=Sum("amount"))
    )
    for row in rows:
        # Re-entries whose previous entry is in the period are subtracted from entries
        # (``Counts.distinct_entries``).
        counts.add(row["metric"], row["n"], row["total"])


def speed_samples(
    organization: Organization, period: Period, segment: Segment, *, days=_UNSET
) -> list[int]:
    """MQL → first touch spans (microseconds) of the period: closed days from the
    rollups' samples, the rest live."""
    from .kpis import speed_samples as live_samples

    if days is _UNSET:
        days = rollup_days(organization, period)
    live_from = period.start
    out: list[int] = []
    if days is not None:
        first, last = days
        out += list(
            _segment_rows(organization, first, last, segment)
            .filter(metric=SAMPLE)
            .values_list("count", flat=True)
        )
        live_from = local_midnight(last + timedelta(days=1), organization.zone)
    if live_from < period.end:
        out += [
            micros for _at, micros in live_samples(organization, live_from, period.end, segment)
        ]
    return out


def _touched_before_deal(organization: Organization):
    return (
        Event.objects.for_org(organization)
        .filter(
            lead_id=OuterRef("lead_id"),
            occurred_at__lt=OuterRef("created_at"),
        )
        .exclude(type__in=NOT_A_TOUCH)
    )


def live(
    organization: Organization,
    start: datetime,
    end: datetime,
    segment: Segment,
    counts: Counts,
    *,
    period_start: datetime | None = None,
) -> Counts:
    """The additive KPIs of ``[start, end)`` from the rows (five queries). Stage entries
    skip leads that already entered the stage in ``[period_start, start)``."""
    org = organization
    counts.add(
        "new_leads",
        Lead.objects.for_org(org)
        .filter(segment.lead_q(), created_at__gte=start, created_at__lt=end)
        .count(),
    )
    entries = LifecycleTransition.objects.for_org(org).filter(
        segment.lead_q("lead__"), to_stage__in=ENTRY_STAGES, at__gte=start, at__lt=end
    )
    if period_start is not None and period_start < start:
        earlier = LifecycleTransition.objects.for_org(org).filter(
            lead_id=OuterRef("lead_id"),
            to_stage=OuterRef("to_stage"),
            at__gte=period_start,
            at__lt=start,
        )
        entries = entries.exclude(Exists(earlier))
    for row in entries.order_by().values("to_stage").annotate(n=Count("lead_id", distinct=True)):
        counts.add(f"enter:{row['to_stage']}", row["n"])
    decisions = Decision.objects.for_org(org).filter(
        segment.lead_q("lead__"), at__gte=start, at__lt=end
    )
    for row in decisions.order_by().values("kind", "reason").annotate(n=Count("pk")):
        if row["kind"] == Decision.Kind.ACCEPT:
            counts.add("accepted", row["n"])
        else:
            counts.add("rejected", row["n"])
            counts.add(f"reject:{row['reason']}", row["n"])
    created = (
        Deal.objects.for_org(org)
        .filter(segment.lead_q("lead__"), created_at__gte=start, created_at__lt=end)
        .aggregate(n=Count("pk"), total=Sum("amount"))
    )
    counts.add("deals_created", created["n"], created["total"])
    won = (
        Deal.objects.for_org(org)
        .filter(
            segment.lead_q("lead__"),
            status=Deal.Status.WON,
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .annotate(marketing=Exists(_touched_before_deal(org)))
        .aggregate(
            n=Count("pk"),
            total=Sum("amount"),
            m=Count("pk", filter=Q(marketing=True)),
            m_total=Sum("amount", filter=Q(marketing=True)),
        )
    )
    counts.add("deals_won", won["n"], won["total"])
    counts.add("marketing_won", won["m"], won["m_total"])
    return counts


# --- Building -----------------------------------------------------------------------


def build_days(organization: Organization, first: date, last: date) -> int:
    """Replace the rollup rows of the local days ``first`` … ``last``; return how many
    rows were written."""
    written = 0
    day = first
    while day <= last:
        chunk_last = min(last, day + timedelta(days=CHUNK_DAYS - 1))
        written += _build_chunk(organization, day, chunk_last)
        day = chunk_last + timedelta(days=1)
    return written


def _dims(source, campaign_id, owner_id, grade) -> tuple:
    return (source or "", campaign_id, owner_id, grade or "")


@transaction.atomic
def _build_chunk(organization: Organization, first: date, last: date) -> int:
    org = organization
    _lock_state(org)
    tz = org.zone
    start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    facts: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])

    def day_of(moment: datetime) -> date:
        return moment.astimezone(tz).date()

    for created_at, *dims in (
        Lead.objects.for_org(org)
        .filter(created_at__gte=start, created_at__lt=end)
        .values_list("created_at", "source", "campaign_id", "owner_id", "grade")
    ):
        facts[(day_of(created_at), "new_leads", _dims(*dims), None)][0] += 1

    lead_dims = ("lead__source", "lead__campaign_id", "lead__owner_id", "lead__grade")
    transitions = (
        LifecycleTransition.objects.for_org(org)
        .filter(to_stage__in=ENTRY_STAGES, at__gte=start, at__lt=end)
        .order_by("at", "pk")
        .values_list("lead_id", "to_stage", "at", *lead_dims)
    )
    # The day of each lead's latest entry to each stage before this range.
    last_entry: dict[tuple, date] = {
        (row["lead_id"], row["to_stage"]): day_of(row["last"])
        for row in LifecycleTransition.objects.for_org(org)
        .filter(
            to_stage__in=ENTRY_STAGES,
            at__lt=start,
            lead_id__in=LifecycleTransition.objects.for_org(org)
            .filter(to_stage__in=ENTRY_STAGES, at__gte=start, at__lt=end)
            .values("lead_id"),
        )
        .order_by()
        .values("lead_id", "to_stage")
        .annotate(last=Max("at"))
    }
    for lead_id, stage, at, *dims in transitions:
        day = day_of(at)
        previous = last_entry.get((lead_id, stage))
        if previous == day:
            continue  # the same lead entered the same stage twice that day: once
        key_dims = _dims(*dims)
        facts[(day, f"enter:{stage}", key_dims, None)][0] += 1
        if previous is not None:
            facts[(day, f"reenter:{stage}", key_dims, previous)][0] += 1
        last_entry[(lead_id, stage)] = day

    for kind, reason, at, *dims in (
        Decision.objects.for_org(org)
        .filter(at__gte=start, at__lt=end)
        .values_list("kind", "reason", "at", *lead_dims)
    ):
        key_dims = _dims(*dims)
        if kind == Decision.Kind.ACCEPT:
            facts[(day_of(at), "accepted", key_dims, None)][0] += 1
        else:
            facts[(day_of(at), "rejected", key_dims, None)][0] += 1
            facts[(day_of(at), f"reject:{reason}", key_dims, None)][0] += 1

    for created_at, amount, *dims in (
        Deal.objects.for_org(org)
        .filter(created_at__gte=start, created_at__lt=end)
        .values_list("created_at", "amount", *lead_dims)
    ):
        row = facts[(day_of(created_at), "deals_created", _dims(*dims), None)]
        row[0] += 1
        row[1] += amount

    for closed_at, amount, marketing, *dims in (
        Deal.objects.for_org(org)
        .filter(status=Deal.Status.WON, closed_at__gte=start, closed_at__lt=end)
        .annotate(marketing=Exists(_touched_before_deal(org)))
        .values_list("closed_at", "amount", "marketing", *lead_dims)
    ):
        key_dims = _dims(*dims)
        for metric in ("deals_won", "marketing_won") if marketing else ("deals_won",):
            row = facts[(day_of(closed_at), metric, key_dims, None)]
            row[0] += 1
            row[1] += amount

    from .kpis import speed_samples as live_samples

    samples = [
        (day_of(touch_at), micros, _dims(*dims))
        for touch_at, micros, dims in live_samples(org, start, end, ALL_LEADS, with_dims=True)
    ]
    # The organization's totals: every fact again under the total key.
    for (day, metric, _key_dims, prev_day), (n, total) in list(facts.items()):
        row = facts[(day, metric, TOTAL_DIMS, prev_day)]
        row[0] += n
        row[1] += total

    DailyKpi.objects.for_org(org).filter(day__gte=first, day__lte=last).delete()
    sample_rows = [
        DailyKpi(
            organization_id=org.pk,
            day=day,
            metric=SAMPLE,
            source=source,
            campaign_id=campaign_id,
            owner_id=owner_id,
            grade=grade,
            count=micros,
        )
        for day, micros, key_dims in samples
        for (source, campaign_id, owner_id, grade) in (key_dims, TOTAL_DIMS)
    ]
    DailyKpi.objects.bulk_create(sample_rows, batch_size=2000)
    DailyKpi.objects.bulk_create(
        [
            DailyKpi(
                organization_id=org.pk,
                day=day,
                metric=metric,
                source=source,
                campaign_id=campaign_id,
                owner_id=owner_id,
                grade=grade,
                prev_day=prev_day,
                count=n,
                amount=total,
            )
            for (day, metric, (source, campaign_id, owner_id, grade), prev_day), (
                n,
                total,
            ) in facts.items()
        ],
        batch_size=2000,
    )
    return len(facts) + len(sample_rows)


def _lock_state(organization: Organization) -> RollupState:
    state, _created = RollupState.objects.for_org(organization).get_or_create(
        organization_id=organization.pk
    )
    return RollupState.objects.for_org(organization).select_for_update().get(pk=state.pk)


def _history_start(organization: Organization) -> date | None:
    firsts = [
        Lead.objects.for_org(organization).order_by().aggregate(m=Min("created_at"))["m"],
        LifecycleTransition.objects.for_org(organization).order_by().aggregate(m=Min("at"))["m"],
        Decision.objects.for_org(organization).order_by().aggregate(m=Min("at"))["m"],
        Deal.objects.for_org(organization).order_by().aggregate(m=Min("created_at"))["m"],
    ]
    firsts = [moment for moment in firsts if moment is not None]
    if not firsts:
        return None
    return min(firsts).astimezone(organization.zone).date()


@transaction.atomic
def refresh(
    organization: Organization, *, now: datetime | None = None, full: bool = False, days: int = 0
) -> tuple[date, date] | None:
    """Bring the organization's rollups up to yesterday (local). ``full`` rebuilds the
    whole history; ``days`` also rebuilds that many closed days up to yesterday
    (nightly: late events, edited deals); otherwise only the days not built yet.
    Returns the days built, or None."""
    yesterday = local_today(organization, now=now) - timedelta(days=1)
    state = _lock_state(organization)
    time_zone = str(organization.zone)
    through = state.built_through
    if state.version != VERSION or state.time_zone != time_zone:
        through = None  # another layout, or days cut in another time zone: rebuild
    if through is not None and through > yesterday:
        through = None  # the clock went back (tests, restored backups): rebuild
    if full or through is None:
        first = _history_start(organization) or yesterday
    else:
        first = through + timedelta(days=1)
        if days:
            first = min(first, yesterday - timedelta(days=days - 1))
        if state.dirty_from is not None:
            first = min(first, state.dirty_from)
    moment = now or timezone.now()
    if first > yesterday and through == yesterday and state.dirty_from is None:
        return None  # up to date: no write every five minutes
    built = None
    if first <= yesterday:
        build_days(organization, first, yesterday)
        built = (first, yesterday)
    # Under the row lock: a change marked meanwhile waits for this commit, then marks
    # its day again, so clearing ``dirty_from`` here loses nothing.
    RollupState.objects.for_org(organization).filter(pk=state.pk).update(
        built_through=yesterday,
        built_at=moment,
        version=VERSION,
        time_zone=time_zone,
        dirty_from=None,
        **({"full_at": moment} if full or through is None else {}),
    )
    return built
