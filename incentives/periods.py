"""Plan periods (months and quarters) as dates and as aware, half-open intervals in the
organization's time zone (midnight to midnight, like the KPI layer's periods)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import formats


@dataclass(frozen=True)
class PlanPeriod:
    kind: str
    first_day: date
    last_day: date  # inclusive
    start: datetime  # aware, org-local midnight of first_day
    end: datetime  # aware, org-local midnight after last_day

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"Q{(self.first_day.month - 1) // 3 + 1} {self.first_day.year}"
        return formats.date_format(self.first_day, "F Y")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def elapsed_share(self, moment: datetime) -> float:
        """0..1: how much of the period has passed at ``moment``."""
        total = (self.end - self.start).total_seconds()
        done = (min(max(moment, self.start), self.end) - self.start).total_seconds()
        return done / total if total else 1.0


def _first_day(kind: str, day: date) -> date:
    if kind == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, day.month, 1)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def period_of(time_zone: str, kind: str, day: date) -> PlanPeriod:
    first = _first_day(kind, day)
    after = _add_months(first, 3 if kind == "quarter" else 1)
    zone = ZoneInfo(time_zone)
    return PlanPeriod(
        kind=kind,
        first_day=first,
        last_day=after - timedelta(days=1),
        start=datetime.combine(first, time(0), tzinfo=zone),
        end=datetime.combine(after, time(0), tzinfo=zone),
    )


def period_at(time_zone: str, kind: str, moment: datetime) -> PlanPeriod:
    return period_of(time_zone, kind, moment.astimezone(ZoneInfo(time_zone)).date())


def previous(period: PlanPeriod, time_zone: str) -> PlanPeriod:
    return period_of(time_zone, period.kind, period.first_day - timedelta(days=1))


def recent(time_zone: str, kind: str, moment: datetime, count: int = 6) -> list[PlanPeriod]:
    """The running period first, then the ``count - 1`` before it."""
    periods = [period_at(time_zone, kind, moment)]
    while len(periods) < count:
        periods.append(previous(periods[-1], time_zone))
    return periods
