"""The one KPI layer (SPEC.md §4): every number the dashboard, the TV, the API, the
meeting pack and incentives show comes from these functions, so the four always agree
for the same period.

- ``Period`` is half-open ``[start, end)``, aware; ``period_from_dates`` makes one from
  whole days in the organization's time zone (midnights in Europe/Paris, 23 or 25
  hours long around a daylight-saving change).
- ``Segment`` narrows every lead-based KPI to the lead's source, first campaign,
  owner or grade (their current values). Deals are segmented by their lead.
- ``compute`` returns a ``KpiSet``. Additive KPIs of closed days are read from the daily
  rollups (``dashboards.rollups``, kept by Celery), the rest of the period (today, or
  any day not built yet) from the live rows, with the same definitions; medians,
  cohorts and attribution are computed from the rows with bounded SQL.
- ``report`` is the period beside the previous one and its targets.

Definitions that SPEC.md leaves open are written down in docs/dashboards.md.
"""

from __future__ import annotations

import calendar
import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import F, Max, Min, Q
from django.utils import timezone

from leads.models import Campaign, Lead, LifecycleTransition, RejectReason, Stage
from smarketing.tenancy.models import Organization

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# Stages whose entries are counted like MQLs (distinct leads per period).
# The one range of days the dashboards, exports and API accept (a period, its previous
# one and its edges' arithmetic all stay far inside ``date``'s range).
MIN_DAY = date(2000, 1, 1)
MAX_DAY = date(2100, 12, 31)

