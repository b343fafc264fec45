"""The outbound chat channel: one message per notification event to the organization's
Slack- or Teams-style incoming webhook.

- **Once per event.** ``notify()`` calls ``enqueue`` once per call (not per recipient);
  ``(organization, webhook, dedupe_key)`` is unique and rows are inserted with
  ``ignore_conflicts``, so the same event never makes two messages.
- **Signed.** The body is ``{"text": "..."}`` (what Slack and Teams incoming webhooks
  accept); ``X-Smarketing-Timestamp`` is the Unix time and ``X-Smarketing-Signature`` is
  ``v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, so a relay can verify it.
- **Retried with back-off.** The sender claims a row with a compare-and-swap
  (``pending`` → ``sending``); a 2xx marks it sent; a network error, a 429 or a 5xx puts
  it back to pending for 1 min, 5 min, 30 min, 2 h; after that (or on another 4xx) it
  is failed. The sweeper (beat, every 30 s) sends what is due and takes back rows left
  ``sending`` by a dead worker. Every attempt is logged on the row (status code, error).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from smarketing import crypto
from smarketing.errors import ServiceError
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .models import ChatDelivery, ChatWebhook

log = logging.getLogger(__name__)

DEFAULT_KINDS = ["sla.*"]
RETRY_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SENDING_TIMEOUT = timedelta(minutes=5)
REQUEST_TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Smarketing-Signature"
TIMESTAMP_HEADER = "X-Smarketing-Timestamp"
Status = ChatDelivery.Status


class ChatError(ServiceError):
    pass


# --- the webhook ------------------------------------------------------------------------


def _allow_insecure() -> bool:
    """Plain http and local addresses: development and tests only."""
    return bool(getattr(settings, "CHAT_WEBHOOK_ALLOW_INSECURE", settings.DEBUG))


def validate_url(url: str) -> str:
    url = (url or "").strip()
    parsed = urllib.parse.urlsplit(url)
    invalid = ChatError(
        _("Enter the incoming-webhook address (https://…)."),
        code="invalid_url",
        fields={"url": [_("Enter a valid https:// address.")]},
    )
    if parsed.scheme not in ("https", "http") or not parsed.hostname or len(url) > 2000:
        raise invalid
    if parsed.scheme == "http" and not _allow_insecure():
        raise invalid
    host = parsed.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    local = host == "localhost" or (
        address is not None and (address.is_private or address.is_loopback or address.is_link_local)
    )
    if local and not _allow_insecure():
        raise ChatError(
            _("The address must be reachable on the internet."),
            code="invalid_url",
            fields={"url": [_("Local and private addresses are not allowed.")]},
        )
    return url


def url_hint(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    tail = parsed.path[-4:] if len(parsed.path) > 8 else ""
    return f"{parsed.scheme}://{parsed.netloc}/…{tail}"[:120]


def webhook_for(organization: Organization) -> ChatWebhook | None:
    return ChatWebhook.objects.for_org(organization).first()


def webhook_url(webhook: ChatWebhook) -> str:
    return crypto.decrypt(webhook.url_encrypted)


def webhook_secret(webhook: ChatWebhook) -> str:
    return crypto.decrypt(webhook.secret_encrypted)


def _clean_kinds(kinds) -> list[str]:
    from . import kinds as registry

    cleaned = []
    for raw in kinds or []:
        pattern = str(raw).strip()
        if not pattern:
            continue
        known = pattern == "*" or (
            registry.get(pattern) is not None
            or (
                pattern.endswith(".*")
                and any(k.code.startswith(pattern[:-1]) for k in registry.all_kinds())
            )
        )
        if not known:
            raise ChatError(
                _("Unknown notification kind: %(kind)s") % {"kind": pattern},
                code="unknown_kind",
                fields={"kinds": [_("Unknown: %(kind)s") % {"kind": pattern}]},
            )
        if pattern not in cleaned:
            cleaned.append(pattern)
    return cleaned or list(DEFAULT_KINDS)


@transaction.atomic
def webhook_save(
    *,
    actor,
    organization: Organization,
    url: str | None = None,
    name: str | None = None,
    kinds=None,
    active: bool | None = None,
) -> ChatWebhook:
    """Create or change the organization's chat webhook. An empty ``url`` keeps the
    stored one (it is never shown back)."""
    if actor is not None:
        require_perm(actor, "sla.manage")
    webhook = ChatWebhook.objects.for_org(organization).select_for_update().first()
    if webhook is None:
        if not url:
            raise ChatError(
                _("Enter the incoming-webhook address."),
                code="invalid_url",
                fields={"url": [_("Required.")]},
            )
        webhook = ChatWebhook(
            organization=organization,
            secret_encrypted=crypto.encrypt(secrets.token_urlsafe(32)),
            kinds=list(DEFAULT_KINDS),
        )
    if url:
        clean = validate_url(url)
        webhook.url_encrypted = crypto.encrypt(clean)
        webhook.url_hint = url_hint(clean)
    if name is not None:
        webhook.name = name.strip()[:100] or "Slack / Teams"
    if kinds is not None:
        webhook.kinds = _clean_kinds(kinds)
    if active is not None:
        webhook.active = bool(active)
    webhook.save()
    return webhook


@transaction.atomic
def webhook_delete(*, actor, organization: Organization) -> bool:
    if actor is not None:
        require_perm(actor, "sla.manage")
    deleted, _rows = ChatWebhook.objects.for_org(organization).delete()
    return bool(deleted)


@transaction.atomic
def webhook_rotate_secret(*, actor, organization: Organization) -> ChatWebhook:
    if actor is not None:
        require_perm(actor, "sla.manage")
    webhook = ChatWebhook.objects.for_org(organization).select_for_update().first()
    if webhook is None:
        raise ChatError(_("No chat webhook yet."), code="not_found", status=404)
    webhook.secret_encrypted = crypto.encrypt(secrets.token_urlsafe(32))
    webhook.save(update_fields=["secret_encrypted", "updated_at"])
    return webhook


# --- messages ---------------------------------------------------------------------------


def message_text(organization: Organization, title, body="", url: str = "") -> str:
    """One line for the channel, in the organization's language."""
    with translation.override(organization.language or "fr"):
        text = str(title)
        extra = str(body) if isinstance(body, Promise) else body
        if extra:
            text += f" — {extra}"
        if url:
            absolute = settings.SITE_URL + url if url.startswith("/") else url
            text += f" <{absolute}>"
    return text[:3000]


