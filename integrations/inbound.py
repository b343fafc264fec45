"""Vendor webhooks in: ``POST /connect/<webhook key>/`` (integrations/public_urls.py).

The key (random, 32 characters) finds the connection (system context, by an indexed
unique column); the connector verifies the request (signature, 5-minute window…) before
anything is parsed; a request already processed (same replay key: HubSpot's verified
signature, a hash of the body for unsigned senders) is a replay, refused with 409;
the payload becomes SPEC §5 events, ingested with the vendor as source (a vendor id
seen before is a duplicate, whatever the path it came by).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing import crypto
from smarketing.errors import ServiceError
from smarketing.tenancy.db import system_context, tenant_context

from .connectors.base import ConnectorError, InboundRequest, VerifiedWebhook, WebhookRejected
from .models import Connection, ConnectionLog, Health, InboundReceipt
from .sync import ingest_connector_events

log = logging.getLogger(__name__)


class InboundError(ServiceError):
    code = "invalid_webhook"


class _Replayed(Exception):
    """The receipt of this request exists already."""


@dataclass
class InboundResult:
    accepted: int
    duplicates: int


def find_connection(webhook_key: str) -> Connection | None:
    if not webhook_key or len(webhook_key) > 40:
        return None
    with system_context("connector webhook: connection by its key", routine=True):
        return (
            Connection.unscoped.select_related("organization")
            .filter(webhook_key=webhook_key)
            .exclude(status=Health.DISABLED)
            .first()
        )


def request_digest(request: InboundRequest, replay_key: str = "") -> str:
    """What makes a verified request unique: the connector's replay key (HubSpot: the
    verified signature), else the body. Nothing the sender may add freely (an extra
    header) takes part in it, so a captured request cannot be replayed by decorating it."""
    if replay_key:
        return hashlib.sha256(f"key:{replay_key}".encode()).hexdigest()
    return hashlib.sha256(b"body:" + request.body).hexdigest()


def receive(*, connection: Connection, request: InboundRequest) -> InboundResult:
    connector = connection.connector
    if connector is None or not connector.supports_webhooks:
        raise InboundError(
            _("This connection does not receive webhooks."), status=404, code="not_found"
        )
    org_id = connection.organization_id
    try:
        verified = connector.verify_webhook(connection, request)
    except WebhookRejected as error:
        _log(org_id, connection.pk, "warning", f"webhook refused: {error.message}")
        raise InboundError(error.message, code=error.code, status=error.status or 401) from error
    except crypto.DecryptionError as error:
        raise InboundError(
            _("The connection's credentials cannot be decrypted; retry later."),
            code="secret_unavailable",
            status=503,
        ) from error
    if isinstance(verified, VerifiedWebhook):
        payload, digest = verified.payload, request_digest(request, verified.replay_key)
    else:
        payload, digest = verified, request_digest(request)
    failure: ServiceError | None = None
    result = InboundResult(0, 0)
    with tenant_context(org_id):
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():  # its own savepoint: only this is a replay
                        InboundReceipt.objects.create(
                            organization_id=org_id,
                            connection=connection,
                            digest=digest,
                            received_at=request.received_at,
                        )
                except IntegrityError as error:
                    raise _Replayed from error
                events = connector.webhook_to_events(connection, payload)
                accepted = duplicates = 0
                errors: list[str] = []
                if events:
                    accepted, duplicates, errors = ingest_connector_events(
                        connection=connection, events=events, now=request.received_at
                    )
                for message in errors:
                    ConnectionLog.objects.create(
                        organization_id=org_id,
                        connection=connection,
                        level=ConnectionLog.Level.WARNING,
                        kind="webhook",
                        message=message[:2000],
                    )
                InboundReceipt.objects.for_org(org_id).filter(
                    connection=connection, digest=digest
                ).update(accepted=accepted, duplicates=duplicates)
                result = InboundResult(accepted, duplicates)
        except _Replayed:
            failure = InboundError(
                _("This request was already processed."), code="replayed", status=409
            )
        except IntegrityError as error:  # a concurrent write elsewhere: the sender retries
            log.warning("connector webhook: integrity error (%s)", error)
            failure = InboundError(
                _("The request could not be processed now; retry later."),
                code="retry_later",
                status=503,
            )
        except ConnectorError as error:
            failure = InboundError(error.message, code="invalid_payload", status=400)
    if failure is not None:
        _log(org_id, connection.pk, "warning", f"webhook refused: {failure.message}")
        raise failure
    return result


def _log(org_id: int, connection_id: int, level: str, message: str) -> None:
    with tenant_context(org_id):
        ConnectionLog.objects.create(
            organization_id=org_id,
            connection_id=connection_id,
            level=level,
            kind="webhook",
            message=message[:2000],
        )


def now() -> datetime:
    return timezone.now()
