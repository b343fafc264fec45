from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from meetings import services
from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.services import api_key_create_for_operator

PARIS = ZoneInfo("Europe/Paris")
# The meeting of Monday 30 November 2026 reviews 23–29 November.
WEEK = date(2026, 11, 30)
IN_REVIEWED_WEEK = datetime(2026, 11, 25, 10, tzinfo=PARIS)
MONDAY_9 = datetime(2026, 11, 30, 9, tzinfo=PARIS)


def _client(org, scope) -> APIClient:
    _key, secret = api_key_create_for_operator(organization=org, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def api_read(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ)


@pytest.fixture
def api_charlie(trio) -> APIClient:
    return _client(trio.charlie_org, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def make_meeting(trio, as_org):
    """``make_meeting(week_start=WEEK, now=MONDAY_9)``: the week's meeting, pack frozen."""

    def make(week_start: date = WEEK, now: datetime | None = None):
        with as_org(trio.alpha):
            meeting, _created = services.meeting_for_week(
                organization=trio.alpha,
                week_start=week_start,
                now=now or datetime.combine(week_start, MONDAY_9.timetz()),
            )
            return meeting

    return make


@pytest.fixture
def meeting(make_meeting):
    return make_meeting()
