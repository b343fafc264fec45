"""Models of the integrations app.

Connectors: a ``Connection`` per connected tool (credentials encrypted at rest with
``smarketing.crypto``), a ``SyncCursor`` per (connection, stream), a ``SyncRun`` per
sync, a ``ConnectionLog`` of errors and calls, the ``ExternalRecord`` mapping lead ↔
CRM id, and ``InboundReceipt`` digests that refuse a replayed vendor webhook.

Outbound webhooks (Standard Webhooks): ``WebhookSubscription`` (URL, event types,
signing secret encrypted, previous secret during a rotation) and ``WebhookDelivery``,
the outbox: written in the transaction of the change, sent after commit, retried.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing import crypto
from smarketing.tenancy.models import TenantModel


class Health(models.TextChoices):
    OK = "ok", _("OK")
    ERROR = "error", _("Error")
    DISABLED = "disabled", _("Disabled")


class Connection(TenantModel):
    """One connected tool of an organization (a HubSpot portal, a Salesforce org…)."""

    vendor = models.CharField(_("tool"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    # The inbound webhook URL is /connect/<webhook_key>/ (not a secret: the vendor's
    # signature authenticates the request).
    # 32 random URL-safe characters: unique in practice; indexed for the look-up.
    webhook_key = models.CharField(max_length=40, db_index=True)
    # JSON of the credential fields, Fernet-encrypted; never shown again.
    credentials_encrypted = models.TextField(blank=True)
    # Non-secret credential fields in clear and masked hints of the secret ones.
    credential_hints = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    field_mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    # Tokens and other state a connector keeps across runs: encrypted too.
    state_encrypted = models.TextField(blank=True)
    status = models.CharField(_("health"), max_length=10, choices=Health.choices, default=Health.OK)
    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    sync_requested_at = models.DateTimeField(null=True, blank=True)
    # Compare-and-swap claim: one sync of a connection at a time.
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    # Whose claim it is (a random token per sync): renewed per page, cleared only by it.
    sync_claim_token = models.CharField(max_length=32, blank=True, default="")
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "vendor", "name"], name="connection_name_unique"
            ),
            models.UniqueConstraint(
                fields=["organization", "webhook_key"], name="connection_webhook_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["status", "last_sync_at"], name="connection_due")]

    def __str__(self) -> str:
        return self.name

    # Credentials and state, decrypted on demand (cached on the instance).

    @property
    def credentials(self) -> dict[str, Any]:
        cached = getattr(self, "_credentials", None)
        if cached is None:
            cached = (
                json.loads(crypto.decrypt(self.credentials_encrypted))
                if (self.credentials_encrypted)
                else {}
            )
            self._credentials = cached
        return cached

    def set_credentials(self, values: dict[str, Any]) -> None:
        self._credentials = dict(values)
        self.credentials_encrypted = crypto.encrypt(json.dumps(self._credentials))

    @property
    def state(self) -> dict[str, Any]:
        # Not ``_state``: that is Django's own ModelState (adding, db) on every instance.
        cached = getattr(self, "_vendor_state", None)
        if cached is None:
            try:
                cached = (
                    json.loads(crypto.decrypt(self.state_encrypted))
                    if (self.state_encrypted)
                    else {}
                )
            except crypto.DecryptionError:
                cached = {}
            self._vendor_state = cached
        return cached

    def set_state(self, values: dict[str, Any]) -> None:
        self._vendor_state = dict(values)
        self.state_encrypted = crypto.encrypt(json.dumps(self._vendor_state)) if values else ""

    @property
    def connector(self):
        from .connectors.base import get_connector

        return get_connector(self.vendor)


class SyncCursor(TenantModel):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=40)
    cursor = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "stream"], name="sync_cursor_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.stream}"


class SyncRun(TenantModel):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Succeeded")
        ERROR = "error", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Sync now")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    events_accepted = models.PositiveIntegerField(default=0)
    events_duplicate = models.PositiveIntegerField(default=0)
    deals_created = models.PositiveIntegerField(default=0)
    deals_updated = models.PositiveIntegerField(default=0)
    # {"contacts": {"pages": 2, "events": 150}, ...}
    streams = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "connection", "-started_at"], name="syncrun_recent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}@{self.started_at:%Y-%m-%d %H:%M}"


class ConnectionLog(TenantModel):
    """Errors (and notable calls) of a connection: the error log page."""

    class Level(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="logs")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.ERROR)
    # http, sync, webhook, push, auth
    kind = models.CharField(max_length=10)
    message = models.TextField()
    method = models.CharField(max_length=8, blank=True)
    url = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "connection", "-at"], name="connlog_recent")
        ]

    def __str__(self) -> str:
        return self.message[:60]


class ExternalRecord(TenantModel):
    """The CRM's id of a lead in one connection (the push updates instead of creating)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="records")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=128)
    pushed_stage = models.CharField(max_length=12, blank=True)
    pushed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "lead"], name="external_record_lead"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "connection", "external_id"], name="external_record_id"
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class InboundReceipt(TenantModel):
    """A signed vendor webhook already processed (digest of its body and signature):
    the same request again is a replay (refused)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "digest"], name="inbound_receipt_unique"
            )
        ]
        indexes = [models.Index(fields=["received_at"], name="inbound_receipt_age")]

    def __str__(self) -> str:
        return self.digest


# --- Outbound webhooks ------------------------------------------------------------------


class WebhookSubscription(TenantModel):
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("events"), default=list)
    secret_encrypted = models.TextField()
    # During a rotation the previous secret signs too, until it expires.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "url"], name="webhook_subscription_url_unique"
            )
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(TenantModel):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Failed, given up")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=40)
    message_id = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Compare-and-swap claim: a worker owns the delivery until then.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "subscription", "message_id"],
                name="webhook_delivery_message_unique",
            )
        ]
        indexes = [
            # The sweeper: what is due, across organizations.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["organization", "subscription", "-created_at"],
                name="webhook_delivery_recent",
            ),
        ]

    def __str__(self) -> str:
        return self.message_id
