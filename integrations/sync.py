"""Sync jobs: pull the streams of a connection, ingest, upsert deals; push leads to CRMs.

``sync_connection(connection_id=, organization_id=)`` (run by ``tasks.sync_connection``):

1. claims the connection (compare-and-swap on ``sync_claimed_until`` with a random
   ``sync_claim_token``: one sync of a connection at a time, whatever the number of
   workers; the claim is renewed with each page written and released only by its
   owner — a sync that outlived its claim stops at its next page) and opens a
   ``SyncRun``;
2. for each stream (the connector's marketing ``streams``, then ``deals`` for a CRM),
   pulls pages after the saved cursor; each page is written in one transaction: its
   events through ``leads.ingest.ingest_events`` with ``source=<vendor key>`` (a
   replayed id is a duplicate), its deals upserted by (source, external id), then the
   new cursor. A crash resumes after the last written page; rewriting a page is
   harmless (idempotent);
3. records the outcome on the connection (health ``ok`` / ``error``, last sync, last
   error, consecutive failures) and the run, and writes the HTTP error log.

No transaction is open while the vendor is called (only between pages).

Push: ``push_lead_to(connection_id, lead_id, change)`` creates or updates the lead in a
CRM and records the CRM id (``ExternalRecord``); called on commit of a stage change to
MQL or later (integrations/apps.py → ``tasks.push_lead``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from leads.ingest import MAX_BATCH as INGEST_BATCH
from leads.ingest import IngestError, ingest_events
from leads.models import Deal, Lead, Stage
from leads.services import LeadError, deal_create, deal_update
from smarketing.notifications import kinds
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role

from .connectors.base import (
    MAX_PAGES_PER_RUN,
    AuthError,
    ConnectorError,
    DealRecord,
    LeadChange,
    PullResult,
)
from .http import ConnectorClient
from .models import Connection, ConnectionLog, ExternalRecord, Health, SyncCursor, SyncRun

log = logging.getLogger(__name__)

DEALS_STREAM = "deals"
CLAIM_FOR = timedelta(minutes=30)
# Stages pushed to CRMs (MQL and later); recycled/disqualified tell the CRM sales said no.
PUSH_STAGES = frozenset(
    {
        Stage.MQL,
        Stage.SAL,
        Stage.SQL,
        Stage.OPPORTUNITY,
        Stage.CUSTOMER,
        Stage.RECYCLED,
        Stage.DISQUALIFIED,
    }
)
MAX_ERROR = 2000
PUSH_CHUNK = 500  # leads per push task (the connector batches its own calls)
NOTIFY_AFTER_FAILURES = 3

kinds.register("integrations.failing", gettext_lazy("A connected tool fails to sync"), email=True)


class ConnectorActor:
    """The acting party of a sync (deal writes): the connection, not a member. It has
    an administrator's permissions for the services it calls (``deals.edit``)."""

    user = None
    pk = None
    role = Role.ADMIN

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.organization = connection.organization
        self.organization_id = connection.organization_id


# --- Claims ------------------------------------------------------------------------------


class ClaimLost(ConnectorError):
    """Another sync took the connection over (this one outlived its claim)."""


def _claim(org_id: int, connection_id: int, now: datetime) -> str:
    """Compare-and-swap: the claim's token for the one worker that gets it, else ""."""
    token = uuid.uuid4().hex
    with tenant_context(org_id):
        claimed = (
            Connection.objects.for_org(org_id)
            .filter(pk=connection_id)
            .exclude(status=Health.DISABLED)
            .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now))
            .update(
                sync_claimed_until=now + CLAIM_FOR, sync_claim_token=token, sync_requested_at=None
            )
        )
    return token if claimed else ""


def _renew(org_id: int, connection_id: int, token: str, now: datetime) -> None:
    """Extend our claim (each page); ``ClaimLost`` when it is not ours any more."""
    renewed = (
        Connection.objects.for_org(org_id)
        .filter(pk=connection_id, sync_claim_token=token)
        .update(sync_claimed_until=now + CLAIM_FOR)
    )
    if not renewed:
        raise ClaimLost("another sync took this connection over", retryable=True)


