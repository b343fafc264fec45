"""Business-calendar arithmetic: the one module that adds and measures working time.

A ``CalendarSpec`` is a pure, hashable value: a time zone, the weekly working spans
(local wall-clock minutes of each weekday, ``0`` = Monday) and the holiday dates (whole
local days off). ``WALL_CLOCK`` (or ``None``) is the calendar that never closes: the
functions then do plain ``timedelta`` arithmetic.

Working intervals are computed per local day and converted to UTC, so every duration is
real elapsed time: a span that straddles a daylight-saving change is an hour shorter
(spring) or longer (autumn) than its wall-clock length; a working day of 9:00–18:00 is
always nine real hours. A local time that does not exist (the spring gap) maps to the
first instant after it. Arithmetic is exact to the microsecond (``timedelta``); minutes
may be fractional.

Definitions (``t`` any aware instant, ``m`` ≥ 0 minutes):

- ``is_open(spec, t)``: ``t`` lies in a working interval (half-open ``[open, close)``).
- ``next_opening(spec, t)``: ``t`` if open, else the start of the next interval.
- ``add_working_minutes(spec, t, m)``: the earliest instant ``u ≥ t`` such that the
  working time in ``[t, u]`` is ``m`` (``t`` itself for ``m = 0``). A start outside
  working hours therefore counts from the next opening, and a deadline can fall exactly
  at a closing time (Friday 18:00, not Monday 9:00).
- ``working_minutes_between(spec, a, b)``: the working minutes in ``[a, b)``; negative if
  ``b < a``.

So ``add(add(t, a), b) == add(t, a + b)`` and ``between(t, add(t, m)) == m``.

Speed: whole regular weeks (no holiday, no offset change) are skipped with the weekly
total; days are walked one by one otherwise (a few per typical deadline); a day's
intervals are cached. No minute loops.
"""

from __future__ import annotations

import bisect
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60
# A calendar with no working time within this many days ahead is treated as closed
# for good (every weekday empty, or holidays as far as the eye can see).
HORIZON_DAYS = 3 * 366

DEFAULT_WEEKLY_HOURS = {str(day): [["09:00", "18:00"]] for day in range(5)} | {"5": [], "6": []}
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


class CalendarError(ValueError):
    """Bad weekly hours, an unknown time zone, or a calendar that never opens."""


