"""Outbound webhooks, per the Standard Webhooks spec (https://www.standardwebhooks.com).

**Subscriptions** (``WebhookSubscription``): a URL, the event types it wants (``EVENT_TYPES``),
a signing secret ``whsec_<base64 of 32 bytes>`` (encrypted at rest, shown once).

**Outbox**: ``enqueue(organization, event_type, data)`` is called by the signal receivers
(integrations/apps.py) inside the transaction of the change: one ``WebhookDelivery`` per
matching active subscription, with its message id (``msg_<26 base32>``) and the whole
body (``{"type", "timestamp", "data"}``) frozen. A rolled-back change sends nothing; a
committed one is sent by ``tasks.send_deliveries`` (on commit) or, if that task is lost,
by the sweeper (``tasks.sweep_deliveries``, every minute).

**Sending** (``attempt(delivery_id)``): a compare-and-swap claim (``claimed_until``,
status pending/failed, due) committed before the call, so two workers never send one
delivery at the same time; POST with ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``; during a
rotation both secrets sign, space-separated, as the spec asks). 2xx is delivered;
anything else (redirects included, never followed) is retried after ``RETRY_DELAYS``
(5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27 h), ±10 % jitter; then ``dead``.

**Auto-disable**: a subscription whose deliveries all failed for ``DISABLE_AFTER`` (24 h)
and at least ``DISABLE_MIN_FAILURES`` times in a row is disabled, and its admins are
notified; re-enabling it retries what is still pending. **Rotation**: a new secret signs
at once, the previous one keeps signing for ``ROTATION_OVERLAP`` (24 h).
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from standardwebhooks.webhooks import Webhook

from smarketing import crypto
from smarketing.errors import ServiceError
from smarketing.notifications import kinds
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import PERMISSIONS, require_perm

from . import safe_http
from .models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, Any] = {
    "lead.mql": gettext_lazy("A lead became marketing-qualified (MQL)"),
    "lead.hot": gettext_lazy("A lead became hot"),
    "lead.accepted": gettext_lazy("Sales accepted an MQL (SAL)"),
    "lead.rejected": gettext_lazy("Sales rejected an MQL (recycled or disqualified)"),
    "lead.sql": gettext_lazy("A lead became sales-qualified (SQL)"),
    "sla.warned": gettext_lazy("A follow-up deadline is near"),
    "sla.breached": gettext_lazy("A follow-up deadline was missed"),
    "deal.won": gettext_lazy("A deal was won"),
    "meeting.published": gettext_lazy("A meeting pack was published"),
}
SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)
SECRET_BYTES = 32
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1
CLAIM_FOR = timedelta(seconds=60)
TIMEOUT = 15.0
DISABLE_AFTER = timedelta(hours=24)
DISABLE_MIN_FAILURES = 5
ROTATION_OVERLAP = timedelta(hours=24)
MAX_SUBSCRIPTIONS = 20
MAX_RESPONSE = 2000
USER_AGENT = "Smarketing-Webhooks/1.0"
DELIVERIES_SHOWN = 100

kinds.register("webhooks.disabled", gettext_lazy("An outbound webhook was disabled"), email=True)


class WebhookError(ServiceError):
    code = "invalid_webhook_subscription"


# --- Secrets, ids, signatures ----------------------------------------------------------------


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


def new_message_id(now: datetime | None = None) -> str:
    """``msg_`` + a sortable 26-character id (48-bit milliseconds + 80 random bits)."""
    ms = int((now or timezone.now()).timestamp() * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _i in range(26):
        chars.append(_B32[value & 31])
        value >>= 5
    return "msg_" + "".join(reversed(chars))


def sign(*, secret: str, message_id: str, timestamp: datetime, body: str) -> str:
    """``v1,<base64>`` for one secret (the standardwebhooks package)."""
    return Webhook(secret).sign(message_id, timestamp.astimezone(UTC), body)


def signing_secrets(subscription: WebhookSubscription, *, now: datetime) -> list[str]:
    out = [crypto.decrypt(subscription.secret_encrypted)]
    if (
        subscription.previous_secret_encrypted
        and subscription.previous_secret_expires_at
        and subscription.previous_secret_expires_at > now
    ):
        out.append(crypto.decrypt(subscription.previous_secret_encrypted))
    return out


def signed_headers(
    *, subscription: WebhookSubscription, message_id: str, body: str, now: datetime
) -> dict[str, str]:
    timestamp = datetime.fromtimestamp(int(now.timestamp()), tz=UTC)
    signature = " ".join(
        sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body)
        for secret in signing_secrets(subscription, now=now)
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def body_of(delivery: WebhookDelivery) -> str:
    """The exact bytes sent (and signed): compact JSON of the frozen payload."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)


