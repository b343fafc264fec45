"""Reads of the sla app: the contract in force, clocks, compliance and pacing.

Compliance (SPEC.md §3) for a period = met / (met + breached) over the clocks whose due
time falls in the period (half-open ``[start, end)``); speed to lead = the median
minutes from a clock's start to the lead's touch, over the same clocks that were
touched. Pacing of a marketing commitment = actual so far vs target × elapsed share of
the period; ``on_track`` within 10 % of that, else ``ahead`` or ``behind``.

Every id from a user goes through ``get_*_for_org`` (404 for another organization's).
"""

from __future__ import annotations

import statistics
import zoneinfo
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Prefetch,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from smarketing.tenancy.models import Organization
from smarketing.tenancy.selectors import get_object_for_org

from .models import (
    BusinessCalendar,
    Clock,
    Contract,
    ContractVersion,
    Holiday,
    MarketingCommitment,
    Metric,
    Period,
    SalesCommitment,
)

OPEN = (Clock.Status.RUNNING, Clock.Status.WARNED)
# Pacing: within this share of the expected count is "on track".
ON_TRACK_TOLERANCE = 0.10


# --- the contract -------------------------------------------------------------------


def contract_for(organization: Organization) -> Contract | None:
    return Contract.objects.for_org(organization).first()


def _with_commitments(qs: QuerySet[ContractVersion]) -> QuerySet[ContractVersion]:
    return qs.select_related(
        "marketing_signed_by", "sales_signed_by", "created_by"
    ).prefetch_related(
        Prefetch(
            "marketing_commitments",
            queryset=MarketingCommitment.unscoped.order_by("position", "id"),
        ),
        Prefetch("sales_commitments", queryset=SalesCommitment.unscoped.order_by("position", "id")),
    )


def active_version(organization: Organization) -> ContractVersion | None:
    """The version in force, with its marketing and sales commitments prefetched."""
    return (
        _with_commitments(ContractVersion.objects.for_org(organization))
        .filter(status=ContractVersion.Status.ACTIVE)
        .first()
    )


def draft_version(organization: Organization) -> ContractVersion | None:
    return (
        _with_commitments(ContractVersion.objects.for_org(organization))
        .filter(status=ContractVersion.Status.DRAFT)
        .first()
    )


def versions(organization: Organization) -> QuerySet[ContractVersion]:
    """The contract's history, newest first (signatures selected)."""
    return (
        ContractVersion.objects.for_org(organization)
        .select_related("marketing_signed_by", "sales_signed_by", "created_by")
        .order_by("-number")
    )


def get_version_for_org(organization: Organization, version_id) -> ContractVersion:
    return get_object_for_org(
        ContractVersion,
        organization,
        pk=version_id,
    )


