"""Celery entry points of the meetings app.

- ``create_due_meetings`` (beat, every 5 minutes): for each organization whose local
  time has passed Monday 08:00 of the current week, create that week's meeting and
  freeze its pack. Idempotent by the unique ``(organization, week_start)``; a beat that
  was down on Monday catches up at its next run. Never an ETA task: the schedule is a
  comparison with the local clock, so daylight-saving changes cannot shift it.
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


@shared_task(name="meetings.tasks.create_due_meetings", queue="reports")
def create_due_meetings() -> int:
    now = timezone.now()
    created = 0
    # Organization is not a tenant table: listing them needs no system context.
    for organization in Organization.objects.order_by("pk").iterator():
        try:
            with tenant_context(organization.pk):
                if services.create_due_meeting(organization=organization, now=now):
                    created += 1
        except Exception:  # one organization's failure must not stop the others
            log.exception("weekly meeting for organization %s failed", organization.pk)
    return created


app.conf.beat_schedule["meetings-create-due"] = {
    "task": "meetings.tasks.create_due_meetings",
    "schedule": 300.0,
    "options": {"queue": "reports", "expires": 280},
}