# --- URL safety ----------------------------------------------------------------------------


def _allow_private() -> bool:
    return safe_http.allow_private()


def clean_url(url: str) -> str:
    url = (url or "").strip()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname or len(url) > 500:
        raise WebhookError(
            _("Enter an https:// URL."), fields={"url": [_("Enter an https:// URL.")]}
        )
    if parsed.scheme == "http" and not _allow_private():
        raise WebhookError(
            _("Enter an https:// URL."), fields={"url": [_("Enter an https:// URL.")]}
        )
    if parsed.username or parsed.password:
        message = _("Credentials in the URL are not allowed.")
        raise WebhookError(message, fields={"url": [message]})
    if not _allow_private() and _private_literal(parsed.hostname):
        message = _("This address is not reachable from the Internet.")
        raise WebhookError(message, fields={"url": [message]})
    return url


def _private_literal(host: str) -> bool:
    return safe_http.private_host_name(host)


def clean_event_types(event_types) -> list[str]:
    chosen = [t for t in EVENT_TYPES if t in set(event_types or [])]
    unknown = set(event_types or []) - set(EVENT_TYPES)
    if unknown or not chosen:
        message = _("Choose at least one event among: %(types)s.") % {
            "types": ", ".join(EVENT_TYPES)
        }
        raise WebhookError(message, fields={"event_types": [message]})
    return chosen


# --- Reads ----------------------------------------------------------------------------------


def subscriptions(organization: Organization) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.for_org(organization).order_by("-active", "url")


