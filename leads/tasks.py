"""Celery tasks of the leads app. Celery autodiscovers ``<app>/tasks.py`` only, so the
task modules of each feature are imported here to be registered."""

from __future__ import annotations

import random

from django.conf import settings
from django.utils import timezone

from smarketing.celery import app
from smarketing.tenancy.tasking import tenant_task

from . import import_tasks  # noqa: F401  (registers run_import, the CSV import)


@tenant_task(queue="ingest", ignore_result=True)
def demo_traffic(organization) -> int:
    """A few seconds of simulated website traffic, through the real ingestion path."""
    from .simulator import live_tick

    return live_tick(organization, random.Random(), timezone.now())  # noqa: S311 — demo data


@app.task(name="leads.tasks.demo_traffic_tick", queue="ingest", ignore_result=True)
def demo_traffic_tick() -> None:
    from smarketing.tenancy.management.commands.load_demo import DEMO_SLUG
    from smarketing.tenancy.models import Organization

    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    if organization is not None:
        demo_traffic(organization.pk)


if settings.DEMO_TRAFFIC:
    app.conf.beat_schedule["leads-demo-traffic"] = {
        "task": "leads.tasks.demo_traffic_tick",
        "schedule": float(settings.DEMO_TRAFFIC_SECONDS),
    }