def parse_hhmm(value: str) -> int:
    """``"09:30"`` → 570 minutes after midnight; ``"24:00"`` is the end of the day."""
    match = _HHMM.match(str(value).strip())
    if not match:
        raise CalendarError(f"{value!r} is not a time of day (HH:MM)")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > DAY_MINUTES:
        raise CalendarError(f"{value!r} is after midnight")
    return minutes


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def parse_weekly_hours(weekly_hours: Mapping) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The JSON of ``BusinessCalendar.weekly_hours`` (``{"0": [["09:00", "18:00"]], …}``)
    as seven tuples of merged ``(start, end)`` minute spans. Raises ``CalendarError``."""
    if not isinstance(weekly_hours, Mapping):
        raise CalendarError("weekly hours must map weekdays to spans")
    week = []
    for day in range(7):
        spans = weekly_hours.get(str(day), weekly_hours.get(day, [])) or []
        parsed = []
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise CalendarError(f"day {day}: a span is [start, end]")
            start, end = parse_hhmm(span[0]), parse_hhmm(span[1])
            if end <= start:
                raise CalendarError(
                    f"day {day}: {format_hhmm(start)}–{format_hhmm(end)} ends before it starts"
                )
            parsed.append((start, end))
        week.append(_merge(parsed))
    return tuple(week)


def weekly_hours_json(week: Iterable[Iterable[tuple[int, int]]]) -> dict[str, list[list[str]]]:
    return {
        str(day): [[format_hhmm(s), format_hhmm(e)] for s, e in spans]
        for day, spans in enumerate(week)
    }


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise CalendarError(f"unknown time zone {name!r}") from error


@dataclass(frozen=True)
class CalendarSpec:
    """Working time: ``week[d]`` = sorted, disjoint local minute spans of weekday ``d``."""

    zone_name: str = "Europe/Paris"
    week: tuple[tuple[tuple[int, int], ...], ...] = ()
    holidays: frozenset[date] = frozenset()
    business: bool = True
    _sorted_holidays: tuple[date, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.business:
            return
        if len(self.week) != 7:
            raise CalendarError("a week has seven days")
        _zone(self.zone_name)
        if not any(self.week):
            raise CalendarError("the calendar has no working hours")
        object.__setattr__(self, "_sorted_holidays", tuple(sorted(self.holidays)))

    @classmethod
    def from_hours(
        cls, zone_name: str, weekly_hours: Mapping, holidays: Iterable[date] = ()
    ) -> CalendarSpec:
        return cls(
            zone_name=zone_name, week=parse_weekly_hours(weekly_hours), holidays=frozenset(holidays)
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.zone_name)

    @property
    def week_minutes(self) -> int:
        """Nominal working minutes of a regular week."""
        return sum(end - start for spans in self.week for start, end in spans)

    def holiday_between(self, first: date, last: date) -> bool:
        """Whether a holiday falls in ``[first, last)``."""
        i = bisect.bisect_left(self._sorted_holidays, first)
        return i < len(self._sorted_holidays) and self._sorted_holidays[i] < last


WALL_CLOCK = CalendarSpec(business=False)


def _is_wall_clock(spec: CalendarSpec | None) -> bool:
    return spec is None or not spec.business


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("calendar arithmetic needs aware datetimes")
    return moment.astimezone(UTC)


def _to_utc(zone: zoneinfo.ZoneInfo, day: date, minute: int) -> datetime:
    """UTC instant of local ``day`` + ``minute``. In an overlap (autumn) it is the first
    occurrence; a time in the spring gap, which does not exist, maps to the gap's end."""
    if minute >= DAY_MINUTES:
        day, minute = day + timedelta(days=1), minute - DAY_MINUTES
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    first = local.astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return first
    # fold=0 used the offset before the gap (an instant after the transition), fold=1
    # the offset after it (an instant before): the transition lies between; find it.
    lo = int(local.replace(fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    before = datetime.fromtimestamp(lo, UTC).astimezone(zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


@functools.lru_cache(maxsize=8192)
def _day_intervals(spec: CalendarSpec, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """Working intervals of local ``day`` as UTC ``[start, end)`` pairs, increasing."""
    if day in spec.holidays:
        return ()
    zone = spec.zone
    out: list[tuple[datetime, datetime]] = []
    last = None
    for start_min, end_min in spec.week[day.weekday()]:
        start, end = _to_utc(zone, day, start_min), _to_utc(zone, day, end_min)
        if last is not None and start < last:
            start = last
        if end <= start:
            continue
        out.append((start, end))
        last = end
    return tuple(out)


def _local_day(spec: CalendarSpec, moment_utc: datetime) -> date:
    return moment_utc.astimezone(spec.zone).date()


@functools.lru_cache(maxsize=4096)
def _regular_week(spec: CalendarSpec, first: date) -> bool:
    """Whether the seven days from ``first`` hold exactly the nominal weekly time: no
    holiday, and the zone's offset the same throughout (checked at each midnight and
    at the end)."""
    if spec.holiday_between(first, first + timedelta(days=7)):
        return False
    zone = spec.zone
    offsets = {
        datetime.combine(first + timedelta(days=i), time(12), tzinfo=zone).utcoffset()
        for i in range(7)
    }
    offsets.add(datetime.combine(first, time.min, tzinfo=zone).utcoffset())
    offsets.add(datetime.combine(first + timedelta(days=7), time.min, tzinfo=zone).utcoffset())
    return len(offsets) == 1


def _intervals_from(spec: CalendarSpec, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals that end after ``moment`` (UTC), clipped to start at it."""
    day = _local_day(spec, moment) - timedelta(days=1)  # an interval of the day before
    empty_days = 0
    while True:
        spans = _day_intervals(spec, day)
        if not spans:
            empty_days += 1
            if empty_days > HORIZON_DAYS:
                raise CalendarError("the calendar never opens")
        for start, end in spans:
            if end <= moment:
                continue
            empty_days = 0
            yield max(start, moment), end
        day += timedelta(days=1)


def is_open(spec: CalendarSpec | None, moment: datetime) -> bool:
    if _is_wall_clock(spec):
        return True
    moment = _utc(moment)
    day = _local_day(spec, moment)
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        for start, end in _day_intervals(spec, d):
            if start <= moment < end:
                return True
    return False


def next_opening(spec: CalendarSpec | None, moment: datetime) -> datetime:
    """``moment`` if working time, else the next interval's start (UTC)."""
    if _is_wall_clock(spec):
        return _utc(moment)
    moment = _utc(moment)
    start, _end = next(_intervals_from(spec, moment))
    return start


def current_interval_end(spec: CalendarSpec | None, moment: datetime) -> datetime | None:
    """When the working interval containing ``moment`` closes; None when closed now (or
    for the wall clock, which never closes)."""
    if _is_wall_clock(spec) or not is_open(spec, moment):
        return None
    _start, end = next(_intervals_from(spec, _utc(moment)))
    return end


def _as_delta(minutes: float | int | timedelta) -> timedelta:
    delta = minutes if isinstance(minutes, timedelta) else timedelta(minutes=minutes)
    if delta < timedelta(0):
        raise ValueError("cannot add negative working time")
    return delta


def add_working_time(spec: CalendarSpec | None, start: datetime, delta: timedelta) -> datetime:
    delta = _as_delta(delta)
    if _is_wall_clock(spec):
        return _utc(start) + delta  # real time: not Python's wall-clock aware arithmetic
    moment = _utc(start)
    if not delta:
        return moment
    remaining = delta
    week = timedelta(minutes=spec.week_minutes)
    start_day = _local_day(spec, moment)
    day = start_day - timedelta(days=1)  # an interval of the day before may still run
    empty_days = 0
    while True:
        if day > start_day and remaining > week and _regular_week(spec, day):
            # The whole week lies after ``moment`` and does not finish the job.
            remaining -= week
            day += timedelta(days=7)
            empty_days = 0
            continue
        spans = _day_intervals(spec, day)
        empty_days = empty_days + 1 if not spans else 0
        if empty_days > HORIZON_DAYS:
            raise CalendarError("the calendar never opens")
        for int_start, int_end in spans:
            if int_end <= moment:
                continue
            int_start = max(int_start, moment)
            span = int_end - int_start
            if remaining <= span:
                return int_start + remaining
            remaining -= span
        day += timedelta(days=1)


def add_working_minutes(
    spec: CalendarSpec | None, start: datetime, minutes: float | int | timedelta
) -> datetime:
    """``start`` + ``minutes`` of working time (module docstring for the exact rule)."""
    return add_working_time(spec, start, _as_delta(minutes))


def working_time_between(spec: CalendarSpec | None, a: datetime, b: datetime) -> timedelta:
    if _is_wall_clock(spec):
        return _utc(b) - _utc(a)
    a, b = _utc(a), _utc(b)
    if b < a:
        return -working_time_between(spec, b, a)
    total = timedelta(0)
    week = timedelta(minutes=spec.week_minutes)
    first_day = _local_day(spec, a)
    last_day = _local_day(spec, b)
    day = first_day - timedelta(days=1)
    while day <= last_day + timedelta(days=1):
        if first_day < day and day + timedelta(days=7) <= last_day and _regular_week(spec, day):
            # The whole week lies strictly inside (a, b): its nominal total.
            total += week
            day += timedelta(days=7)
            continue
        for start, end in _day_intervals(spec, day):
            lo, hi = max(start, a), min(end, b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def working_minutes_between(spec: CalendarSpec | None, a: datetime, b: datetime) -> float:
    """Working minutes in ``[a, b)`` (negative when ``b`` is before ``a``)."""
    return working_time_between(spec, a, b) / MINUTE


def deadlines(
    spec: CalendarSpec | None, start: datetime, minutes: int, warn_percent: int
) -> tuple[datetime, datetime]:
    """``(warn_at, due_at)`` of a clock started at ``start`` for a target of ``minutes``:
    both counted in the same mode (business or wall-clock), the warning at
    ``warn_percent`` % of the target."""
    due = add_working_minutes(spec, start, minutes)
    share = max(0, min(int(warn_percent), 100))
    warn = add_working_time(spec, start, timedelta(minutes=minutes) * share / 100)
    return warn, due
