"""Demo data of the integrations app (``make run``): a paused HubSpot connection and a
disabled outbound webhook with a short delivery log, so the settings pages show what
they look like. Nothing is ever sent: the connection is paused (no sync, no push) and
the subscription disabled. Idempotent."""

from __future__ import annotations

import secrets
from datetime import timedelta

from smarketing import crypto

from .connectors.base import get_connector
from .models import Connection, ConnectionLog, Health, WebhookDelivery, WebhookSubscription
from .webhooks_out import generate_secret, new_message_id

DEMO_HOOK_URL = "https://example.com/webhooks/smarketing"


def load(demo) -> None:
    org, now = demo.organization, demo.now
    owner = demo.users.get("owner")
    if get_connector("hubspot") is not None and not (
        Connection.objects.for_org(org).filter(vendor="hubspot").exists()
    ):
        connection = Connection(
            organization=org,
            vendor="hubspot",
            name="HubSpot (démo)",
            webhook_key=secrets.token_urlsafe(24),
            credential_hints={"access_token": "••••demo"},
            status=Health.DISABLED,
            last_error="",
            created_by=owner,
        )
        connection.set_credentials({"access_token": "pat-demo-not-a-real-token"})
        connection.save()
        ConnectionLog.objects.create(
            organization=org,
            connection=connection,
            level=ConnectionLog.Level.INFO,
            kind="auth",
            message="Demo connection, paused: it never calls HubSpot.",
            at=now,
        )
        demo.stdout.write("  integrations: a paused HubSpot connection")
    if WebhookSubscription.objects.for_org(org).filter(url=DEMO_HOOK_URL).exists():
        return
    subscription = WebhookSubscription.objects.create(
        organization=org,
        url=DEMO_HOOK_URL,
        description="Demo endpoint (disabled: nothing is sent)",
        event_types=["lead.mql", "lead.accepted", "deal.won"],
        secret_encrypted=crypto.encrypt(generate_secret()),
        active=False,
        disabled_reason="Demo: disabled so that nothing leaves the machine.",
        disabled_at=now,
        created_by=owner,
    )
    rows = [
        ("lead.mql", "delivered", 1, 200, "", timedelta(hours=6)),
        ("lead.accepted", "delivered", 2, 200, "", timedelta(hours=3)),
        ("deal.won", "dead", 8, 503, "HTTP 503: Service Unavailable", timedelta(days=2)),
    ]
    for event_type, status, attempts, code, error, age in rows:
        at = now - age
        WebhookDelivery.objects.create(
            organization=org,
            subscription=subscription,
            event_type=event_type,
            message_id=new_message_id(at),
            payload={"type": event_type, "timestamp": at.isoformat(), "data": {"demo": True}},
            status=status,
            attempts=attempts,
            next_attempt_at=at,
            last_attempt_at=at,
            last_status_code=code,
            last_error=error,
            delivered_at=at if status == "delivered" else None,
            created_at=at,
        )
    demo.stdout.write("  integrations: a disabled outbound webhook with its delivery log")
