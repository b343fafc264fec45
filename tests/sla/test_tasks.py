"""The beat tasks' bodies, run in-process: ``sla.scan`` and ``sla.pacing``."""

from __future__ import annotations

import pytest
import time_machine

from sla import tasks
from sla.models import Trigger
from smarketing.celery import app
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

from .conftest import FRIDAY_1730, paris

pytestmark = pytest.mark.django_db


def test_the_beat_schedule():
    import smarketing.notifications.tasks  # noqa: F401 - what beat's autodiscovery imports

    schedule = app.conf.beat_schedule
    assert schedule["sla-scan"]["task"] == "sla.scan" and schedule["sla-scan"]["schedule"] <= 30
    assert schedule["sla-scan"]["options"]["queue"] == "sla"
    assert schedule["sla-pacing"]["task"] == "sla.pacing"
    assert "notifications-sweep-chat" in schedule


def test_the_scan_task(trio, signed, make_lead):
    from sla import services

    lead = make_lead(stage="mql", owner=trio.bob)
    with tenant_context(trio.alpha.pk):
        services.start_clocks(trio.alpha, lead, Trigger.BECAME_HOT, FRIDAY_1730, now=FRIDAY_1730)
    with time_machine.travel(paris(2026, 1, 12, 9, 31), tick=False):
        assert tasks.scan() == {"warned": 0, "breached": 1, "escalated": 0, "notified": 1}
        assert tasks.scan()["breached"] == 0


def test_the_pacing_task(trio, heads, signed):
    with time_machine.travel(paris(2026, 1, 17), tick=False):
        assert tasks.pacing() == 4
        assert tasks.pacing() == 0
    with tenant_context(trio.alpha.pk):
        assert Notification.objects.for_org(trio.alpha).filter(kind="marketing.behind").count() == 4