def _release(org_id: int, connection_id: int, token: str = "") -> None:
    with tenant_context(org_id):
        Connection.objects.for_org(org_id).filter(pk=connection_id, sync_claim_token=token).update(
            sync_claimed_until=None, sync_claim_token=""
        )


# --- Writing one page ---------------------------------------------------------------------


def ingest_connector_events(
    *, connection: Connection, events: list[dict], now: datetime | None = None
) -> tuple[int, int, list[str]]:
    """Ingest events from a connector (batches of ``ingest.MAX_BATCH``); events that
    fail validation are left out and reported, the rest are written. Returns
    (accepted, duplicates, error messages). Runs in the connection's tenant."""
    source = connection.connector.source(connection)
    accepted = duplicates = 0
    errors: list[str] = []
    for start in range(0, len(events), INGEST_BATCH):
        batch = events[start : start + INGEST_BATCH]
        try:
            result = ingest_events(
                organization=connection.organization, events=batch, source=source, now=now
            )
        except IngestError as error:
            bad = {int(index) for index in error.fields if str(index).isdigit()}
            for index in sorted(bad)[:20]:
                event_id = (
                    batch[index].get("id", index) if isinstance(batch[index], dict) else index
                )
                errors.append(f"event {event_id}: {error.fields.get(str(index))}")
            good = [event for i, event in enumerate(batch) if i not in bad]
            if not good or not bad:
                errors.append(error.message)
                continue
            try:
                result = ingest_events(
                    organization=connection.organization, events=good, source=source, now=now
                )
            except IngestError as again:
                errors.append(again.message)
                continue
        accepted += result.accepted
        duplicates += result.duplicates
    return accepted, duplicates, errors


def _lead_for_deal(connection: Connection, record: DealRecord) -> Lead | None:
    org = connection.organization
    if record.lead_external_id:
        lead_id = (
            ExternalRecord.objects.for_org(org)
            .filter(connection=connection, external_id=record.lead_external_id)
            .values_list("lead_id", flat=True)
            .first()
        )
        if lead_id:
            return Lead.objects.for_org(org).filter(pk=lead_id).first()
    if record.lead_email:
        return (
            Lead.objects.for_org(org)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower=record.lead_email.strip().lower())
            .first()
        )
    return None


def upsert_deal(*, connection: Connection, record: DealRecord) -> tuple[Deal, bool]:
    """Create or update the deal with this (source, external id); (deal, created).
    The CRM is the source of truth for deals: its values overwrite ours."""
    org = connection.organization
    actor = ConnectorActor(connection)
    source = connection.connector.source(connection)
    status = record.status if record.status in Deal.Status.values else Deal.Status.OPEN
    deal = (
        Deal.objects.for_org(org)
        .filter(source=source, external_id=record.external_id)
        .select_for_update()
        .first()
    )
    created = deal is None
    if created:
        lead = _lead_for_deal(connection, record)
        deal = deal_create(
            actor=actor,
            organization=org,
            name=record.name or record.external_id,
            amount=record.amount if record.amount not in (None, "") else 0,
            lead=lead,
            currency=record.currency or None,
            stage=record.stage or "qualification",
            created_at=record.created_at,
            source=source,
            external_id=record.external_id,
        )
        if status == Deal.Status.OPEN:
            return deal, True
    data: dict[str, Any] = {"status": status}
    if record.name:
        data["name"] = record.name
    if record.amount not in (None, ""):
        data["amount"] = record.amount
    if record.stage:
        data["stage"] = record.stage
    if record.currency:
        data["currency"] = record.currency.upper()[:3]
    if record.closed_at:
        data["closed_at"] = record.closed_at
    unchanged = (
        not created
        and deal.status == status
        and ("name" not in data or deal.name == data["name"][:200])
        and ("amount" not in data or Decimal(str(data["amount"])) == deal.amount)
        and ("stage" not in data or deal.stage == data["stage"][:40])
        and ("currency" not in data or deal.currency == data["currency"])
    )
    if unchanged:
        return deal, False
    if deal.lead_id is None:
        lead = _lead_for_deal(connection, record)
        if lead is not None:
            Deal.objects.for_org(org).filter(pk=deal.pk).update(lead=lead)
            deal.lead = lead
    deal = deal_update(actor=actor, deal=deal, data=data)
    return deal, created


