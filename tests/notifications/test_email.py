from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from smarketing.celery import app
from smarketing.notifications import services, tasks
from smarketing.notifications.models import Notification
from smarketing.notifications.services import notification_email_send, notify
from smarketing.tenancy.services import membership_remove

Status = Notification.EmailStatus


@pytest.fixture
def pending(trio, as_org, dispatched):
    """One pending e-mail notification for bob in alpha (its task recorded, not run)."""
    with as_org(trio.alpha):
        (notification,) = notify(
            organization=trio.alpha,
            recipients=[trio.bob],
            kind="lead.hot",
            title="Lead Acme is hot",
            body="Score 92",
            url="/o/alpha/leads/1/",
            dedupe_key="lead.hot:1",
        )
    return notification


def _reload(org, as_org, notification) -> Notification:
    with as_org(org):
        return Notification.objects.for_org(org).get(pk=notification.pk)


def test_task_sends_the_email(trio, as_org, pending, mailoutbox, settings):
    settings.SITE_URL = "https://smarketing.example"
    assert tasks.send_notification_emails(trio.alpha.pk, [pending.pk]) == 1
    (message,) = mailoutbox
    assert message.to == [trio.bob.email]
    assert "Lead Acme is hot" in message.subject and "Alpha" in message.subject
    assert "Score 92" in message.body
    assert "https://smarketing.example/o/alpha/leads/1/" in message.body
    assert "https://smarketing.example/o/alpha/notifications/preferences/" in message.body
    row = _reload(trio.alpha, as_org, pending)
    assert row.email_status == Status.SENT and row.emailed_at and row.email_attempts == 1


@pytest.mark.parametrize(
    ("user_language", "org_language", "expected"),
    [("en", "fr", "en"), ("fr", "en", "fr"), ("", "fr", "fr"), ("", "en", "en")],
)
def test_email_is_in_the_recipients_language(
    trio, as_org, pending, mailoutbox, user_language, org_language, expected
):
    trio.bob.language = user_language
    trio.bob.save()
    trio.alpha.language = org_language
    trio.alpha.save()
    tasks.send_notification_emails(trio.alpha.pk, [pending.pk])
    (message,) = mailoutbox
    assert message.extra_headers["Content-Language"] == expected
    greeting = {"fr": "Bonjour", "en": "Hello"}[expected]
    if expected == "en" or _has_french_catalogue():
        assert message.body.startswith(greeting)


def _has_french_catalogue() -> bool:
    from django.utils import translation

    with translation.override("fr"):
        return translation.gettext("Hello,") != "Hello,"


def test_the_claim_prevents_a_double_send(trio, as_org, pending, mailoutbox):
    with as_org(trio.alpha):
        assert notification_email_send(organization=trio.alpha, notification_id=pending.pk)
        assert not notification_email_send(organization=trio.alpha, notification_id=pending.pk)
    # A duplicate task (the sweeper racing the original) sends nothing either.
    assert tasks.send_notification_emails(trio.alpha.pk, [pending.pk]) == 0
    assert len(mailoutbox) == 1


def test_a_row_being_sent_is_not_sent_again(trio, as_org, pending, mailoutbox):
    with as_org(trio.alpha):
        Notification.objects.for_org(trio.alpha).filter(pk=pending.pk).update(
            email_status=Status.SENDING, email_claimed_at=timezone.now()
        )
        assert not notification_email_send(organization=trio.alpha, notification_id=pending.pk)
    assert mailoutbox == []


def test_smtp_errors_put_the_row_back_then_fail_after_five(
    trio, as_org, pending, monkeypatch, mailoutbox
):
    def broken(self, messages):
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(EmailBackend, "send_messages", broken)
    for attempt in range(1, services.EMAIL_MAX_ATTEMPTS + 1):
        with as_org(trio.alpha):
            assert not notification_email_send(organization=trio.alpha, notification_id=pending.pk)
        row = _reload(trio.alpha, as_org, pending)
        assert row.email_attempts == attempt
        expected = Status.FAILED if attempt == services.EMAIL_MAX_ATTEMPTS else Status.PENDING
        assert row.email_status == expected
    with as_org(trio.alpha):
        assert not notification_email_send(organization=trio.alpha, notification_id=pending.pk)
    assert mailoutbox == []


def test_no_email_to_someone_who_left(trio, as_org, pending, mailoutbox):
    with as_org(trio.alpha):
        membership_remove(actor=trio.alice_membership, target=trio.bob_membership)
    assert tasks.send_notification_emails(trio.alpha.pk, [pending.pk]) == 0
    assert mailoutbox == []
    assert _reload(trio.alpha, as_org, pending).email_status == Status.FAILED


def test_sweeper_waits_a_minute_then_redispatches_pending_rows(
    trio, as_org, pending, dispatched, mailoutbox
):
    dispatched.clear()  # the original task is "lost"
    assert tasks.sweep_notification_emails() == 0  # too recent: its task may be queued
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert tasks.sweep_notification_emails() == 1
    assert dispatched == [(trio.alpha.pk, [pending.pk])]
    assert dispatched.run() == 1
    assert len(mailoutbox) == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert tasks.sweep_notification_emails() == 0  # sent: nothing left


def test_sweeper_backs_off_after_a_failure(trio, as_org, pending, dispatched):
    dispatched.clear()
    now = timezone.now()
    with as_org(trio.alpha):
        Notification.objects.for_org(trio.alpha).filter(pk=pending.pk).update(
            email_attempts=3, email_claimed_at=now
        )
    with time_machine.travel(now + timedelta(minutes=2)):
        assert tasks.sweep_notification_emails() == 0
    with time_machine.travel(now + timedelta(minutes=4, seconds=1)):
        assert tasks.sweep_notification_emails() == 1


def test_sweeper_recovers_rows_stuck_sending(trio, as_org, pending, dispatched, mailoutbox):
    dispatched.clear()
    now = timezone.now()
    with as_org(trio.alpha):
        Notification.objects.for_org(trio.alpha).filter(pk=pending.pk).update(
            email_status=Status.SENDING, email_claimed_at=now
        )
    with time_machine.travel(now + timedelta(minutes=5)):
        assert tasks.sweep_notification_emails() == 0  # maybe still sending
    with time_machine.travel(now + timedelta(minutes=11)):
        assert tasks.sweep_notification_emails() == 1
    row = _reload(trio.alpha, as_org, pending)
    assert row.email_status == Status.PENDING and row.email_attempts == 1
    assert dispatched.run() == 1
    assert len(mailoutbox) == 1


def test_sweeper_works_per_organization(trio, as_org, dispatched):
    for org, user in ((trio.alpha, trio.bob), (trio.charlie_org, trio.charlie)):
        with as_org(org):
            notify(
                organization=org,
                recipients=[user],
                kind="lead.hot",
                title="t",
                dedupe_key="k",
            )
    dispatched.clear()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert tasks.sweep_notification_emails() == 2
    assert sorted(org_id for org_id, _ in dispatched) == sorted(
        [trio.alpha.pk, trio.charlie_org.pk]
    )


def test_sweeper_is_scheduled_every_minute():
    entry = app.conf.beat_schedule["notifications-sweep-emails"]
    assert entry["task"] == tasks.sweep_notification_emails.name
    assert entry["schedule"] == 60.0
    assert tasks.send_notification_emails.queue == "default"
