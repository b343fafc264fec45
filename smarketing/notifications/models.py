"""In-app notifications, their e-mail delivery, and per-user channel preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel


class Notification(TenantModel):
    class EmailStatus(models.TextChoices):
        NONE = "none", _("Not e-mailed")
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("kind"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    # The same notification is never sent twice: the sender names it.
    dedupe_key = models.CharField(max_length=200)
    in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    email_status = models.CharField(
        max_length=10, choices=EmailStatus.choices, default=EmailStatus.NONE
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    # When a sender last claimed the row (pending -> sending): the sweeper's clock for
    # retry back-off and for rows left "sending" by a worker that died.
    email_claimed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "recipient", "dedupe_key"], name="notification_dedupe"
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "recipient", "-created_at"],
                name="notification_inbox",
            ),
            # The e-mail sweeper's one query.
            models.Index(
                fields=["email_status", "created_at"],
                name="notification_email_due",
                condition=models.Q(email_status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(TenantModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=64)
    in_app = models.BooleanField(_("in the app"), default=True)
    email = models.BooleanField(_("by e-mail"), default=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "kind"], name="notification_preference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.kind}"


class ChatWebhook(TenantModel):
    """The organization's outbound chat channel: a Slack- or Teams-style incoming-webhook
    URL that receives a one-line message per notification event of the chosen kinds
    (``sla.*`` by default). The URL is a secret (whoever has it can post to the
    channel): stored encrypted (``smarketing.crypto``), shown only as a hint."""

    name = models.CharField(_("name"), max_length=100, default="Slack / Teams")
    url_encrypted = models.TextField()
    url_hint = models.CharField(_("address"), max_length=120, blank=True)
    # HMAC-SHA256 key of the ``X-Smarketing-Signature`` header (encrypted as well).
    secret_encrypted = models.TextField()
    # Kind patterns: exact codes (``lead.hot``) or prefixes (``sla.*``).
    kinds = models.JSONField(_("notifications sent"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("chat webhook")
        verbose_name_plural = _("chat webhooks")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="chat_webhook_one_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.name} · {self.url_hint}"

    def wants(self, kind: str) -> bool:
        for pattern in self.kinds or []:
            if pattern == kind or (pattern.endswith(".*") and kind.startswith(pattern[:-1])):
                return True
            if pattern == "*":
                return True
        return False


class ChatDelivery(TenantModel):
    """One message to the chat webhook, once per notification event (not per recipient),
    with its delivery log. Claimed with compare-and-swap (``pending`` → ``sending``),
    retried with back-off by the sweeper."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    webhook = models.ForeignKey(ChatWebhook, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(_("kind"), max_length=64)
    dedupe_key = models.CharField(max_length=200)
    text = models.TextField(_("message"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("chat delivery")
        verbose_name_plural = _("chat deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "webhook", "dedupe_key"], name="chat_delivery_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="chat_delivery_due",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["organization", "-created_at"], name="chat_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} · {self.get_status_display()}"
