"""Celery entry points of the notifications app: thin, ids in, services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from smarketing.celery import app
from smarketing.tenancy.db import system_context, tenant_context
from smarketing.tenancy.models import Organization
from smarketing.tenancy.tasking import tenant_task

from . import services
from .models import Notification

log = logging.getLogger(__name__)


@tenant_task(queue="default")
def send_notification_emails(organization, notification_ids: list[int]) -> int:
    """Send the pending e-mails among ``notification_ids``; return how many were sent.

    Safe to run twice: each row is claimed with a compare-and-swap, and the duplicate
    finds it no longer pending. Transient SMTP errors are not retried here; the row goes
    back to pending and the sweeper retries it with back-off.
    """
    sent = 0
    for notification_id in notification_ids:
        if services.notification_email_send(
            organization=organization, notification_id=int(notification_id)
        ):
            sent += 1
    return sent


@shared_task(name="smarketing.notifications.tasks.sweep_notification_emails", queue="default")
def sweep_notification_emails() -> int:
    """Every minute: re-dispatch e-mails whose task was lost, failed transiently, or
    whose worker died mid-send. The system context only finds which organizations have
    such rows (one indexed query on the partial index); the work runs per organization
    under its own tenant."""
    now = timezone.now()
    with system_context("notification e-mail sweeper: organizations with due e-mails"):
        organization_ids = list(
            Notification.unscoped.filter(
                email_status__in=[
                    Notification.EmailStatus.PENDING,
                    Notification.EmailStatus.SENDING,
                ],
                created_at__lt=now - services.EMAIL_PENDING_GRACE,
            )
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    dispatched = 0
    for organization in Organization.objects.filter(pk__in=organization_ids).order_by("pk"):
        with tenant_context(organization.pk):
            due = services.notification_emails_requeue(organization=organization, now=now)
        if due:
            send_notification_emails.delay(organization.pk, due)
            dispatched += len(due)
    if dispatched:
        log.info("notification sweeper: re-dispatched %s e-mails", dispatched)
    return dispatched


app.conf.beat_schedule["notifications-sweep-emails"] = {
    "task": "smarketing.notifications.tasks.sweep_notification_emails",
    "schedule": 60.0,
    "options": {"queue": "default", "expires": 55},
}


@tenant_task(queue="default")
def deliver_chat(organization, delivery_ids: list[int]) -> int:
    """Send these chat messages if still pending and due (a duplicate task finds them
    claimed); failures go back to pending with back-off for the sweeper."""
    from . import chat

    return sum(
        1 for pk in delivery_ids if chat.deliver(organization=organization, delivery_id=int(pk))
    )


@shared_task(name="smarketing.notifications.tasks.sweep_chat_deliveries", queue="default")
def sweep_chat_deliveries() -> int:
    """Every 30 s: send chat messages that are due (retries, lost tasks, dead workers).
    The system context only finds the organizations (partial index); each runs under
    its own tenant."""
    from . import chat
    from .models import ChatDelivery

    now = timezone.now()
    with system_context("chat sweeper: organizations with due deliveries", routine=True):
        organization_ids = list(
            ChatDelivery.unscoped.filter(
                status__in=[ChatDelivery.Status.PENDING, ChatDelivery.Status.SENDING],
                next_attempt_at__lte=now,
            )
            .order_by()
            .values_list("organization_id", flat=True)
            .distinct()
        )
    sent = 0
    for organization in Organization.objects.filter(pk__in=organization_ids).order_by("pk"):
        with tenant_context(organization.pk):
            due = chat.due_deliveries(organization=organization, now=now)
        for pk in due:
            with tenant_context(organization.pk):
                sent += chat.deliver(organization=organization, delivery_id=pk)
    return sent


app.conf.beat_schedule["notifications-sweep-chat"] = {
    "task": "smarketing.notifications.tasks.sweep_chat_deliveries",
    "schedule": 30.0,
    "options": {"queue": "default", "expires": 25},
}
