"""sla.calendar: the issue's examples and the algebra, as properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla import calendar as cal

PARIS = ZoneInfo("Europe/Paris")
FR_2026 = [date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8)]
FR_2026 += [date(2026, 5, 14), date(2026, 5, 25), date(2026, 7, 14), date(2026, 8, 15)]
FR_2026 += [date(2026, 11, 1), date(2026, 11, 11), date(2026, 12, 25)]
OFFICE = cal.CalendarSpec.from_hours("Europe/Paris", cal.DEFAULT_WEEKLY_HOURS, FR_2026)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def local(moment: datetime) -> datetime:
    return moment.astimezone(PARIS)


# --- the examples -----------------------------------------------------------


def test_a_demo_request_on_friday_evening_is_due_monday_morning():
    friday = paris(2026, 1, 9, 17, 30)
    assert friday.weekday() == 4
    assert local(cal.add_working_minutes(OFFICE, friday, 120)) == paris(2026, 1, 12, 10, 30)


def test_a_start_outside_hours_counts_from_the_next_opening():
    assert local(cal.add_working_minutes(OFFICE, paris(2026, 1, 10, 11), 60)) == paris(
        2026, 1, 12, 10
    )
    assert local(cal.add_working_minutes(OFFICE, paris(2026, 1, 12, 7), 30)) == paris(
        2026, 1, 12, 9, 30
    )
    assert local(cal.next_opening(OFFICE, paris(2026, 1, 12, 18))) == paris(2026, 1, 13, 9)
    assert cal.next_opening(OFFICE, paris(2026, 1, 12, 10)) == paris(2026, 1, 12, 10)


def test_a_deadline_can_fall_exactly_at_closing_time():
    due = cal.add_working_minutes(OFFICE, paris(2026, 1, 9, 17), 60)
    assert local(due) == paris(2026, 1, 9, 18)
    assert not cal.is_open(OFFICE, due) and cal.is_open(OFFICE, due - timedelta(seconds=1))


def test_may_day_and_bastille_day_are_skipped():
    # Thursday 30 April 17:00 + 2 h: Friday 1 May is a holiday → Monday 4 May 10:00.
    assert local(cal.add_working_minutes(OFFICE, paris(2026, 4, 30, 17), 120)) == paris(
        2026, 5, 4, 10
    )
    # Monday 13 July 17:30 + 2 h: Tuesday 14 July off → Wednesday 15 July 10:30.
    assert local(cal.add_working_minutes(OFFICE, paris(2026, 7, 13, 17, 30), 120)) == paris(
        2026, 7, 15, 10, 30
    )
    assert not cal.is_open(OFFICE, paris(2026, 7, 14, 11))
    assert cal.working_minutes_between(OFFICE, paris(2026, 4, 30), paris(2026, 5, 2)) == 540


@pytest.mark.parametrize(
    "friday, monday",
    [
        # last Sunday of March 2026 (29th): 02:00 → 03:00; last of October (25th): 03:00 → 02:00
        ((2026, 3, 27), (2026, 3, 30)),
        ((2026, 10, 23), (2026, 10, 26)),
    ],
)
def test_a_daylight_saving_weekend_changes_nothing_in_business_hours(friday, monday):
    start = paris(*friday, 17)
    due = cal.add_working_minutes(OFFICE, start, 120)
    assert local(due) == paris(*monday, 10)
    assert cal.working_minutes_between(OFFICE, start, due) == 120
    # The wall-clock time between them is an hour shorter (March) or longer (October).
    hours = (due - start) / timedelta(hours=1)
    assert hours == (64 if friday[1] == 3 else 66)


def test_a_round_the_clock_calendar_counts_real_time_across_dst():
    always = cal.CalendarSpec.from_hours(
        "Europe/Paris", {str(d): [["00:00", "24:00"]] for d in range(7)}
    )
    spring = cal.working_minutes_between(always, paris(2026, 3, 28, 12), paris(2026, 3, 29, 12))
    autumn = cal.working_minutes_between(always, paris(2026, 10, 24, 12), paris(2026, 10, 25, 12))
    assert (spring, autumn) == (23 * 60, 25 * 60)
    start = paris(2026, 3, 28, 12)
    # 24 real hours (Python's aware + timedelta is wall-clock arithmetic: not that).
    real = start.astimezone(UTC) + timedelta(hours=24)
    assert cal.add_working_minutes(always, start, 24 * 60) == real
    assert local(real) == paris(2026, 3, 29, 13)


def test_a_span_in_the_spring_gap_starts_when_the_gap_ends():
    night = cal.CalendarSpec.from_hours("Europe/Paris", {"6": [["02:30", "04:00"]]})
    ((start, end),) = cal._day_intervals(night, date(2026, 3, 29))
    assert (start, end) == (
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 2, tzinfo=UTC),
    )


def test_wall_clock_mode_is_plain_timedelta():
    start = paris(2026, 1, 9, 17, 30)
    for spec in (None, cal.WALL_CLOCK):
        assert cal.add_working_minutes(spec, start, 120) == start + timedelta(hours=2)
        assert cal.working_minutes_between(spec, start, start + timedelta(days=1)) == 1440
        assert cal.is_open(spec, start) and cal.next_opening(spec, start) == start


def test_deadlines_warn_at_a_share_of_the_target_in_the_same_time():
    warn, due = cal.deadlines(OFFICE, paris(2026, 1, 9, 17, 30), 120, 75)
    assert (local(warn), local(due)) == (paris(2026, 1, 12, 10), paris(2026, 1, 12, 10, 30))
    warn, due = cal.deadlines(None, paris(2026, 1, 9, 17, 30), 120, 75)
    assert (local(warn), local(due)) == (paris(2026, 1, 9, 19), paris(2026, 1, 9, 19, 30))


def test_long_durations_skip_whole_weeks_exactly():
    start = paris(2026, 1, 9, 17, 30)
    minutes = 540 * 5 * 10 + 3  # ten working weeks and three minutes
    due = cal.add_working_minutes(OFFICE, start, minutes)
    assert local(due) == paris(2026, 3, 20, 17, 33)
    assert cal.working_minutes_between(OFFICE, start, due) == minutes


def test_bad_calendars_are_refused():
    with pytest.raises(cal.CalendarError):
        cal.CalendarSpec.from_hours("Europe/Paris", {"0": [["18:00", "09:00"]]})
    with pytest.raises(cal.CalendarError):
        cal.CalendarSpec.from_hours("Europe/Paris", {"0": [["9h", "18:00"]]})
    with pytest.raises(cal.CalendarError):
        cal.CalendarSpec.from_hours("Mars/Olympus", cal.DEFAULT_WEEKLY_HOURS)
    with pytest.raises(cal.CalendarError):
        cal.CalendarSpec.from_hours("Europe/Paris", {})
    with pytest.raises(ValueError):
        cal.add_working_minutes(OFFICE, datetime(2026, 1, 9, 17), 10)  # naive


def test_overlapping_spans_merge():
    spec = cal.CalendarSpec.from_hours(
        "Europe/Paris", {"0": [["09:00", "12:00"], ["11:00", "13:00"], ["14:00", "18:00"]]}
    )
    assert spec.week[0] == ((540, 780), (840, 1080))
    assert spec.week_minutes == 240 + 240


# --- properties -----------------------------------------------------------------------

SPLIT = cal.CalendarSpec.from_hours(
    "Europe/Paris",
    {
        "0": [["08:30", "12:00"], ["13:30", "18:00"]],
        "1": [["08:30", "12:00"], ["13:30", "18:00"]],
        "2": [["09:00", "12:00"]],
        "3": [["00:00", "02:30"], ["22:00", "24:00"]],  # a night shift across the DST hours
        "4": [["00:00", "03:30"], ["08:30", "17:00"]],
        "5": [],
        "6": [["01:30", "03:00"]],  # inside the gap and the overlap on DST Sundays
    },
    [*FR_2026, date(2027, 1, 1)],
)
NEW_YORK = cal.CalendarSpec.from_hours("America/New_York", cal.DEFAULT_WEEKLY_HOURS)
SPECS = st.sampled_from([OFFICE, SPLIT, NEW_YORK, cal.WALL_CLOCK])

# Instants over 2026–2027 to the second, so DST weekends and holidays come up often.
moments = st.integers(
    min_value=int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
    max_value=int(datetime(2027, 12, 31, tzinfo=UTC).timestamp()),
).map(lambda s: datetime.fromtimestamp(s, UTC))
dst_moments = st.sampled_from(
    [paris(2026, 3, 27, 20), paris(2026, 3, 28, 23, 59), paris(2026, 10, 24, 22)]
).flatmap(
    # In UTC: Paris + timedelta is wall-clock arithmetic and may land in the spring gap.
    lambda t: st.integers(0, 72 * 3600).map(lambda s: t.astimezone(UTC) + timedelta(seconds=s))
)
instants = st.one_of(moments, dst_moments)
minutes = st.integers(min_value=0, max_value=30_000)
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(SPECS, instants, minutes, minutes)
def test_adding_is_associative(spec, t, a, b):
    assert cal.add_working_minutes(spec, cal.add_working_minutes(spec, t, a), b) == (
        cal.add_working_minutes(spec, t, a + b)
    )


@PROPS
@given(SPECS, instants, minutes)
def test_between_undoes_add(spec, t, m):
    assert cal.working_minutes_between(spec, t, cal.add_working_minutes(spec, t, m)) == m


@PROPS
@given(SPECS, instants, instants, minutes)
def test_add_is_monotonic_in_the_start(spec, t1, t2, m):
    t1, t2 = min(t1, t2), max(t1, t2)
    assert cal.add_working_minutes(spec, t1, m) <= cal.add_working_minutes(spec, t2, m)


@PROPS
@given(SPECS, instants, minutes, minutes)
def test_add_is_monotonic_in_the_duration(spec, t, a, b):
    a, b = min(a, b), max(a, b)
    due_a, due_b = cal.add_working_minutes(spec, t, a), cal.add_working_minutes(spec, t, b)
    assert t <= due_a <= due_b
    assert (due_a < due_b) == (a < b)


@PROPS
@given(SPECS, instants, instants, instants)
def test_between_is_additive(spec, a, b, c):
    a, b, c = sorted((a, b, c))
    assert cal.working_time_between(spec, a, c) == (
        cal.working_time_between(spec, a, b) + cal.working_time_between(spec, b, c)
    )
    assert cal.working_time_between(spec, c, a) == -cal.working_time_between(spec, a, c)


@PROPS
@given(SPECS, instants)
def test_next_opening_is_open_and_nothing_before_it(spec, t):
    opening = cal.next_opening(spec, t)
    assert opening >= t and cal.is_open(spec, opening)
    assert cal.working_minutes_between(spec, t, opening) == 0
    assert cal.is_open(spec, t) == (opening == t)


@PROPS
@given(st.sampled_from([OFFICE, SPLIT, NEW_YORK]), instants, st.integers(1, 30_000))
def test_the_deadline_is_working_time_or_a_closing(spec, t, m):
    due = cal.add_working_minutes(spec, t, m)
    # Just before the deadline is working time (the last minute worked).
    assert cal.is_open(spec, due - timedelta(microseconds=1))
