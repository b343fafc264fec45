"""Celery entry points of the dashboards app: keep the daily KPI rollups.

- ``refresh_rollups`` (beat, every 5 minutes): each organization's closed days not
  built yet (so a few minutes after local midnight yesterday is in the rollups; today
  is always read live);
- ``rebuild_recent_rollups`` (beat, nightly): the last ``NIGHTLY_DAYS`` closed days
  again, so late events and edited deals reach the rollups.

Both are idempotent (a day's rows are replaced under the organization's rollup lock) and
work organization by organization, each in its own tenant transaction.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.schedules import crontab

from smarketing.celery import app
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Organization

from . import rollups

log = logging.getLogger(__name__)


def _each_organization(**options) -> int:
    done = 0
    for organization in Organization.objects.order_by("pk"):
        try:
            with tenant_context(organization.pk):
                if rollups.refresh(organization, **options) is not None:
                    done += 1
        except Exception:  # one organization's failure must not stop the others
            log.exception("KPI rollups of organization %s failed", organization.pk)
    return done


@shared_task(name="dashboards.tasks.refresh_rollups", queue="reports")
def refresh_rollups() -> int:
    return _each_organization()


@shared_task(name="dashboards.tasks.rebuild_recent_rollups", queue="reports")
def rebuild_recent_rollups(days: int = rollups.NIGHTLY_DAYS) -> int:
    return _each_organization(days=days)


app.conf.beat_schedule["dashboards-refresh-rollups"] = {
    "task": "dashboards.tasks.refresh_rollups",
    "schedule": 300.0,
    "options": {"queue": "reports", "expires": 280},
}
app.conf.beat_schedule["dashboards-rebuild-recent-rollups"] = {
    "task": "dashboards.tasks.rebuild_recent_rollups",
    "schedule": crontab(hour=2, minute=30),
    "options": {"queue": "reports", "expires": 3 * 3600},
}
