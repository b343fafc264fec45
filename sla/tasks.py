"""Celery entry points of the sla app: thin, services do the work.

- ``sla.scan`` (beat, every 15 s, queue ``sla``): one tick of ``services.scan`` — warn,
  breach and escalate due clocks across organizations. Safe to run twice at once (two
  beats, a slow tick overlapping the next): the compare-and-swap updates hand each
  transition to one scanner only. ``expires`` drops ticks a busy worker could not start
  in time; the next tick catches up (the scan works off due times, not off ticks).
- ``sla.pacing`` (beat, every 15 min): marketing commitments behind at mid-period or
  missed at the period's end → both heads, once per commitment, period and checkpoint.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from smarketing.celery import app
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Organization

from . import services

log = logging.getLogger(__name__)

SCAN_INTERVAL_SECONDS = 15.0


@shared_task(name="sla.scan", queue="sla")
def scan() -> dict[str, int]:
    result = services.scan(timezone.now())
    return {
        "warned": len(result.warned),
        "breached": len(result.breached),
        "escalated": len(result.escalated),
        "notified": result.notified,
    }


@shared_task(name="sla.pacing", queue="sla")
def pacing() -> int:
    now = timezone.now()
    sent = 0
    ids = services.organizations_with_active_contract()
    for organization in Organization.objects.filter(pk__in=ids).order_by("pk"):
        with tenant_context(organization.pk):
            sent += services.pacing_check(organization=organization, now=now)
    return sent


app.conf.beat_schedule["sla-scan"] = {
    "task": "sla.scan",
    "schedule": SCAN_INTERVAL_SECONDS,
    "options": {"queue": "sla", "expires": SCAN_INTERVAL_SECONDS - 1},
}
app.conf.beat_schedule["sla-pacing"] = {
    "task": "sla.pacing",
    "schedule": 15 * 60.0,
    "options": {"queue": "sla", "expires": 14 * 60},
}