def get_subscription_for_org(organization: Organization, subscription_id) -> WebhookSubscription:
    try:
        return WebhookSubscription.objects.for_org(organization).get(pk=subscription_id)
    except (WebhookSubscription.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def get_delivery_for_org(organization: Organization, delivery_id) -> WebhookDelivery:
    try:
        return (
            WebhookDelivery.objects.for_org(organization)
            .select_related("subscription")
            .get(pk=delivery_id)
        )
    except (WebhookDelivery.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def deliveries(
    organization: Organization,
    *,
    subscription: WebhookSubscription | None = None,
    status: str = "",
    limit: int = DELIVERIES_SHOWN,
) -> list[WebhookDelivery]:
    qs = WebhookDelivery.objects.for_org(organization).select_related("subscription")
    if subscription is not None:
        qs = qs.filter(subscription=subscription)
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("-created_at", "-pk")[:limit])


# --- Management (settings pages) -------------------------------------------------------------


def _same_org(actor, subscription: WebhookSubscription) -> None:
    if subscription.organization_id != actor.organization_id:
        raise WebhookError(_("Not found."), status=404, code="not_found")


@transaction.atomic
def subscription_create(
    *, actor, url: str, event_types, description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown once)."""
    require_perm(actor, "webhooks.manage")
    org = actor.organization
    url = clean_url(url)
    types = clean_event_types(event_types)
    existing = WebhookSubscription.objects.for_org(org)
    if existing.count() >= MAX_SUBSCRIPTIONS:
        raise WebhookError(_("At most %(n)d webhook subscriptions.") % {"n": MAX_SUBSCRIPTIONS})
    if existing.filter(url=url).exists():
        message = _("A subscription to this URL exists already.")
        raise WebhookError(message, fields={"url": [message]})
    secret = generate_secret()
    subscription = WebhookSubscription.objects.create(
        organization=org,
        url=url,
        description=(description or "").strip()[:200],
        event_types=types,
        secret_encrypted=crypto.encrypt(secret),
        created_by=getattr(actor, "user", None),
    )
    return subscription, secret


@transaction.atomic
def subscription_update(
    *, actor, subscription: WebhookSubscription, url: str, event_types, description: str = ""
) -> WebhookSubscription:
    require_perm(actor, "webhooks.manage")
    _same_org(actor, subscription)
    url = clean_url(url)
    if (
        url != subscription.url
        and WebhookSubscription.objects.for_org(subscription.organization_id)
        .filter(url=url)
        .exclude(pk=subscription.pk)
        .exists()
    ):
        message = _("A subscription to this URL exists already.")
        raise WebhookError(message, fields={"url": [message]})
    subscription.url = url
    subscription.event_types = clean_event_types(event_types)
    subscription.description = (description or "").strip()[:200]
    subscription.save(update_fields=["url", "event_types", "description", "updated_at"])
    return subscription


@transaction.atomic
def subscription_rotate_secret(
    *, actor, subscription: WebhookSubscription, now: datetime | None = None
) -> str:
    """A new secret signs from now on; the current one keeps signing for 24 h (both
    signatures are sent), so the receiver can switch without losing a message."""
    require_perm(actor, "webhooks.manage")
    _same_org(actor, subscription)
    now = now or timezone.now()
    secret = generate_secret()
    subscription.previous_secret_encrypted = subscription.secret_encrypted
    subscription.previous_secret_expires_at = now + ROTATION_OVERLAP
    subscription.secret_encrypted = crypto.encrypt(secret)
    subscription.save(
        update_fields=[
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "secret_encrypted",
            "updated_at",
        ]
    )
    return secret


@transaction.atomic
def subscription_set_active(
    *, actor, subscription: WebhookSubscription, active: bool, now: datetime | None = None
) -> WebhookSubscription:
    """Disable by hand, or re-enable (failure counters reset; what is still pending or
    failed is retried at once)."""
    require_perm(actor, "webhooks.manage")
    _same_org(actor, subscription)
    now = now or timezone.now()
    subscription.active = active
    if active:
        subscription.disabled_reason = ""
        subscription.disabled_at = None
        subscription.consecutive_failures = 0
        subscription.failing_since = None
        WebhookDelivery.objects.for_org(subscription.organization_id).filter(
            subscription=subscription,
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
        ).update(next_attempt_at=now)
        _dispatch_due_on_commit(subscription.organization_id, subscription.pk)
    else:
        subscription.disabled_reason = _("Disabled by %(name)s.") % {"name": _actor_name(actor)}
        subscription.disabled_at = now
    subscription.save(
        update_fields=[
            "active",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "failing_since",
            "updated_at",
        ]
    )
    return subscription


@transaction.atomic
def subscription_delete(*, actor, subscription: WebhookSubscription) -> None:
    require_perm(actor, "webhooks.manage")
    _same_org(actor, subscription)
    subscription.delete()


@transaction.atomic
def delivery_redeliver(
    *, actor, delivery: WebhookDelivery, now: datetime | None = None
) -> WebhookDelivery:
    """Send a delivery again (same message id and body, so a receiver that already has
    it can tell), with a fresh retry schedule."""
    require_perm(actor, "webhooks.manage")
    if delivery.organization_id != actor.organization_id:
        raise WebhookError(_("Not found."), status=404, code="not_found")
    now = now or timezone.now()
    WebhookDelivery.objects.for_org(delivery.organization_id).filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        claimed_until=None,
    )
    delivery.refresh_from_db()
    org_id, ids = delivery.organization_id, [delivery.pk]
    transaction.on_commit(lambda: _send_task().delay(org_id, ids), robust=True)
    return delivery


def _actor_name(actor) -> str:
    user = getattr(actor, "user", None)
    return (user.get_full_name() or user.email) if user else "?"


def send_test(*, actor, subscription: WebhookSubscription) -> WebhookDelivery:
    """A ``webhook.test`` message to check the receiver (delivery log like any other)."""
    require_perm(actor, "webhooks.manage")
    _same_org(actor, subscription)
    return _create_deliveries(
        subscription.organization_id,
        [subscription],
        "webhook.test",
        {"message": "test"},
        timezone.now(),
    )[0]


# --- Outbox ----------------------------------------------------------------------------------


def _send_task():
    from .tasks import send_deliveries

    return send_deliveries


def enqueue(
    *, organization: Organization | int, event_type: str, data: dict, at: datetime | None = None
) -> list[WebhookDelivery]:
    """Deliveries of one event to the subscriptions that want it, in the current
    transaction; sent once it commits."""
    org_id = organization if isinstance(organization, int) else organization.pk
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    wanted = [
        sub
        for sub in WebhookSubscription.objects.for_org(org_id).filter(active=True)
        if event_type in (sub.event_types or [])
    ]
    if not wanted:
        return []
    return _create_deliveries(org_id, wanted, event_type, data, at or timezone.now())


def _create_deliveries(org_id, subs, event_type, data, at) -> list[WebhookDelivery]:
    created = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization_id=org_id,
                subscription=sub,
                event_type=event_type,
                message_id=new_message_id(at),
                payload={"type": event_type, "timestamp": at.isoformat(), "data": data},
                next_attempt_at=at,
                created_at=at,
            )
            for sub in subs
        ]
    )
    ids = [d.pk for d in created]
    if ids and ids[0] is None:  # backends that return no ids from bulk_create
        ids = list(
            WebhookDelivery.objects.for_org(org_id)
            .filter(message_id__in=[d.message_id for d in created])
            .values_list("pk", flat=True)
        )
    transaction.on_commit(lambda: _send_task().delay(org_id, ids), robust=True)
    return created


def _dispatch_due_on_commit(org_id: int, subscription_id: int) -> None:
    def dispatch():
        with tenant_context(org_id):
            ids = list(
                WebhookDelivery.objects.for_org(org_id)
                .filter(
                    subscription_id=subscription_id,
                    status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
                )
                .values_list("pk", flat=True)[:500]
            )
        if ids:
            _send_task().delay(org_id, ids)

    transaction.on_commit(dispatch, robust=True)


# --- Sending -------------------------------------------------------------------------------


@dataclass
class AttemptResult:
    delivery_id: int
    status: str  # delivered, failed, dead, skipped
    status_code: int | None = None
    error: str = ""
    next_attempt_at: datetime | None = None


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT):
    """(status code or None, short response text or error). The host is resolved once
    and the POST goes to that vetted address (integrations/safe_http.py): no private
    address, whatever the DNS answers next; a redirect is a failed attempt."""
    try:
        response = safe_http.safe_request(
            "POST", url, body=body, headers=headers, timeout=timeout, max_body=MAX_RESPONSE
        )
    except safe_http.UnsafeURL as error:
        return None, str(error)
    except OSError as error:
        return None, f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    return response.status, response.body.decode("utf-8", "replace")


def next_delay(attempts: int) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt; None when it was the last."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempts - 1]
    return delay * (1 + random.uniform(-JITTER, JITTER))  # noqa: S311 (not crypto)


def claim(org_id: int, delivery_id: int, now: datetime) -> bool:
    """Compare-and-swap: True for the one worker that gets the delivery."""
    with tenant_context(org_id):
        active = list(
            WebhookSubscription.objects.for_org(org_id)
            .filter(active=True, deliveries__pk=delivery_id)
            .values_list("pk", flat=True)
        )
        if not active:
            return False
        # Only conditions on the delivery row itself, with literal values: PostgreSQL
        # re-checks them on the row a concurrent claim just wrote (a join or a
        # subquery here would be evaluated on the old snapshot and let two through).
        return bool(
            WebhookDelivery.objects.for_org(org_id)
            .filter(
                pk=delivery_id,
                subscription_id__in=active,
                status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
                next_attempt_at__lte=now,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + CLAIM_FOR, attempts=F("attempts") + 1, last_attempt_at=now)
        )


def attempt(org_id: int, delivery_id: int, *, now: datetime | None = None) -> AttemptResult:
    """One attempt of one delivery (claim → POST outside any transaction → record)."""
    now = now or timezone.now()
    if not claim(org_id, delivery_id, now):
        return AttemptResult(delivery_id, "skipped")
    with tenant_context(org_id):
        delivery = (
            WebhookDelivery.objects.for_org(org_id)
            .select_related("subscription")
            .get(pk=delivery_id)
        )
        subscription = delivery.subscription
        body = body_of(delivery)
        try:
            headers = signed_headers(
                subscription=subscription, message_id=delivery.message_id, body=body, now=now
            )
        except crypto.DecryptionError:
            headers = None
    started = time.monotonic()
    if headers is None:
        code, text = None, "the signing secret cannot be decrypted (encryption key changed)"
    else:
        code, text = post(subscription.url, body.encode(), headers)
    duration = int((time.monotonic() - started) * 1000)
    return record(org_id, delivery_id, code=code, text=text, duration_ms=duration, now=now)


def record(
    org_id: int, delivery_id: int, *, code: int | None, text: str, duration_ms: int, now: datetime
) -> AttemptResult:
    ok = code is not None and 200 <= code < 300
    with tenant_context(org_id):
        delivery = (
            WebhookDelivery.objects.for_org(org_id)
            .select_related("subscription")
            .select_for_update()
            .get(pk=delivery_id)
        )
        delivery.claimed_until = None
        delivery.last_status_code = code
        delivery.last_duration_ms = duration_ms
        subscription = (
            WebhookSubscription.objects.for_org(org_id)
            .select_for_update()
            .get(pk=delivery.subscription_id)
        )
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
            subscription.consecutive_failures = 0
            subscription.failing_since = None
            subscription.last_success_at = now
        else:
            delivery.last_error = (f"HTTP {code}: {text}" if code is not None else text)[
                :MAX_RESPONSE
            ]
            delay = next_delay(delivery.attempts)
            if delay is None:
                delivery.status = WebhookDelivery.Status.DEAD
            else:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = now + delay
            subscription.consecutive_failures += 1
            subscription.failing_since = subscription.failing_since or now
        delivery.save(
            update_fields=[
                "claimed_until",
                "last_status_code",
                "last_duration_ms",
                "status",
                "delivered_at",
                "last_error",
                "next_attempt_at",
            ]
        )
        disabled = (
            not ok
            and subscription.active
            and subscription.consecutive_failures >= DISABLE_MIN_FAILURES
            and subscription.failing_since is not None
            and now - subscription.failing_since >= DISABLE_AFTER
        )
        if disabled:
            subscription.active = False
            subscription.disabled_at = now
            # Stored text: written in the organization's language, whoever's worker runs.
            language = (
                Organization.objects.filter(pk=subscription.organization_id)
                .values_list("language", flat=True)
                .first()
            )
            with translation.override(language or None):
                subscription.disabled_reason = _(
                    "Disabled automatically: every delivery failed for 24 hours "
                    "(%(n)d attempts in a row)."
                ) % {"n": subscription.consecutive_failures}
        subscription.save(
            update_fields=[
                "consecutive_failures",
                "failing_since",
                "last_success_at",
                "active",
                "disabled_at",
                "disabled_reason",
            ]
        )
        if disabled:
            _notify_disabled(subscription, now)
    return AttemptResult(
        delivery_id,
        delivery.status,
        code,
        delivery.last_error,
        delivery.next_attempt_at if delivery.status == WebhookDelivery.Status.FAILED else None,
    )


def _notify_disabled(subscription: WebhookSubscription, now: datetime) -> None:
    from django.urls import reverse

    from smarketing.notifications.services import notify

    org = Organization.objects.get(pk=subscription.organization_id)
    roles = PERMISSIONS["webhooks.manage"]
    admins = list(
        Membership.objects.for_org(org)
        .filter(role__in=list(roles))
        .values_list("user_id", flat=True)
    )
    try:
        url = reverse("integrations-webhook", args=[org.slug, subscription.pk])
    except Exception:
        url = ""
    notify(
        organization=org,
        recipients=admins,
        kind="webhooks.disabled",
        title=gettext_lazy("An outbound webhook was disabled"),
        body=subscription.url,
        url=url,
        dedupe_key=f"webhooks.disabled:{subscription.pk}:{int(now.timestamp())}",
    )


def send(
    org_id: int, delivery_ids: list[int], *, now: datetime | None = None
) -> list[AttemptResult]:
    return [attempt(org_id, delivery_id, now=now) for delivery_id in delivery_ids]


def due_delivery_ids(org_id: int, *, now: datetime, limit: int = 500) -> list[int]:
    with tenant_context(org_id):
        return list(
            WebhookDelivery.objects.for_org(org_id)
            .filter(
                status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
                next_attempt_at__lte=now,
                subscription__active=True,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )


def sweep(*, now: datetime | None = None) -> dict[int, list[int]]:
    """{organization id: due delivery ids} across organizations (the beat sweeper)."""
    from smarketing.tenancy.db import system_context

    now = now or timezone.now()
    with system_context("webhook delivery sweeper", routine=True):
        org_ids = sorted(
            set(
                WebhookDelivery.unscoped.filter(
                    status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
                    next_attempt_at__lte=now,
                ).values_list("organization_id", flat=True)[:10_000]
            )
        )
    return {org_id: ids for org_id in org_ids if (ids := due_delivery_ids(org_id, now=now))}
