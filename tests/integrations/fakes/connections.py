"""Helpers of the connector tests: a connection pointed at a fake, a client that
records its waits, a sync run, a signed HubSpot delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from integrations.http import ConnectorClient
from integrations.models import Connection
from smarketing.tenancy.db import tenant_context


def connect(org, vendor: str, *, base_url: str, credentials: dict, settings=None, name=None):
    with tenant_context(org.pk):
        connection = Connection(
            organization=org,
            vendor=vendor,
            name=name or vendor,
            webhook_key=secrets.token_urlsafe(24),
            settings={"base_url": base_url, **(settings or {})},
        )
        connection.set_credentials(credentials)
        connection.save()
        return Connection.objects.for_org(org).select_related("organization").get(pk=connection.pk)


def reload(connection: Connection) -> Connection:
    with tenant_context(connection.organization_id):
        return (
            Connection.objects.for_org(connection.organization_id)
            .select_related("organization")
            .get(pk=connection.pk)
        )


class Sleeps(list):
    """A ``sleep`` that sleeps (briefly: the fakes' windows are short) and records."""

    def __init__(self, cap: float = 2.0) -> None:
        super().__init__()
        self.cap = cap

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(min(seconds, self.cap))


def client_for(connection: Connection, **kwargs) -> ConnectorClient:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("backoff_base", 0.05)
    client = ConnectorClient(connection, **kwargs)
    client.limiter.reset(client.rate_key)
    return client


def sync(connection: Connection, client: ConnectorClient | None = None):
    from integrations.sync import sync_connection

    return sync_connection(
        organization_id=connection.organization_id,
        connection_id=connection.pk,
        client=client or client_for(reload(connection)),
    )


def pull_all(connector, connection, client, stream: str, cursor=None, limit: int = 50):
    """Every page of a stream (without writing): (events, deals, final cursor, pages)."""
    cursor = cursor or {}
    events, deals, pages = [], [], 0
    for _ in range(limit):
        if stream == "deals":
            page = connector.pull_deals(connection, client, cursor)
        else:
            page = connector.pull(connection, client, stream, cursor)
        pages += 1
        events += page.events
        deals += page.deals
        cursor = page.cursor
        if not page.has_more:
            break
    return events, deals, cursor, pages


def hubspot_headers(secret: str, method: str, uri: str, body: bytes, timestamp_ms=None) -> dict:
    """X-HubSpot-Signature-v3 computed here from HubSpot's documented algorithm."""
    timestamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    message = method.encode() + uri.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return {
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
