"""Celery entry points of the integrations app: thin, ids in.

- ``sync_connection`` (queue ``ingest``): one sync of one connection (integrations/sync.py);
  dispatched by ``sweep_connections`` and by "sync now".
- ``sweep_connections`` (beat, every minute): connections due — last sync older than
  ``SYNC_EVERY`` (5 min), or "sync now" asked — get a sync task.
- ``push_leads`` (queue ``default``): the leads whose stage changed in one committed
  transaction, to one CRM (vendor batch calls); retried with backoff on retryable vendor
  errors. ``push_lead``: one lead (kept for callers of the single form).
- ``send_deliveries`` (queue ``default``): outbound webhook attempts, on commit.
- ``sweep_deliveries`` (beat, every 30 s): due retries and lost sends.
- ``prune`` (beat, daily): inbound receipts older than 2 days, logs older than 30 days,
  delivered webhook deliveries older than 30 days.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from smarketing.celery import app
from smarketing.tenancy.db import system_context

from . import sync, webhooks_out
from .connectors.base import ConnectorError
from .models import (
    Connection,
    ConnectionLog,
    Health,
    InboundReceipt,
    SyncRun,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

SYNC_EVERY = timedelta(minutes=5)
SYNC_EXPIRES = 240  # seconds
PUSH_RETRIES = 6
SHORT_RETRY = timedelta(minutes=10)


@shared_task(name="integrations.tasks.sync_connection", queue="ingest")
def sync_connection(organization_id: int, connection_id: int, trigger: str = "schedule"):
    run = sync.sync_connection(
        organization_id=organization_id, connection_id=connection_id, trigger=trigger
    )
    return run.status if run else None


def due_connections(now=None) -> list[tuple[int, int]]:
    now = now or timezone.now()
    with system_context("integrations sweeper: connections due", routine=True):
        rows = (
            Connection.unscoped.exclude(status=Health.DISABLED)
            .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now))
            .filter(
                Q(last_sync_at__isnull=True)
                | Q(last_sync_at__lt=now - SYNC_EVERY)
                | Q(sync_requested_at__isnull=False)
            )
            .values_list("organization_id", "pk", "vendor")
        )
        rows = list(rows)
    from .connectors.base import get_connector

    due = []
    for org_id, pk, vendor in rows:
        connector = get_connector(vendor)
        if connector is not None and (connector.streams or connector.is_crm()):
            due.append((org_id, pk))
    return due


@shared_task(name="integrations.tasks.sweep_connections", queue="ingest")
def sweep_connections() -> int:
    due = due_connections()
    for org_id, pk in due:
        # A task still queued after the next sweep is stale (that sweep sent a fresh one).
        sync_connection.apply_async((org_id, pk, "schedule"), expires=SYNC_EXPIRES)
    return len(due)


@shared_task(
    name="integrations.tasks.push_lead", queue="default", bind=True, max_retries=PUSH_RETRIES
)
def push_lead(self, organization_id: int, connection_id: int, lead_id: int, change: dict):
    try:
        return sync.push_lead_to(
            organization_id=organization_id,
            connection_id=connection_id,
            lead_id=lead_id,
            change=change,
        )
    except ConnectorError as error:
        if error.retryable and self.request.retries < PUSH_RETRIES:
            raise self.retry(countdown=min(3600, 30 * 4**self.request.retries)) from error
        log.warning("push of lead %s to connection %s failed: %s", lead_id, connection_id, error)
        return None


@shared_task(
    name="integrations.tasks.push_leads", queue="default", bind=True, max_retries=PUSH_RETRIES
)
def push_leads(self, organization_id: int, connection_id: int, items: list):
    """Many leads to one CRM (one task per connection and committed transaction)."""
    try:
        return len(
            sync.push_leads_to(
                organization_id=organization_id, connection_id=connection_id, items=items
            )
        )
    except ConnectorError as error:
        if error.retryable and self.request.retries < PUSH_RETRIES:
            raise self.retry(countdown=min(3600, 30 * 4**self.request.retries)) from error
        log.warning(
            "push of %s leads to connection %s failed: %s", len(items), connection_id, error
        )
        return 0


@shared_task(name="integrations.tasks.send_deliveries", queue="default")
def send_deliveries(organization_id: int, delivery_ids: list[int]) -> int:
    """Attempt each; a retry due within ``SHORT_RETRY`` (the 5 s and 5 min steps) gets
    its own delayed task, later ones are the sweeper's."""
    results = webhooks_out.send(organization_id, delivery_ids)
    now = timezone.now()
    for result in results:
        if result.next_attempt_at is not None and result.next_attempt_at - now <= SHORT_RETRY:
            countdown = max(1.0, (result.next_attempt_at - now).total_seconds())
            send_deliveries.apply_async(
                (organization_id, [result.delivery_id]), countdown=countdown
            )
    return sum(1 for r in results if r.status == WebhookDelivery.Status.DELIVERED)


@shared_task(name="integrations.tasks.sweep_deliveries", queue="default")
def sweep_deliveries() -> int:
    due = webhooks_out.sweep()
    for org_id, ids in due.items():
        for start in range(0, len(ids), 50):
            send_deliveries.delay(org_id, ids[start : start + 50])
    return sum(len(ids) for ids in due.values())


@shared_task(name="integrations.tasks.prune", queue="default")
def prune() -> None:
    now = timezone.now()
    with system_context("integrations: prune old receipts, logs and deliveries"):
        InboundReceipt.unscoped.filter(received_at__lt=now - timedelta(days=2)).delete()
        ConnectionLog.unscoped.filter(at__lt=now - timedelta(days=30)).delete()
        SyncRun.unscoped.filter(started_at__lt=now - timedelta(days=30)).delete()
        WebhookDelivery.unscoped.filter(
            status=WebhookDelivery.Status.DELIVERED, created_at__lt=now - timedelta(days=30)
        ).delete()


app.conf.beat_schedule["integrations-sweep-connections"] = {
    "task": "integrations.tasks.sweep_connections",
    "schedule": 60.0,
    "options": {"queue": "ingest", "expires": 55},
}
app.conf.beat_schedule["integrations-sweep-deliveries"] = {
    "task": "integrations.tasks.sweep_deliveries",
    "schedule": 30.0,
    "options": {"queue": "default", "expires": 25},
}
app.conf.beat_schedule["integrations-prune"] = {
    "task": "integrations.tasks.prune",
    "schedule": 86400.0,
    "options": {"queue": "default", "expires": 3600},
}