# A lead that jumped past SQL (straight to opportunity or customer) reached SQL.
REACHED_SQL = (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
COUNTED_STAGES = {"mqls": Stage.MQL, "sals": Stage.SAL, "sqls": Stage.SQL}
CUSTOMER = Stage.CUSTOMER
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay")
ATTRIBUTION_BY = ("content", "campaign")
TIME_DECAY_HALF_LIFE_DAYS = 7
# The funnel from a new lead to a customer; recycled/disqualified are exits.
FUNNEL_STAGES = (Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
FUNNEL_BY = ("", "source", "campaign")
# A lead's event is a marketing touch unless it is an unsubscription.
NOT_A_TOUCH = ("unsubscribe",)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


# --- Periods and segments -----------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``[start, end)``, both aware. Made from whole days by ``period_from_dates``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if timezone.is_naive(self.start) or timezone.is_naive(self.end):
            raise ValueError("Period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("Period must end after it starts")

    # Whole local days: the period's own time zone is the start's tzinfo.
    @property
    def tz(self) -> tzinfo:
        return self.start.tzinfo  # type: ignore[return-value]

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        """The last local day the period touches (the day before ``end`` at midnight)."""
        return (self.end.astimezone(self.tz) - timedelta(microseconds=1)).date()

    @property
    def is_whole_days(self) -> bool:
        s, e = self.start.astimezone(self.tz), self.end.astimezone(self.tz)
        return s.timetz().replace(tzinfo=None) == time.min and e.time() == time.min

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def kind(self) -> str:
        """``week`` (Monday to Sunday), ``month`` (a calendar month), else ``custom``."""
        if not self.is_whole_days:
            return "custom"
        first, last = self.first_day, self.last_day
        if first.weekday() == 0 and (last - first).days == 6:
            return "week"
        month_end = calendar.monthrange(last.year, last.month)[1]
        same_month = (first.year, first.month) == (last.year, last.month)
        if first.day == 1 and last.day == month_end and same_month:
            return "month"
        return "custom"

    def previous(self) -> Period:
        """The period just before, of the same length: the previous calendar month for
        a month, the same number of whole local days for whole days (so a 7-day week
        across a DST change is still 7 days), else the same duration."""
        if self.kind == "month":
            last = self.first_day - timedelta(days=1)
            first = last.replace(day=1)
            return Period(local_midnight(first, self.tz), local_midnight(self.first_day, self.tz))
        if self.is_whole_days:
            first = self.first_day - timedelta(days=self.days)
            return Period(local_midnight(first, self.tz), local_midnight(self.first_day, self.tz))
        length = self.end - self.start
        return Period(self.start - length, self.start)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            # Dates as the API takes them: ``to`` is exclusive (SPEC.md §4: [from, to)).
            "from": self.first_day.isoformat(),
            "to": (self.last_day + timedelta(days=1)).isoformat(),
            "last_day": self.last_day.isoformat(),
            "days": self.days,
            "kind": self.kind,
        }


def period_from_dates(
    organization: Organization, date_from: date, date_to_inclusive: date
) -> Period:
    """Whole days ``date_from`` … ``date_to_inclusive`` in the organization's time zone:
    from the first day's local midnight to the midnight after the last day."""
    if date_to_inclusive < date_from:
        raise ValueError("date_to_inclusive is before date_from")
    tz = organization.zone
    return Period(
        local_midnight(date_from, tz), local_midnight(date_to_inclusive + timedelta(days=1), tz)
    )


def week_of(organization: Organization, day: date) -> Period:
    """The Monday-to-Sunday week that contains ``day``."""
    monday = day - timedelta(days=day.weekday())
    return period_from_dates(organization, monday, monday + timedelta(days=6))


def month_of(organization: Organization, day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return period_from_dates(organization, day.replace(day=1), day.replace(day=last))


def last_days(organization: Organization, days: int = 30, *, now: datetime | None = None) -> Period:
    """The last ``days`` whole days, today included (the dashboard's default)."""
    today = local_today(organization, now=now)
    return period_from_dates(organization, today - timedelta(days=days - 1), today)


def local_today(organization: Organization, *, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(organization.zone).date()


@dataclass(frozen=True)
class Segment:
    """Narrows the KPIs to leads of one source, first campaign, owner or grade."""

    source: str = ""
    campaign_id: int | None = None
    owner_id: int | None = None
    grade: str = ""

    @property
    def is_all(self) -> bool:
        return self == Segment()

    def lead_q(self, prefix: str = "") -> Q:
        """The condition on the lead (``prefix`` is the path to it, e.g. ``lead__``)."""
        q = Q()
        if self.source:
            q &= Q(**{f"{prefix}source": self.source})
        if self.campaign_id:
            q &= Q(**{f"{prefix}campaign_id": self.campaign_id})
        if self.owner_id:
            q &= Q(**{f"{prefix}owner_id": self.owner_id})
        if self.grade:
            q &= Q(**{f"{prefix}grade": self.grade})
        return q

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Every lead: the default segment (a frozen dataclass, safe as a default value).
ALL_LEADS = Segment()


# --- The KPI set --------------------------------------------------------------------


@dataclass
class Cohort:
    """Leads that became MQL in the period, and how many of them reached SQL since."""

    size: int = 0
    reached_sql: int = 0
    rate: float | None = None
    age_days: int = 0  # days every member has had to convert (since the period's end)


@dataclass
class KpiSet:
    new_leads: int = 0
    mqls: int = 0
    sals: int = 0
    sqls: int = 0
    accepted: int = 0
    rejected: int = 0
    acceptance_rate: float | None = None
    rejection_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    mql_cohort: Cohort = field(default_factory=Cohort)
    speed_to_lead_minutes: float | None = None
    sla: dict[str, Any] | None = None
    commitments: list[dict[str, Any]] = field(default_factory=list)
    pipeline_created: Decimal = ZERO
    deals_created: int = 0
    revenue_won: Decimal = ZERO
    deals_won: int = 0
    marketing_sourced_revenue: Decimal = ZERO
    marketing_sourced_share: float | None = None
    new_customers: int = 0
    spend: Decimal | None = None
    cac: Decimal | None = None
    currency: str = "EUR"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, tuples as lists."""
        return _jsonable(asdict(self))


# KPIs that have a target and a delta (numbers); how each reads ("up" = more is better).
NUMERIC_KPIS: dict[str, str] = {
    "new_leads": "up",
    "mqls": "up",
    "sals": "up",
    "sqls": "up",
    "acceptance_rate": "up",
    "speed_to_lead_minutes": "down",
    "sla_rate": "up",
    "pipeline_created": "up",
    "revenue_won": "up",
    "deals_won": "up",
    "marketing_sourced_revenue": "up",
    "marketing_sourced_share": "up",
    "new_customers": "up",
    "spend": "down",
    "cac": "down",
    "mql_to_sql_rate": "up",
}
# Targets of these are per period and scale with its length; the others (rates,
# medians, costs) do not.
VOLUME_KPIS = frozenset(
    {
        "new_leads",
        "mqls",
        "sals",
        "sqls",
        "pipeline_created",
        "revenue_won",
        "deals_won",
        "marketing_sourced_revenue",
        "new_customers",
        "spend",
    }
)


def kpi_value(kpis: KpiSet, name: str) -> Any:
    if name == "sla_rate":
        return (kpis.sla or {}).get("rate")
    if name == "mql_to_sql_rate":
        return kpis.mql_cohort.rate
    return getattr(kpis, name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _money(value: Any) -> Decimal:
    return (Decimal(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def _cache_seconds(period: Period) -> int:
    """How long a computed KpiSet is reused: briefly while the period is ongoing (the
    dashboard, the TV and the API poll the same figures), longer once it is over (its
    days only change when the rollups are rebuilt). Off in tests unless set."""
    from django.conf import settings

    ongoing = period.end > timezone.now()
    name = "DASHBOARDS_KPI_CACHE_SECONDS" if ongoing else "DASHBOARDS_KPI_CACHE_CLOSED_SECONDS"
    default = 0 if getattr(settings, "TESTING", False) else (20 if ongoing else 300)
    return int(getattr(settings, name, default))


def _cached(kind: str, organization: Organization, period: Period, segment: Segment, fn, *extra):
    from django.core.cache import cache
    from django.utils import translation

    seconds = _cache_seconds(period)
    if not seconds:
        return fn()
    key = ":".join(
        str(part)
        for part in (
            "kpis",
            kind,
            organization.pk,
            period.start.timestamp(),
            period.end.timestamp(),
            segment.source,
            segment.campaign_id or "",
            segment.owner_id or "",
            segment.grade,
            translation.get_language() or "",  # labels (reasons, stages) are translated
            *extra,
        )
    )
    value = cache.get(key)
    if value is None:
        value = fn()
        cache.set(key, value, seconds)
    return value


def compute(organization: Organization, period: Period, segment: Segment = Segment()) -> KpiSet:
    """Every KPI of SPEC.md §4 for ``period`` and ``segment`` (reused for a few seconds,
    see ``_cache_seconds``)."""
    return _cached(
        "set", organization, period, segment, lambda: _compute(organization, period, segment)
    )


def _compute(organization: Organization, period: Period, segment: Segment) -> KpiSet:
    from . import rollups, sla_bridge

    # One look-up for both reads. A segment is read live: the rollups keep each fact
    # under the lead's owner and grade when the day was built, the KPIs promise the
    # current ones (a reassigned lead counts for its new owner).
    days = rollups.rollup_days(organization, period) if segment.is_all else None
    counts = rollups.additive(organization, period, segment, days=days)
    kpis = KpiSet(currency=organization.currency)
    kpis.new_leads = counts.count("new_leads")
    for name, stage in COUNTED_STAGES.items():
        setattr(kpis, name, counts.distinct_entries(stage))
    kpis.new_customers = counts.distinct_entries(CUSTOMER)
    kpis.accepted = counts.count("accepted")
    kpis.rejected = counts.count("rejected")
    kpis.acceptance_rate = _rate(kpis.accepted, kpis.accepted + kpis.rejected)
    reasons = [
        (code, str(RejectReason(code).label), n)
        for code, n in counts.rejection_reasons().items()
        if n
    ]
    kpis.rejection_reasons = sorted(reasons, key=lambda row: (-row[2], row[0]))
    kpis.deals_created = counts.count("deals_created")
    kpis.pipeline_created = _money(counts.amount("deals_created"))
    kpis.deals_won = counts.count("deals_won")
    kpis.revenue_won = _money(counts.amount("deals_won"))
    kpis.marketing_sourced_revenue = _money(counts.amount("marketing_won"))
    kpis.marketing_sourced_share = (
        round(float(kpis.marketing_sourced_revenue / kpis.revenue_won), 4)
        if kpis.revenue_won
        else None
    )
    kpis.mql_cohort = mql_cohort(organization, period, segment)
    kpis.speed_to_lead_minutes = median_minutes(
        rollups.speed_samples(organization, period, segment, days=days)
    )
    kpis.spend = spend(organization, period, segment)
    if kpis.spend is not None and kpis.new_customers:
        kpis.cac = _money(kpis.spend / kpis.new_customers)
    kpis.sla = sla_bridge.compliance(organization, period, segment)
    kpis.commitments = sla_bridge.pacing(organization, period)
    return kpis


# --- Non-additive KPIs --------------------------------------------------------------


def _transitions(organization: Organization, segment: Segment):
    return LifecycleTransition.objects.for_org(organization).filter(segment.lead_q("lead__"))


def mql_cohort(
    organization: Organization,
    period: Period,
    segment: Segment = ALL_LEADS,
    *,
    now: datetime | None = None,
) -> Cohort:
    """Of the leads that became MQL in the period, the share that reached SQL after one
    of those MQL entries (at any time up to now): a lead reached SQL iff its latest entry to SQL
    or a later stage (a jump from MQL to opportunity or customer counts) is not before
    its first MQL entry of the period. Two queries."""
    now = now or timezone.now()
    entries = _transitions(organization, segment).filter(
        to_stage=Stage.MQL, at__gte=period.start, at__lt=period.end
    )
    first_mql = dict(
        entries.order_by()
        .values("lead_id")
        .annotate(first=Min("at"))
        .values_list("lead_id", "first")
    )
    hit = 0
    if first_mql:
        last_sql = (
            LifecycleTransition.objects.for_org(organization)
            .filter(
                to_stage__in=REACHED_SQL,
                at__gte=period.start,
                lead_id__in=entries.values("lead_id"),
            )
            .order_by()
            .values("lead_id")
            .annotate(last=Max("at"))
            .values_list("lead_id", "last")
        )
        hit = sum(1 for lead_id, last in last_sql if last >= first_mql.get(lead_id, last))
    size = len(first_mql)
    age = max(0, (now - min(now, period.end)).days)
    return Cohort(size=size, reached_sql=hit, rate=_rate(hit, size), age_days=age)


def speed_samples(
    organization: Organization,
    start: datetime,
    end: datetime,
    segment: Segment = ALL_LEADS,
    *,
    with_dims: bool = False,
):
    """``(first touch, MQL→touch in microseconds[, lead dims])`` of the leads whose first
    sales touch is in ``[start, end)`` and came after they became MQL (measured from the
    latest MQL entry before the touch). One query."""
    dims = ("lead__source", "lead__campaign_id", "lead__owner_id", "lead__grade")
    rows = (
        _transitions(organization, segment)
        .filter(
            to_stage=Stage.MQL,
            lead__first_touch_at__gte=start,
            lead__first_touch_at__lt=end,
            at__lte=F("lead__first_touch_at"),
        )
        .order_by()
        .values("lead_id", *(dims if with_dims else ()))
        .annotate(mql_at=Max("at"), touch_at=Max("lead__first_touch_at"))
    )
    for row in rows:
        span = row["touch_at"] - row["mql_at"]
        micros = (span.days * 86400 + span.seconds) * 1_000_000 + span.microseconds
        if with_dims:
            yield row["touch_at"], micros, tuple(row[d] for d in dims)
        else:
            yield row["touch_at"], micros


def median_minutes(micros: list[int]) -> float | None:
    return round(statistics.median(micros) / 60_000_000, 1) if micros else None


def speed_to_lead(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS
) -> float | None:
    """Median minutes from becoming MQL to the lead's first sales touch, over the leads
    whose first touch falls in the period and came after they became MQL (from the
    latest MQL entry before that touch). Closed days from the rollups' samples."""
    from . import rollups

    return median_minutes(rollups.speed_samples(organization, period, segment))


def spend_by_campaign(organization: Organization, period: Period) -> dict[int, Decimal]:
    """Each campaign's spend that falls in the period: its spend spread evenly over the
    days it runs (``starts_on`` … ``ends_on``; still running: up to today; no start
    date: from its creation). One query."""
    tz = organization.zone
    today = local_today(organization)
    out: dict[int, Decimal] = {}
    for pk, spent, starts, ends, created in (
        Campaign.objects.for_org(organization)
        .order_by()
        .values_list("pk", "spend", "starts_on", "ends_on", "created_at")
    ):
        if not spent:
            out[pk] = ZERO
            continue
        first = starts or created.astimezone(tz).date()
        last = ends or max(today, first)
        last = max(last, first)
        run_days = (last - first).days + 1
        overlap = (min(last, period.last_day) - max(first, period.first_day)).days + 1
        out[pk] = _money(Decimal(spent) * overlap / run_days) if overlap > 0 else ZERO
    return out


def spend(
    organization: Organization, period: Period, segment: Segment = Segment()
) -> Decimal | None:
    """Campaign spend in the period (``spend_by_campaign``), of one campaign for a
    campaign segment; ``None`` for a segment spend cannot be split by (source, owner,
    grade)."""
    if segment.source or segment.owner_id or segment.grade:
        return None
    spends = spend_by_campaign(organization, period)
    if segment.campaign_id:
        return spends.get(segment.campaign_id, ZERO)
    return _money(sum(spends.values(), Decimal(0)))


# --- Report: the period, the previous one, targets and deltas ----------------------


def report(
    organization: Organization, period: Period, segment: Segment = Segment()
) -> dict[str, Any]:
    """What ``/api/v1/kpis``, the dashboard tiles and the meeting pack show:
    ``{"period", "previous_period", "segment", "current", "previous", "targets",
    "deltas"}`` (JSON-ready)."""
    from .models import KpiTarget

    previous_period = period.previous()
    current = compute(organization, period, segment)
    previous = compute(organization, previous_period, segment)
    targets = KpiTarget.targets_for(organization, period, segment)
    deltas = {}
    for name, direction in NUMERIC_KPIS.items():
        now_value, before = kpi_value(current, name), kpi_value(previous, name)
        delta = None
        if now_value is not None and before is not None:
            change = Decimal(str(now_value)) - Decimal(str(before))
            delta = {
                "change": _jsonable(change if isinstance(now_value, Decimal) else float(change)),
                "ratio": round(float(change / Decimal(str(before))), 4) if before else None,
                "better": (change > 0) if direction == "up" else (change < 0),
                "direction": direction,
            }
        deltas[name] = delta
    return {
        "period": period.as_dict(),
        "previous_period": previous_period.as_dict(),
        "segment": segment.as_dict(),
        "current": current.as_dict(),
        "previous": previous.as_dict(),
        "targets": {name: _jsonable(value) for name, value in targets.items()},
        "deltas": deltas,
    }


# --- Funnel -------------------------------------------------------------------------


@dataclass
class FunnelStage:
    stage: str
    label: str
    entered: int = 0
    moved_on: int = 0
    dropped: int = 0
    conversion: float | None = None  # moved_on / entered
    median_days: float | None = None  # in the stage, for the leads that left it
    group: str = ""  # the source or campaign id when ``by`` is set; "" otherwise
    group_label: str = ""
    next_stage: str = ""

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def funnel(
    organization: Organization, period: Period, segment: Segment = Segment(), by: str = ""
) -> list[FunnelStage]:
    """Per stage, for the leads that entered it in the period: how many entered, how
    many moved on to a later stage of the funnel (at any time since), the conversion,
    and the median days spent in the stage by the leads that left it. ``by`` =
    ``source`` or ``campaign`` gives the stages of each group, in order."""
    from .funnel import funnel_stages

    return _cached(
        "funnel",
        organization,
        period,
        segment,
        lambda: funnel_stages(organization, period, segment, by=by),
        by,
    )


def biggest_leak(stages: list[FunnelStage]) -> FunnelStage | None:
    """The hand-over stage (MQL onwards; lead → MQL is nurturing, not a leak) with the
    lowest conversion; ties go to the one that lost more leads."""
    candidates = [
        s
        for s in stages
        if s.stage not in (Stage.LEAD, Stage.CUSTOMER) and s.entered and s.conversion is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.conversion, -s.dropped))


# --- Attribution --------------------------------------------------------------------


@dataclass
class AttributionRow:
    key: str  # content or campaign key; "" for revenue with no touch
    id: int | None
    label: str
    revenue: Decimal = ZERO
    deals: int = 0  # won deals this content or campaign touched
    touches: int = 0
    share: float | None = None  # of the period's revenue won
    spend: Decimal | None = None  # campaigns only
    roi: float | None = None  # revenue / spend, campaigns only
    cac: Decimal | None = None  # spend / won deals it touched, campaigns only
    level: str = ""  # content only
    kind: str = ""  # content type or campaign channel

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def attribution(
    organization: Organization,
    period: Period,
    *,
    model: str = "linear",
    by: str = "content",
    segment: Segment = Segment(),
) -> list[AttributionRow]:
    """Revenue won in the period credited to content or campaigns under ``model`` (SPEC.md
    §4). Touches are the lead's marketing events with a content (or a campaign) before
    the deal was created. Rows by revenue, then the "no touch" row last; the revenues
    add up to the period's revenue won."""
    from .attribution import attribute

    if model not in ATTRIBUTION_MODELS:
        raise ValueError(f"unknown attribution model {model!r}")
    if by not in ATTRIBUTION_BY:
        raise ValueError(f"unknown attribution dimension {by!r}")
    return _cached(
        "attribution",
        organization,
        period,
        segment,
        lambda: attribute(organization, period, model=model, by=by, segment=segment),
        model,
        by,
    )


# --- Hot leads ----------------------------------------------------------------------


def hot_leads(
    organization: Organization, limit: int = 10, *, segment: Segment = ALL_LEADS
) -> list[Lead]:
    """The hot leads (of the segment), newest hot first, then by score (the top of the
    sales queue)."""
    return list(
        Lead.objects.for_org(organization)
        .filter(segment.lead_q(), hot=True)
        .select_related("owner", "company")
        .order_by("-hot_since", "-score", "-pk")[:limit]
    )


__all__ = [
    "ATTRIBUTION_MODELS",
    "AttributionRow",
    "Cohort",
    "FunnelStage",
    "KpiSet",
    "Period",
    "Segment",
    "attribution",
    "biggest_leak",
    "compute",
    "funnel",
    "hot_leads",
    "month_of",
    "period_from_dates",
    "report",
    "week_of",
]