def _write_page(
    org_id: int,
    connection_id: int,
    run_id: int,
    stream: str,
    page: PullResult,
    now: datetime,
    claim_token: str = "",
) -> list[str]:
    with tenant_context(org_id):
        if claim_token:
            _renew(org_id, connection_id, claim_token, now)  # rolls the page back if lost
        connection = (
            Connection.objects.for_org(org_id).select_related("organization").get(pk=connection_id)
        )
        accepted = duplicates = created = updated = 0
        errors: list[str] = []
        if page.events:
            accepted, duplicates, errors = ingest_connector_events(
                connection=connection, events=page.events, now=now
            )
        for record in page.deals:
            try:
                _deal, was_created = upsert_deal(connection=connection, record=record)
            except LeadError as error:
                errors.append(f"deal {record.external_id}: {error.message}")
                continue
            if was_created:
                created += 1
            else:
                updated += 1
        SyncCursor.objects.for_org(org_id).update_or_create(
            organization_id=org_id,
            connection_id=connection_id,
            stream=stream,
            defaults={"cursor": page.cursor or {}, "updated_at": now},
        )
        run = SyncRun.objects.for_org(org_id).select_for_update().get(pk=run_id)
        run.pages += 1
        run.events_accepted += accepted
        run.events_duplicate += duplicates
        run.deals_created += created
        run.deals_updated += updated
        per = run.streams.setdefault(stream, {"pages": 0, "events": 0, "deals": 0})
        per["pages"] += 1
        per["events"] += accepted
        per["deals"] += created + updated
        run.save(
            update_fields=[
                "pages",
                "events_accepted",
                "events_duplicate",
                "deals_created",
                "deals_updated",
                "streams",
            ]
        )
        for message in errors:
            ConnectionLog.objects.create(
                organization_id=org_id,
                connection_id=connection_id,
                level=ConnectionLog.Level.WARNING,
                kind="sync",
                message=message[:MAX_ERROR],
            )
        return errors


# --- One sync -------------------------------------------------------------------------------


def streams_of(connection: Connection) -> list[str]:
    connector = connection.connector
    streams = list(connector.streams) if connector.is_marketing() else []
    if connector.is_crm():
        streams.append(DEALS_STREAM)
    return streams


def _pull(connector, connection, client, stream: str, cursor: dict) -> PullResult:
    if stream == DEALS_STREAM:
        return connector.pull_deals(connection, client, cursor)
    return connector.pull(connection, client, stream, cursor)


