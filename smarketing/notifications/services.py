"""Writes of the notifications app: ``notify`` and what the inbox and preferences do.

Delivery guarantees:

- **Never twice.** ``(organization, recipient, dedupe_key)`` is unique in the database
  and rows are inserted with ``ON CONFLICT DO NOTHING``, so two concurrent ``notify``
  calls for the same event create one row; only the rows actually inserted are returned
  and e-mailed.
- **Chat once per event.** The organization's chat webhook (Slack/Teams, ``chat.py``)
  gets one message per ``notify`` call of a kind it wants, deduplicated on the key.
- **E-mail after commit.** New rows that should be e-mailed are marked ``pending``; the
  send task is dispatched with ``transaction.on_commit``. The sender claims each row
  with a compare-and-swap ``UPDATE ... WHERE email_status = 'pending'``, so a second
  worker (a duplicate task, the sweeper) finds nothing to do. The sweeper re-dispatches
  rows whose task was lost.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connections, router, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.db import current_organization_id, tenant_context
from smarketing.tenancy.models import Membership, Organization

from . import kinds
from .models import Notification, NotificationPreference

log = logging.getLogger(__name__)

EMAIL_MAX_ATTEMPTS = 5
# A row still "pending" this long after creation (or its last failed attempt) has lost
# its task; a row "sending" this long has lost its worker.
EMAIL_PENDING_GRACE = timedelta(minutes=1)
EMAIL_SENDING_TIMEOUT = timedelta(minutes=10)
# Transient delivery errors: the row goes back to pending and is retried by the sweeper.
EMAIL_TRANSIENT_ERRORS = (smtplib.SMTPException, OSError)

Status = Notification.EmailStatus


class NotificationError(ServiceError):
    pass


def _recipient_ids(recipients: Iterable[Any]) -> set[int]:
    ids = set()
    for recipient in recipients:
        ids.add(int(recipient if isinstance(recipient, int) else recipient.pk))
    return ids


def _text(value: str | Promise, limit: int | None = None) -> str:
    # Lazy strings (``gettext_lazy``, ``format_lazy``) are rendered per recipient, in
    # the language active at that point.
    text = str(value)
    return text[:limit] if limit else text


def _insert_new(rows: list[Notification]) -> list[int]:
    """INSERT the rows, skipping those whose dedupe key already exists; return the ids
    of the rows inserted. ``bulk_create(ignore_conflicts=True)`` cannot tell which rows
    it inserted, hence the one statement by hand (PostgreSQL, and SQLite >= 3.35)."""
    if not rows:
        return []
    using = router.db_for_write(Notification)
    connection = connections[using]
    meta = Notification._meta
    qn = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    params: list[Any] = []
    for obj in rows:
        for field in fields:
            params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    conflict = ", ".join(
        qn(meta.get_field(name).column) for name in ("organization", "recipient", "dedupe_key")
    )
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    table = qn(meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    pk = qn(meta.pk.column)
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({conflict}) DO NOTHING RETURNING {pk}"  # noqa: S608, E501 (see above)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _dispatch_emails(organization_id: int, notification_ids: list[int]) -> None:
    from .tasks import send_notification_emails

    if notification_ids:
        transaction.on_commit(
            lambda: send_notification_emails.delay(organization_id, notification_ids)
        )


def notify(
    *,
    organization: Organization,
    recipients: Iterable[Any],
    kind: str,
    title: str | Promise,
    body: str | Promise = "",
    url: str = "",
    dedupe_key: str,
    email: bool | None = None,
) -> list[Notification]:
    """Notify members of ``organization`` of one event; return the notifications created.

    ``recipients`` are users (or user ids); those who are not members are skipped.
    ``dedupe_key`` names the event (``f"lead.hot:{lead.pk}"``): a recipient never gets
    the same key twice in an organization, whatever the concurrency. Each recipient's
    preference for ``kind`` decides the channels, else the kind's defaults; ``email``
    overrides the kind's default e-mail channel (``False``: never e-mail), but an
    explicit user preference always wins. A recipient with both channels off gets
    nothing. ``title``/``body`` may be lazy strings: they are rendered in each
    recipient's language (user's, else the organization's).

    Runs in one transaction, in ``organization``'s tenant context: the one already set
    by the request or tenant task, or its own when none is (a shell, a command). Called
    while working for another organization, it refuses: that is a bug, not a feature.
    """
    current = current_organization_id()
    if current is not None and current != organization.pk:
        raise NotificationError(
            "notify() for another organization than the current tenant", code="wrong_tenant"
        )
    with tenant_context(organization.pk):
        created = _notify(
            organization=organization,
            recipients=recipients,
            kind=kind,
            title=title,
            body=body,
            url=url,
            dedupe_key=dedupe_key,
            email=email,
        )
        _enqueue_chat(organization, kind, title, body, url, dedupe_key)
        return created


def _enqueue_chat(organization, kind, title, body, url, dedupe_key) -> None:
    """The organization's chat channel gets the event once (not once per recipient);
    a failure there never undoes the in-app notifications."""
    from . import chat

    try:
        with transaction.atomic():
            chat.enqueue(
                organization=organization,
                kind=kind,
                title=title,
                body=body,
                url=url,
                dedupe_key=dedupe_key,
            )
    except Exception:
        log.exception("chat webhook: could not queue %s %s", kind, dedupe_key)


def _notify(
    *,
    organization: Organization,
    recipients: Iterable[Any],
    kind: str,
    title: str | Promise,
    body: str | Promise,
    url: str,
    dedupe_key: str,
    email: bool | None,
) -> list[Notification]:
    spec = kinds.get(kind)
    if spec is None:
        raise NotificationError(f"unknown notification kind {kind!r}", code="unknown_kind")
    if not dedupe_key:
        raise NotificationError("notify() needs a dedupe_key", code="dedupe_key_required")
    wanted = _recipient_ids(recipients)
    if not wanted:
        return []
    members = dict(
        Membership.objects.for_org(organization)
        .filter(user_id__in=wanted, user__is_active=True)
        .values_list("user_id", "user__language")
    )
    stored = {
        pref.user_id: pref
        for pref in NotificationPreference.objects.for_org(organization).filter(
            user_id__in=members, kind=kind
        )
    }
    now = timezone.now()
    rows = []
    for user_id in sorted(members):
        pref = stored.get(user_id)
        if pref is not None:
            in_app, by_email = pref.in_app, pref.email and email is not False
        else:
            in_app, by_email = spec.in_app, spec.email if email is None else email
        if not (in_app or by_email):
            continue
        with translation.override(members[user_id] or organization.language):
            rows.append(
                Notification(
                    organization=organization,
                    recipient_id=user_id,
                    kind=kind,
                    title=_text(title, 200),
                    body=_text(body),
                    url=url[:500],
                    dedupe_key=dedupe_key[:200],
                    in_app=in_app,
                    created_at=now,
                    email_status=Status.PENDING if by_email else Status.NONE,
                )
            )
    ids = _insert_new(rows)
    if not ids:
        return []
    created = list(
        Notification.objects.for_org(organization).filter(pk__in=ids).order_by("recipient_id")
    )
    _dispatch_emails(organization.pk, [n.pk for n in created if n.email_status == Status.PENDING])
    return created


@dataclass(frozen=True)
class Event:
    """One notification event for ``notify_many``: the arguments of one ``notify`` call."""

    recipients: tuple
    kind: str
    title: Any
    dedupe_key: str
    body: Any = ""
    url: str = ""
    email: bool | None = None


def notify_many(*, organization: Organization, events: Sequence[Event]) -> list[Notification]:
    """``notify`` for many events of one organization in a few queries (the SLA scan's
    batch): the same guarantees, rows and chat messages as one ``notify`` per event."""
    current = current_organization_id()
    if current is not None and current != organization.pk:
        raise NotificationError(
            "notify() for another organization than the current tenant", code="wrong_tenant"
        )
    events = list(events)
    if not events:
        return []
    for event in events:
        if kinds.get(event.kind) is None:
            raise NotificationError(
                f"unknown notification kind {event.kind!r}", code="unknown_kind"
            )
        if not event.dedupe_key:
            raise NotificationError("notify() needs a dedupe_key", code="dedupe_key_required")
    with tenant_context(organization.pk):
        wanted = [_recipient_ids(event.recipients) for event in events]
        everyone = set().union(*wanted)
        members = (
            dict(
                Membership.objects.for_org(organization)
                .filter(user_id__in=everyone, user__is_active=True)
                .values_list("user_id", "user__language")
            )
            if everyone
            else {}
        )
        stored = (
            {
                (pref.user_id, pref.kind): pref
                for pref in NotificationPreference.objects.for_org(organization).filter(
                    user_id__in=members, kind__in={e.kind for e in events}
                )
            }
            if members
            else {}
        )
        now = timezone.now()
        rows = []
        for event, recipient_ids in zip(events, wanted, strict=True):
            spec = kinds.get(event.kind)
            for user_id in sorted(recipient_ids & set(members)):
                pref = stored.get((user_id, event.kind))
                if pref is not None:
                    in_app, by_email = pref.in_app, pref.email and event.email is not False
                else:
                    in_app = spec.in_app
                    by_email = spec.email if event.email is None else event.email
                if not (in_app or by_email):
                    continue
                with translation.override(members[user_id] or organization.language):
                    rows.append(
                        Notification(
                            organization=organization,
                            recipient_id=user_id,
                            kind=event.kind,
                            title=_text(event.title, 200),
                            body=_text(event.body),
                            url=event.url[:500],
                            dedupe_key=event.dedupe_key[:200],
                            in_app=in_app,
                            created_at=now,
                            email_status=Status.PENDING if by_email else Status.NONE,
                        )
                    )
        ids = []
        for start in range(0, len(rows), 500):
            ids += _insert_new(rows[start : start + 500])
        created = (
            list(Notification.objects.for_org(organization).filter(pk__in=ids).order_by("pk"))
            if ids
            else []
        )
        _dispatch_emails(
            organization.pk, [n.pk for n in created if n.email_status == Status.PENDING]
        )
        from . import chat

        try:
            with transaction.atomic():
                chat.enqueue_many(organization=organization, events=events)
        except Exception:
            log.exception("chat webhook: could not queue %s events", len(events))
        return created


# --- e-mail -------------------------------------------------------------------------


def _absolute(url: str) -> str:
    return settings.SITE_URL + url if url.startswith("/") else url


def _render_email(notification: Notification, organization: Organization) -> EmailMessage:
    recipient = notification.recipient
    language = recipient.language or organization.language
    with translation.override(language):
        context = {
            "notification": notification,
            "organization": organization,
            "recipient": recipient,
            "url": _absolute(notification.url),
            "inbox_url": _absolute(
                reverse("notifications:list", kwargs={"org_slug": organization.slug})
            ),
            "preferences_url": _absolute(
                reverse("notifications:preferences", kwargs={"org_slug": organization.slug})
            ),
        }
        subject = render_to_string("notifications/email/subject.txt", context)
        body = render_to_string("notifications/email/body.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split())[:250],
        body=body,
        to=[recipient.email],
        headers={"Content-Language": language},
    )


def notification_email_send(*, organization: Organization, notification_id: int) -> bool:
    """Send one notification's e-mail if it is still pending; True if it was sent.

    The claim is a compare-and-swap: of two workers racing for the row, one updates it
    and the other (blocked on the row lock until the first commits) updates nothing.
    """
    rows = Notification.objects.for_org(organization)
    now = timezone.now()
    claimed = rows.filter(pk=notification_id, email_status=Status.PENDING).update(
        email_status=Status.SENDING, email_claimed_at=now
    )
    if not claimed:
        return False
    notification = rows.select_related("recipient").get(pk=notification_id)
    recipient = notification.recipient
    still_member = (
        recipient.is_active
        and recipient.email
        and Membership.objects.for_org(organization).filter(user_id=recipient.pk).exists()
    )
    if not still_member:
        rows.filter(pk=notification_id).update(email_status=Status.FAILED)
        return False
    try:
        _render_email(notification, organization).send()
    except EMAIL_TRANSIENT_ERRORS as exc:
        attempts = notification.email_attempts + 1
        status = Status.FAILED if attempts >= EMAIL_MAX_ATTEMPTS else Status.PENDING
        rows.filter(pk=notification_id, email_status=Status.SENDING).update(
            email_status=status, email_attempts=attempts
        )
        log.warning(
            "notification %s: e-mail attempt %s failed (%s): %s",
            notification_id,
            attempts,
            status,
            exc,
        )
        return False
    rows.filter(pk=notification_id, email_status=Status.SENDING).update(
        email_status=Status.SENT, emailed_at=timezone.now(), email_attempts=F("email_attempts") + 1
    )
    return True


def _retry_delay(attempts: int) -> timedelta:
    # 1, 2, 4, 8 minutes between attempts.
    return EMAIL_PENDING_GRACE * (2 ** max(attempts - 1, 0))


def notification_emails_requeue(
    *, organization: Organization, now: datetime | None = None
) -> list[int]:
    """The sweeper's work for one organization: give rows left "sending" by a dead
    worker back to pending (counting the attempt), and return the ids of pending rows
    that are due and whose task was lost or failed."""
    now = now or timezone.now()
    rows = Notification.objects.for_org(organization)
    stuck = rows.filter(
        email_status=Status.SENDING, email_claimed_at__lt=now - EMAIL_SENDING_TIMEOUT
    )
    stuck.filter(email_attempts__gte=EMAIL_MAX_ATTEMPTS - 1).update(
        email_status=Status.FAILED, email_attempts=F("email_attempts") + 1
    )
    stuck.update(email_status=Status.PENDING, email_attempts=F("email_attempts") + 1)
    due = []
    pending = rows.filter(
        email_status=Status.PENDING, created_at__lt=now - EMAIL_PENDING_GRACE
    ).values_list("pk", "email_attempts", "email_claimed_at")
    for pk, attempts, claimed_at in pending.order_by("created_at")[:1000]:
        if claimed_at is None or claimed_at + _retry_delay(attempts) <= now:
            due.append(pk)
    return due


# --- inbox and preferences ---------------------------------------------------------


def mark_read(*, membership: Membership, notification: Notification) -> bool:
    """Mark the member's notification read; True if it was unread."""
    if (
        notification.recipient_id != membership.user_id
        or notification.organization_id != membership.organization_id
    ):
        raise NotificationError("not your notification", code="not_found", status=404)
    now = timezone.now()
    changed = (
        Notification.objects.for_org(membership.organization_id)
        .filter(pk=notification.pk, recipient_id=membership.user_id, read_at=None)
        .update(read_at=now)
    )
    if changed:
        notification.read_at = now
    return bool(changed)


