"""Monday 08:00 in the organization's time zone, by beat, idempotent, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from meetings import services, tasks
from meetings.models import Meeting
from smarketing.celery import app
from smarketing.tenancy.db import system_context

pytestmark = pytest.mark.django_db


def _weeks():
    with system_context("test: meetings of every organization"):
        return sorted(
            (m.organization.slug, m.week_start)
            for m in Meeting.unscoped.select_related("organization")
        )


def test_the_beat_entry_runs_every_few_minutes():
    entry = app.conf.beat_schedule["meetings-create-due"]
    assert entry["task"] == "meetings.tasks.create_due_meetings"
    assert entry["schedule"] <= 600


@pytest.mark.parametrize(
    ("monday", "utc_hour"),
    [
        (date(2027, 3, 22), 7),  # CET (UTC+1), the week before the spring change
        (date(2027, 3, 29), 6),  # CEST (UTC+2), the day after the change
        (date(2026, 10, 19), 6),  # CEST, before the autumn change
        (date(2026, 10, 26), 7),  # CET, the day after
    ],
)
def test_monday_0800_paris_across_dst(trio, monday, utc_hour):
    before = datetime(monday.year, monday.month, monday.day, utc_hour - 1, 59, tzinfo=UTC)
    at = datetime(monday.year, monday.month, monday.day, utc_hour, 0, tzinfo=UTC)
    with time_machine.travel(before, tick=False):
        assert tasks.create_due_meetings() == 0
    with time_machine.travel(at, tick=False):
        assert tasks.create_due_meetings() == 2  # alpha and charlie (both Paris)
    with time_machine.travel(at.replace(minute=5), tick=False):
        assert tasks.create_due_meetings() == 0  # idempotent
    assert _weeks() == [("alpha", monday), ("charlie", monday)]
    with system_context("test"):
        meeting = Meeting.unscoped.get(organization=trio.alpha)
    assert meeting.scheduled_for == at


def test_each_organization_in_its_own_time_zone(trio):
    trio.charlie_org.time_zone = "America/New_York"
    trio.charlie_org.save()
    # Monday 30 Nov 2026 08:00 in Paris = 07:00 UTC; in New York = 13:00 UTC.
    with time_machine.travel(datetime(2026, 11, 30, 7, 0, tzinfo=UTC), tick=False):
        tasks.create_due_meetings()
    assert _weeks() == [("alpha", date(2026, 11, 30))]
    with time_machine.travel(datetime(2026, 11, 30, 13, 0, tzinfo=UTC), tick=False):
        tasks.create_due_meetings()
    assert _weeks() == [("alpha", date(2026, 11, 30)), ("charlie", date(2026, 11, 30))]


def test_a_missed_monday_is_caught_up_later_in_the_week(trio, as_org):
    with as_org(trio.alpha):
        meeting = services.create_due_meeting(
            organization=trio.alpha, now=datetime(2026, 12, 2, 15, tzinfo=UTC)
        )
    assert meeting.week_start == date(2026, 11, 30)


def test_nothing_before_eight_on_monday(trio, as_org):
    with as_org(trio.alpha):
        assert (
            services.create_due_meeting(
                organization=trio.alpha, now=datetime(2026, 11, 30, 6, 59, tzinfo=UTC)
            )
            is None
        )