def sync_connection(
    *,
    organization_id: int,
    connection_id: int,
    trigger: str = SyncRun.Trigger.SCHEDULE,
    client: ConnectorClient | None = None,
    now: datetime | None = None,
) -> SyncRun | None:
    """Run one sync; None when another one holds the connection (or it is disabled)."""
    started = now or timezone.now()
    token = _claim(organization_id, connection_id, started)
    if not token:
        return None
    run_id = None
    client_used = client
    try:
        with tenant_context(organization_id):
            connection = (
                Connection.objects.for_org(organization_id)
                .select_related("organization")
                .get(pk=connection_id)
            )
            run = SyncRun.objects.create(
                organization_id=organization_id,
                connection=connection,
                trigger=trigger,
                started_at=started,
            )
            run_id = run.pk
            cursors = dict(
                SyncCursor.objects.for_org(organization_id)
                .filter(connection=connection)
                .values_list("stream", "cursor")
            )
        connector = connection.connector
        if connector is None:
            raise ConnectorError(f"unknown connector {connection.vendor!r}")
        client_used = client or ConnectorClient(connection, connector)
        failure: ConnectorError | None = None
        for stream in streams_of(connection):
            cursor = cursors.get(stream) or {}
            try:
                for _page in range(MAX_PAGES_PER_RUN):
                    page = _pull(connector, connection, client_used, stream, cursor)
                    _write_page(
                        organization_id,
                        connection_id,
                        run_id,
                        stream,
                        page,
                        timezone.now(),
                        claim_token=token,
                    )
                    cursor = page.cursor or {}
                    if not page.has_more:
                        break
            except (AuthError, ClaimLost) as error:
                failure = error
                break  # the next streams would be refused too / are another sync's
            except ConnectorError as error:
                failure = failure or error
                client_used.note("error", "sync", f"{stream}: {error.message}")
        _finish(organization_id, connection_id, run_id, failure, client_used, token)
    except Exception as error:  # an unexpected bug: recorded, then raised for the worker log
        if run_id is not None:
            _finish(
                organization_id,
                connection_id,
                run_id,
                ConnectorError(f"{type(error).__name__}: {error}"),
                client_used,
                token,
            )
        else:
            _release(organization_id, connection_id, token)
        raise
    with tenant_context(organization_id):
        return SyncRun.objects.for_org(organization_id).get(pk=run_id)


def _finish(org_id, connection_id, run_id, failure, client, token: str = "") -> None:
    now = timezone.now()
    with tenant_context(org_id):
        if client is not None:
            client.flush_logs()
        run = SyncRun.objects.for_org(org_id).get(pk=run_id)
        run.finished_at = now
        run.status = SyncRun.Status.ERROR if failure else SyncRun.Status.OK
        run.error = failure.message[:MAX_ERROR] if failure else ""
        run.save(update_fields=["finished_at", "status", "error"])
        if isinstance(failure, ClaimLost):
            return  # the connection's health and claim are the other sync's
        connection = Connection.objects.for_org(org_id).select_for_update().get(pk=connection_id)
        connection.last_sync_at = now
        fields = ["last_sync_at"]
        if connection.sync_claim_token == token:  # ours: release it (not a successor's)
            connection.sync_claimed_until = None
            connection.sync_claim_token = ""
            fields += ["sync_claimed_until", "sync_claim_token"]
        if failure is None:
            connection.last_success_at = now
            connection.consecutive_failures = 0
            fields += ["last_success_at", "consecutive_failures"]
            if connection.status == Health.ERROR:
                connection.status = Health.OK
                fields.append("status")
        else:
            record_failure(connection, failure, kind="sync", now=now, save=False)
            fields += ["status", "last_error", "last_error_at", "consecutive_failures"]
        connection.save(update_fields=fields)
        if failure is not None and connection.consecutive_failures == NOTIFY_AFTER_FAILURES:
            notify_failing(connection)


def notify_failing(connection: Connection) -> None:
    """Tell the organization's admins once per failing streak (3 syncs in a row)."""
    from django.urls import NoReverseMatch, reverse

    from smarketing.notifications.services import notify
    from smarketing.tenancy.models import Membership
    from smarketing.tenancy.permissions import PERMISSIONS

    org = connection.organization
    admins = list(
        Membership.objects.for_org(org)
        .filter(role__in=list(PERMISSIONS["integrations.manage"]))
        .values_list("user_id", flat=True)
    )
    try:
        url = reverse("integrations-connection", args=[org.slug, connection.pk])
    except NoReverseMatch:
        url = ""
    since = connection.last_success_at.isoformat() if connection.last_success_at else "never"
    notify(
        organization=org,
        recipients=admins,
        kind="integrations.failing",
        title=format_lazy(gettext_lazy("{name} fails to sync"), name=connection.name),
        body=connection.last_error[:300],
        url=url,
        dedupe_key=f"integrations.failing:{connection.pk}:{since}",
    )


