"""Celery entry points of the predictive score (registered by ``scoring.tasks``).

- ``train_predictive_weekly`` (beat, Monday 04:30 UTC): lists the organizations (the
  system context, for that list only) and dispatches one ``train_predictive`` each.
- ``train_predictive`` (queue ``scoring``): one organization, inside its tenant
  (row-level security applies); below 200 decided leads it trains nothing. Running it
  twice only adds one more row to the history, so it acknowledges late.
"""

from __future__ import annotations

from celery import shared_task
from celery.schedules import crontab

from smarketing.celery import app
from smarketing.tenancy.db import system_context
from smarketing.tenancy.models import Organization
from smarketing.tenancy.tasking import tenant_task

from . import predictive


@tenant_task(queue="scoring", acks_late=True)
def train_predictive(organization) -> bool:
    """Train the organization's predictive model; True when one was trained."""
    return predictive.train_model(organization=organization).trained


@shared_task(name="scoring.predictive_tasks.train_predictive_weekly", queue="scoring")
def train_predictive_weekly() -> int:
    with system_context("predictive score: organizations to retrain", routine=True):
        organization_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for organization_id in organization_ids:
        train_predictive.delay(organization_id)
    return len(organization_ids)


app.conf.beat_schedule["scoring-predictive-weekly"] = {
    "task": "scoring.predictive_tasks.train_predictive_weekly",
    # Monday early morning (Celery runs in UTC), before the week's pipeline review.
    "schedule": crontab(minute=30, hour=4, day_of_week="mon"),
    "options": {"queue": "scoring", "expires": 6 * 3600},
}