def mark_all_read(*, membership: Membership) -> int:
    """Mark every unread notification of the member read; return how many."""
    return (
        Notification.objects.for_org(membership.organization_id)
        .filter(recipient_id=membership.user_id, read_at=None)
        .update(read_at=timezone.now())
    )


def preference_set(
    *, membership: Membership, kind: str, in_app: bool, email: bool
) -> NotificationPreference:
    """Choose the channels of one kind for the member."""
    if kinds.get(kind) is None:
        raise NotificationError(
            f"unknown notification kind {kind!r}", code="unknown_kind", fields={"kind": ["unknown"]}
        )
    pref, _ = NotificationPreference.objects.for_org(membership.organization_id).update_or_create(
        organization_id=membership.organization_id,
        user_id=membership.user_id,
        kind=kind,
        defaults={"in_app": bool(in_app), "email": bool(email)},
    )
    return pref


@transaction.atomic
def preferences_update(*, membership: Membership, choices: dict[str, tuple[bool, bool]]) -> int:
    """Save the preferences table: ``{kind: (in_app, email)}`` for the kinds shown.
    Only choices that differ from the current effective value are written."""
    from .selectors import preferences

    unknown = sorted(code for code in choices if kinds.get(code) is None)
    if unknown:
        raise NotificationError(
            _("Unknown notification kind: %(kinds)s") % {"kinds": ", ".join(unknown)},
            code="unknown_kind",
            fields={"kind": unknown},
        )
    changed = 0
    for current in preferences(membership):
        choice = choices.get(current.kind.code)
        if choice is None or choice == (current.in_app, current.email):
            continue
        preference_set(
            membership=membership, kind=current.kind.code, in_app=choice[0], email=choice[1]
        )
        changed += 1
    return changed