def record_failure(
    connection: Connection, error: ConnectorError, *, kind: str, now=None, save=True
) -> None:
    """Health goes to ``error`` with the message; an error-log row is written."""
    now = now or timezone.now()
    connection.last_error = error.message[:MAX_ERROR]
    connection.last_error_at = now
    connection.consecutive_failures += 1
    if connection.status != Health.DISABLED:
        connection.status = Health.ERROR
    ConnectionLog.objects.create(
        organization_id=connection.organization_id,
        connection_id=connection.pk,
        at=now,
        level=ConnectionLog.Level.ERROR,
        kind="auth" if isinstance(error, AuthError) else kind,
        message=error.message[:MAX_ERROR],
    )
    if save:
        connection.save(
            update_fields=["status", "last_error", "last_error_at", "consecutive_failures"]
        )


# --- CRM push -------------------------------------------------------------------------------


def push_targets(organization) -> list[int]:
    """The connections a lead's stage change is pushed to (CRMs that push, active)."""
    ids = []
    for connection in Connection.objects.for_org(organization).exclude(status=Health.DISABLED):
        connector = connection.connector
        if connector is not None and connector.is_crm() and connector.supports_push:
            ids.append(connection.pk)
    return ids


def push_lead_to(
    *,
    organization_id: int,
    connection_id: int,
    lead_id: int,
    change: dict,
    client: ConnectorClient | None = None,
) -> str | None:
    """Push one lead to one CRM; returns the CRM id. Raises ``ConnectorError`` when the
    vendor fails (the task retries retryable ones)."""
    with tenant_context(organization_id):
        connection = (
            Connection.objects.for_org(organization_id)
            .select_related("organization")
            .filter(pk=connection_id)
            .exclude(status=Health.DISABLED)
            .first()
        )
        lead = (
            Lead.objects.for_org(organization_id)
            .select_related("company", "owner", "organization")
            .filter(pk=lead_id)
            .first()
        )
        if connection is None or lead is None:
            return None
        record = (
            ExternalRecord.objects.for_org(organization_id)
            .filter(connection=connection, lead=lead)
            .first()
        )
    lead_change = LeadChange(
        from_stage=change.get("from_stage", ""),
        to_stage=change.get("to_stage", lead.stage),
        at=_parse_time(change.get("at")) or timezone.now(),
        external_id=record.external_id if record else "",
        reason=change.get("reason", ""),
    )
    connector = connection.connector
    client = client or ConnectorClient(connection, connector)
    try:
        external_id = connector.push_lead(connection, client, lead, lead_change)
    except ConnectorError as error:
        with tenant_context(organization_id):
            client.flush_logs()
            locked = Connection.objects.for_org(organization_id).get(pk=connection_id)
            record_failure(
                locked,
                ConnectorError(f"push of {lead.email}: {error.message}"),
                kind="push",
            )
        raise
    with tenant_context(organization_id):
        client.flush_logs()
        if external_id:
            ExternalRecord.objects.for_org(organization_id).update_or_create(
                organization_id=organization_id,
                connection_id=connection_id,
                lead_id=lead_id,
                defaults={
                    "external_id": str(external_id)[:128],
                    "pushed_stage": lead_change.to_stage,
                    "pushed_at": timezone.now(),
                },
            )
    return external_id