def get_version_with_commitments_for_org(organization: Organization, version_id) -> ContractVersion:
    from django.http import Http404

    try:
        return _with_commitments(ContractVersion.objects.for_org(organization)).get(
            pk=int(version_id)
        )
    except (ContractVersion.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def get_marketing_commitment_for_org(organization: Organization, commitment_id):
    return get_object_for_org(MarketingCommitment, organization, pk=commitment_id)


def get_sales_commitment_for_org(organization: Organization, commitment_id):
    return get_object_for_org(SalesCommitment, organization, pk=commitment_id)


def get_clock_for_org(organization: Organization, clock_id) -> Clock:
    return get_object_for_org(Clock, organization, pk=clock_id)


def active_sales_commitments(
    organization: Organization, *, trigger: str | None = None
) -> list[SalesCommitment]:
    qs = SalesCommitment.objects.for_org(organization).filter(
        version__status=ContractVersion.Status.ACTIVE
    )
    if trigger:
        qs = qs.filter(trigger=trigger)
    return list(qs.order_by("position", "id"))


def sales_commitments(organization: Organization) -> QuerySet[SalesCommitment]:
    """Every sales commitment of every version (compliance filters), newest version first."""
    return (
        SalesCommitment.objects.for_org(organization)
        .select_related("version")
        .order_by("-version__number", "position", "id")
    )


# --- the calendar -------------------------------------------------------------------


def calendar_for(organization: Organization) -> BusinessCalendar | None:
    return BusinessCalendar.objects.for_org(organization).first()


def holidays(organization: Organization, calendar: BusinessCalendar | None = None):
    calendar = calendar or calendar_for(organization)
    if calendar is None:
        return Holiday.objects.for_org(organization).none()
    return Holiday.objects.for_org(organization).filter(calendar=calendar).order_by("day")


def calendar_spec(organization: Organization):
    """The organization's calendar as the pure value ``sla.calendar`` computes with
    (the default Monday–Friday 9:00–18:00 in the organization's zone when none is saved)."""
    from . import calendar as cal

    found = calendar_for(organization)
    if found is None:
        return cal.CalendarSpec.from_hours(
            organization.time_zone or "Europe/Paris", cal.DEFAULT_WEEKLY_HOURS, ()
        )
    days = (
        Holiday.objects.for_org(organization).filter(calendar=found).values_list("day", flat=True)
    )
    return cal.CalendarSpec.from_hours(found.time_zone, found.weekly_hours, days)


# --- clocks -------------------------------------------------------------------------


def _clocks(organization: Organization) -> QuerySet[Clock]:
    return Clock.objects.for_org(organization).select_related("lead", "owner", "commitment")


def clocks(
    organization: Organization, *, status: str | None = None, owner_id: int | None = None
) -> QuerySet[Clock]:
    qs = _clocks(organization)
    if status:
        qs = qs.filter(status=status)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    return qs


def at_risk_clocks(organization: Organization, *, now: datetime | None = None, limit: int = 10):
    """Open clocks, soonest due first (the ones about to breach)."""
    return list(_clocks(organization).filter(status__in=OPEN).order_by("due_at", "pk")[:limit])


def breached_clocks(organization: Organization, *, start: datetime, end: datetime, limit: int = 10):
    """Breached clocks due in ``[start, end)``, latest first."""
    return list(
        _clocks(organization)
        .filter(status=Clock.Status.BREACHED, due_at__gte=start, due_at__lt=end)
        .order_by("-due_at", "-pk")[:limit]
    )


def clocks_for_leads(organization: Organization, lead_ids) -> dict[int, Clock]:
    """``{lead_id: the lead's most urgent clock}`` for the queue's countdowns, in ONE
    query: an open clock, or a breached one nobody touched yet; earliest due first."""
    ids = [int(i) for i in lead_ids]
    if not ids:
        return {}
    ranked = (
        Clock.objects.for_org(organization)
        .filter(lead_id__in=ids)
        .filter(Q(status__in=OPEN) | Q(status=Clock.Status.BREACHED, touched_at=None))
        .select_related("commitment")
        .annotate(
            urgency=Window(
                RowNumber(), partition_by=[F("lead_id")], order_by=[F("due_at").asc(), F("pk")]
            )
        )
        .filter(urgency=1)
    )
    return {clock.lead_id: clock for clock in ranked}


def lead_clocks(organization: Organization, lead_id) -> list[Clock]:
    """All clocks of one lead, newest first (the lead page)."""
    return list(
        Clock.objects.for_org(organization)
        .filter(lead_id=lead_id)
        .select_related("commitment", "owner")
        .order_by("-started_at", "-pk")
    )


# --- compliance ---------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    met: int
    breached: int
    rate: float | None  # met / (met + breached), 0..1; None when nothing was due
    speed_to_lead_minutes: float | None  # median start → touch, over touched clocks

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def percent(self) -> float | None:
        return None if self.rate is None else round(self.rate * 100, 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EMPTY = Compliance(met=0, breached=0, rate=None, speed_to_lead_minutes=None)


def _due_in(
    organization: Organization,
    start: datetime,
    end: datetime,
    owner_id: int | None = None,
    commitment_id: int | None = None,
) -> QuerySet[Clock]:
    qs = Clock.objects.for_org(organization).filter(due_at__gte=start, due_at__lt=end)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    if commitment_id:
        qs = qs.filter(commitment_id=commitment_id)
    return qs


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median, in the same query as the counts."""

    function = "percentile_cont"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


_SPAN_SECONDS = Func(
    ExpressionWrapper(F("touched_at") - F("started_at"), output_field=DurationField()),
    template="EXTRACT(EPOCH FROM %(expressions)s)",
    output_field=FloatField(),
)


def _median_minutes(qs: QuerySet[Clock]) -> float | None:
    """Median start → touch minutes of the touched clocks (SQLite: in Python)."""
    spans = [
        (touched_at - started_at).total_seconds() / 60
        for started_at, touched_at in qs.filter(touched_at__isnull=False).values_list(
            "started_at", "touched_at"
        )
    ]
    return round(statistics.median(spans), 1) if spans else None


def _compliance_of(met: int, breached: int, speed: float | None) -> Compliance:
    total = met + breached
    return Compliance(
        met=met,
        breached=breached,
        rate=(met / total) if total else None,
        speed_to_lead_minutes=speed,
    )


def compliance(
    organization: Organization,
    *,
    start: datetime,
    end: datetime,
    owner_id: int | None = None,
    commitment_id: int | None = None,
) -> Compliance:
    qs = _due_in(organization, start, end, owner_id, commitment_id)
    aggregates = {
        "met": Count("pk", filter=Q(status=Clock.Status.MET)),
        "breached": Count("pk", filter=Q(status=Clock.Status.BREACHED)),
    }
    postgres = connections[qs.db].vendor == "postgresql"
    if postgres:  # one query
        aggregates["median"] = _Median(_SPAN_SECONDS, filter=Q(touched_at__isnull=False))
    counts = qs.aggregate(**aggregates)
    if postgres:
        median = counts["median"]
        speed = None if median is None else round(float(median) / 60, 1)
    else:
        speed = _median_minutes(qs)
    return _compliance_of(counts["met"] or 0, counts["breached"] or 0, speed)


def _grouped(qs: QuerySet[Clock], key: str) -> dict[Any, Compliance]:
    counts = {
        row[key]: (row["met"], row["breached"])
        for row in qs.order_by()
        .values(key)
        .annotate(
            met=Count("pk", filter=Q(status=Clock.Status.MET)),
            breached=Count("pk", filter=Q(status=Clock.Status.BREACHED)),
        )
    }
    spans: dict[Any, list[float]] = {}
    for group, started_at, touched_at in qs.filter(touched_at__isnull=False).values_list(
        key, "started_at", "touched_at"
    ):
        spans.setdefault(group, []).append((touched_at - started_at).total_seconds() / 60)
    result = {}
    for group, (met, breached) in counts.items():
        values = spans.get(group)
        speed = round(statistics.median(values), 1) if values else None
        result[group] = _compliance_of(met, breached, speed)
    return result


def compliance_by_owner(
    organization: Organization, *, start: datetime, end: datetime
) -> list[tuple[int | None, str, Compliance]]:
    """``[(owner_id, owner label, Compliance)]`` for every owner with clocks due in the
    period, worst rate first (no owner = "Unassigned")."""
    from django.contrib.auth import get_user_model
    from django.utils.translation import gettext as _

    grouped = _grouped(_due_in(organization, start, end), "owner_id")
    users = {
        user.pk: str(user)
        for user in get_user_model().objects.filter(pk__in=[k for k in grouped if k])
    }
    rows = [
        (owner_id, users.get(owner_id, "") if owner_id else _("Unassigned"), value)
        for owner_id, value in grouped.items()
    ]
    rows.sort(key=lambda row: (row[2].rate if row[2].rate is not None else 2, row[1]))
    return rows


def compliance_by_commitment(
    organization: Organization, *, start: datetime, end: datetime, owner_id: int | None = None
) -> list[tuple[SalesCommitment, Compliance]]:
    grouped = _grouped(_due_in(organization, start, end, owner_id), "commitment_id")
    commitments = SalesCommitment.objects.for_org(organization).filter(pk__in=list(grouped))
    by_id = {c.pk: c for c in commitments.select_related("version")}
    rows = [(by_id[pk], value) for pk, value in grouped.items() if pk in by_id]
    rows.sort(key=lambda row: (-row[0].version.number, row[0].position, row[0].pk))
    return rows


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    end: datetime
    compliance: Compliance


def _midnight(zone: zoneinfo.ZoneInfo, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def period_bounds(
    organization: Organization, period: str, at: datetime
) -> tuple[datetime, datetime]:
    """The week (Monday 00:00) or month containing ``at``, in the organization's zone."""
    zone = organization.zone
    local = at.astimezone(zone).date()
    if period == Period.WEEK:
        first = local - timedelta(days=local.weekday())
        return _midnight(zone, first), _midnight(zone, first + timedelta(days=7))
    first = local.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return _midnight(zone, first), _midnight(zone, following)


def compliance_series(
    organization: Organization,
    *,
    start: datetime,
    end: datetime,
    bucket: str = "week",
    owner_id: int | None = None,
    commitment_id: int | None = None,
) -> list[SeriesPoint]:
    """Compliance per week or month (organization's zone) over ``[start, end)``; the
    first and last buckets are clipped to the range."""
    if bucket not in ("week", "month"):
        raise ValueError("bucket must be 'week' or 'month'")
    zone = organization.zone
    qs = _due_in(organization, start, end, owner_id, commitment_id)
    bounds = []
    cursor = start
    while cursor < end:
        _, bucket_end = period_bounds(organization, bucket, cursor)
        bounds.append((cursor, min(bucket_end, end)))
        cursor = bucket_end
    if not bounds:
        return []
    counts: dict[int, list[int]] = {i: [0, 0] for i in range(len(bounds))}
    spans: dict[int, list[float]] = {}
    rows = qs.filter(status__in=[Clock.Status.MET, Clock.Status.BREACHED]).values_list(
        "due_at", "status", "started_at", "touched_at"
    )

    def index_of(moment: datetime) -> int:
        lo, hi = 0, len(bounds) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if bounds[mid][0] <= moment:
                lo = mid
            else:
                hi = mid - 1
        return lo

    for due_at, status, started_at, touched_at in rows.iterator(chunk_size=5000):
        i = index_of(due_at.astimezone(zone))
        counts[i][0 if status == Clock.Status.MET else 1] += 1
        if touched_at is not None:
            spans.setdefault(i, []).append((touched_at - started_at).total_seconds() / 60)
    points = []
    for i, (bucket_start, bucket_end) in enumerate(bounds):
        values = spans.get(i)
        speed = round(statistics.median(values), 1) if values else None
        points.append(
            SeriesPoint(bucket_start, bucket_end, _compliance_of(counts[i][0], counts[i][1], speed))
        )
    return points


# --- marketing pacing ---------------------------------------------------------------


@dataclass(frozen=True)
class Pacing:
    commitment: MarketingCommitment
    metric: str
    period: str
    period_start: datetime
    period_end: datetime
    target: int
    actual: int
    expected: float  # target × elapsed share of the period
    attainment: float | None  # actual / target
    status: str  # "ahead" | "on_track" | "behind"

    @property
    def elapsed_share(self) -> float:
        return self.expected / self.target if self.target else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "commitment_id": self.commitment.pk,
            "label": str(self.commitment),
            "metric": self.metric,
            "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "target": self.target,
            "actual": self.actual,
            "expected": round(self.expected, 2),
            "attainment": None if self.attainment is None else round(self.attainment, 4),
            "status": self.status,
        }


def pacing_status(actual: int, expected: float) -> str:
    if actual > expected * (1 + ON_TRACK_TOLERANCE):
        return "ahead"
    if actual < expected * (1 - ON_TRACK_TOLERANCE):
        return "behind"
    return "on_track"


def metric_count(
    organization: Organization,
    metric: str,
    start: datetime,
    end: datetime,
    *,
    grade: str = "",
    source: str = "",
) -> int:
    """How many leads entered the metric's stage in ``[start, end)`` (each lead once)."""
    from leads.models import LifecycleTransition

    if metric not in Metric.values:
        raise ValueError(f"unknown metric {metric!r}")
    qs = LifecycleTransition.objects.for_org(organization).filter(
        to_stage=metric, at__gte=start, at__lt=end
    )
    if grade:
        qs = qs.filter(lead__grade=grade)
    if source:
        qs = qs.filter(lead__source=source)
    return qs.values("lead_id").distinct().count()


def commitment_pacing(
    organization: Organization, commitment: MarketingCommitment, *, at: datetime
) -> Pacing:
    start, end = period_bounds(organization, commitment.period, at)
    upto = min(max(at, start), end)
    share = (upto - start) / (end - start)
    actual = metric_count(
        organization,
        commitment.metric,
        start,
        upto,
        grade=commitment.grade,
        source=commitment.source,
    )
    expected = commitment.target * share
    return Pacing(
        commitment=commitment,
        metric=commitment.metric,
        period=commitment.period,
        period_start=start,
        period_end=end,
        target=commitment.target,
        actual=actual,
        expected=expected,
        attainment=(actual / commitment.target) if commitment.target else None,
        status=pacing_status(actual, expected),
    )


def pacing(organization: Organization, *, at: datetime | None = None) -> list[Pacing]:
    """Each marketing commitment of the version in force, paced at ``at``."""
    at = at or timezone.now()
    version = active_version(organization)
    if version is None:
        return []
    return [commitment_pacing(organization, c, at=at) for c in version.marketing_commitments.all()]