def enqueue(
    *, organization: Organization, kind: str, title, body="", url: str = "", dedupe_key: str
) -> ChatDelivery | None:
    """Queue the message of one notification event, once; dispatched after commit."""
    webhook = ChatWebhook.objects.for_org(organization).filter(active=True).first()
    if webhook is None or not webhook.wants(kind):
        return None
    now = timezone.now()
    ChatDelivery.objects.bulk_create(
        [
            ChatDelivery(
                organization=organization,
                webhook=webhook,
                kind=kind,
                dedupe_key=dedupe_key[:200],
                text=message_text(organization, title, body, url),
                next_attempt_at=now,
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    delivery = (
        ChatDelivery.objects.for_org(organization)
        .filter(webhook=webhook, dedupe_key=dedupe_key[:200], created_at=now)
        .first()
    )
    if delivery is None:
        return None  # the event was already queued
    org_id, delivery_id = organization.pk, delivery.pk

    def dispatch() -> None:
        from .tasks import deliver_chat

        deliver_chat.delay(org_id, [delivery_id])

    transaction.on_commit(dispatch, robust=True)
    return delivery


def enqueue_many(*, organization: Organization, events) -> list[int]:
    """``enqueue`` for many events (``services.Event``) in three queries."""
    webhook = ChatWebhook.objects.for_org(organization).filter(active=True).first()
    if webhook is None:
        return []
    wanted = [e for e in events if webhook.wants(e.kind)]
    if not wanted:
        return []
    now = timezone.now()
    ChatDelivery.objects.bulk_create(
        [
            ChatDelivery(
                organization=organization,
                webhook=webhook,
                kind=e.kind,
                dedupe_key=e.dedupe_key[:200],
                text=message_text(organization, e.title, e.body, e.url),
                next_attempt_at=now,
                created_at=now,
            )
            for e in wanted
        ],
        ignore_conflicts=True,
    )
    ids = list(
        ChatDelivery.objects.for_org(organization)
        .filter(
            webhook=webhook, created_at=now, dedupe_key__in=[e.dedupe_key[:200] for e in wanted]
        )
        .values_list("pk", flat=True)
    )
    if ids:
        org_id = organization.pk

        def dispatch() -> None:
            from .tasks import deliver_chat

            deliver_chat.delay(org_id, ids)

        transaction.on_commit(dispatch, robust=True)
    return ids


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, str(reason)[:500]


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def deliver(*, organization: Organization, delivery_id: int, now: datetime | None = None) -> bool:
    """Send one due delivery if this caller wins its claim; True if it was delivered."""
    now = now or timezone.now()
    rows = ChatDelivery.objects.for_org(organization)
    claimed = rows.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    delivery = rows.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.active:
        rows.filter(pk=delivery_id).update(status=Status.FAILED, last_error="webhook inactive")
        return False
    try:
        url, secret = webhook_url(webhook), webhook_secret(webhook)
    except crypto.DecryptionError:
        rows.filter(pk=delivery_id).update(status=Status.FAILED, last_error="cannot decrypt")
        return False
    body = json.dumps({"text": delivery.text}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    status, error = _post(
        url,
        body,
        {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Smarketing-Notifications/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_body(secret, timestamp, body),
        },
    )
    if status is not None and 200 <= status < 300:
        rows.filter(pk=delivery_id, status=Status.SENDING).update(
            status=Status.SENT, delivered_at=timezone.now(), last_status_code=status, last_error=""
        )
        return True
    attempts = delivery.attempts
    if _retryable(status) and attempts < MAX_ATTEMPTS:
        retry_at = timezone.now() + RETRY_DELAYS[attempts - 1]
        next_status = Status.PENDING
    else:
        retry_at, next_status = delivery.next_attempt_at, Status.FAILED
    rows.filter(pk=delivery_id, status=Status.SENDING).update(
        status=next_status,
        next_attempt_at=retry_at,
        last_status_code=status,
        last_error=(error or f"HTTP {status}")[:500],
    )
    log.warning(
        "chat delivery %s: attempt %s failed (%s): %s", delivery_id, attempts, next_status, error
    )
    return False


def due_deliveries(*, organization: Organization, now: datetime | None = None) -> list[int]:
    """The sweeper's work for one organization: take back rows left ``sending`` by a dead
    worker (the attempt counts), return the ids of pending rows that are due."""
    now = now or timezone.now()
    rows = ChatDelivery.objects.for_org(organization)
    stuck = rows.filter(status=Status.SENDING, claimed_at__lt=now - SENDING_TIMEOUT)
    stuck.filter(attempts__gte=MAX_ATTEMPTS).update(status=Status.FAILED, last_error="timed out")
    stuck.update(status=Status.PENDING, next_attempt_at=now, last_error="timed out")
    return list(
        rows.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:200]
    )


def send_test(*, actor, organization: Organization) -> ChatDelivery:
    """The settings page's "send a test message": a delivery like any other."""
    if actor is not None:
        require_perm(actor, "sla.manage")
    webhook = webhook_for(organization)
    if webhook is None:
        raise ChatError(_("No chat webhook yet."), code="not_found", status=404)
    now = timezone.now()
    with transaction.atomic():
        delivery = ChatDelivery.objects.create(
            organization=organization,
            webhook=webhook,
            kind="test",
            dedupe_key=f"test:{now.isoformat()}:{secrets.token_hex(4)}",
            text=message_text(organization, _("Smarketing: test message — the channel works.")),
            next_attempt_at=now,
            created_at=now,
        )
        org_id, delivery_id = organization.pk, delivery.pk

        def dispatch() -> None:
            from .tasks import deliver_chat

            deliver_chat.delay(org_id, [delivery_id])

        transaction.on_commit(dispatch, robust=True)
    return delivery


def delivery_log(organization: Organization, limit: int = 20) -> list[ChatDelivery]:
    return list(ChatDelivery.objects.for_org(organization).order_by("-created_at", "-pk")[:limit])