def push_leads_to(
    *,
    organization_id: int,
    connection_id: int,
    items: list,
    client: ConnectorClient | None = None,
) -> dict[int, str]:
    """Push many leads to one CRM: ``items`` are ``(lead id, change dict)``; each lead is
    pushed at its *current* stage (a later change in the same batch wins), and only when
    that stage is pushed (``PUSH_STAGES``) and differs from the one pushed last. Uses the
    connector's ``push_leads(connection, client, [(lead, LeadChange)]) -> [(id, error)]``
    (vendor batch calls; the base class falls back to ``push_lead``). Returns
    {lead id: CRM id} of the pushed leads; refused leads are logged; a vendor failure
    of the whole call raises ``ConnectorError`` (the task retries retryable ones)."""
    wanted = {int(lead_id): change for lead_id, change in items}
    with tenant_context(organization_id):
        connection = (
            Connection.objects.for_org(organization_id)
            .select_related("organization")
            .filter(pk=connection_id)
            .exclude(status=Health.DISABLED)
            .first()
        )
        if connection is None or not wanted:
            return {}
        leads = list(
            Lead.objects.for_org(organization_id)
            .select_related("company", "owner", "organization")
            .filter(pk__in=list(wanted))
            .order_by("pk")
        )
        records = {
            lead_id: (external_id, pushed_stage)
            for lead_id, external_id, pushed_stage in ExternalRecord.objects.for_org(
                organization_id
            )
            .filter(connection=connection, lead_id__in=list(wanted))
            .values_list("lead_id", "external_id", "pushed_stage")
        }
    known = {lead_id: external_id for lead_id, (external_id, _stage) in records.items()}
    pairs = []
    for lead in leads:
        change = wanted[lead.pk]
        if lead.stage not in PUSH_STAGES:
            continue  # never reached MQL (a rolled-back change), or went back: not pushed
        if lead.pk in records and records[lead.pk][1] == lead.stage:
            continue  # the CRM has this stage already
        pairs.append(
            (
                lead,
                LeadChange(
                    from_stage=change.get("from_stage", ""),
                    to_stage=lead.stage,
                    at=_parse_time(change.get("at")) or timezone.now(),
                    external_id=known.get(lead.pk, ""),
                    reason=change.get("reason", ""),
                ),
            )
        )
    if not pairs:
        return {}
    connector = connection.connector
    client = client or ConnectorClient(connection, connector)
    results: list[tuple[str, str]] = []
    try:
        size = max(1, connector.max_batch)
        for start in range(0, len(pairs), size):
            results.extend(connector.push_leads(connection, client, pairs[start : start + size]))
    except ConnectorError as error:
        with tenant_context(organization_id):
            client.flush_logs()
            locked = Connection.objects.for_org(organization_id).get(pk=connection_id)
            record_failure(
                locked,
                ConnectorError(f"push of {len(pairs)} lead(s): {error.message}"),
                kind="push",
            )
        raise
    pushed: dict[int, str] = {}
    now = timezone.now()
    with tenant_context(organization_id):
        client.flush_logs()
        for (lead, change), (external_id, error) in zip(pairs, results, strict=False):
            if external_id and not error:
                pushed[lead.pk] = str(external_id)[:128]
                ExternalRecord.objects.for_org(organization_id).update_or_create(
                    organization_id=organization_id,
                    connection_id=connection_id,
                    lead_id=lead.pk,
                    defaults={
                        "external_id": str(external_id)[:128],
                        "pushed_stage": change.to_stage,
                        "pushed_at": now,
                    },
                )
            elif error:
                ConnectionLog.objects.create(
                    organization_id=organization_id,
                    connection_id=connection_id,
                    level=ConnectionLog.Level.ERROR,
                    kind="push",
                    message=f"push of {lead.email}: {error}"[:MAX_ERROR],
                )
    return pushed


def change_payload(*, from_stage: str, to_stage: str, at: datetime, reason: str = "") -> dict:
    return {"from_stage": from_stage, "to_stage": to_stage, "at": at.isoformat(), "reason": reason}


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "DEALS_STREAM",
    "PUSH_STAGES",
    "ConnectorActor",
    "change_payload",
    "ingest_connector_events",
    "push_lead_to",
    "push_leads_to",
    "push_targets",
    "record_failure",
    "streams_of",
    "sync_connection",
    "upsert_deal",
]
