"""Connections: connect, edit, disconnect, field mapping, sync now; reads for the pages.

Credentials are the connector's ``credential_fields``: the secret ones are encrypted at
rest (``Connection.credentials_encrypted``, Fernet via ``smarketing.crypto``) and never
shown again — the pages show a masked hint (``••••abcd``); leaving a secret field empty
when editing keeps the stored value. Non-secret fields (portal id, instance URL) are
kept in clear in ``credential_hints`` too, for display.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .connectors.base import ConnectorError, all_connectors, get_connector
from .http import allowed_base_url
from .mapping import clean_field_mapping
from .models import Connection, ConnectionLog, Health, SyncRun

MAX_CREDENTIAL = 4000
MAX_CONNECTIONS = 50


class IntegrationError(ServiceError):
    code = "invalid_connection"


# --- Reads ----------------------------------------------------------------------------------


def connections(organization: Organization) -> QuerySet[Connection]:
    return Connection.objects.for_org(organization).order_by("vendor", "name")


def get_connection_for_org(organization: Organization, connection_id) -> Connection:
    try:
        return (
            Connection.objects.for_org(organization)
            .select_related("organization")
            .get(pk=connection_id)
        )
    except (Connection.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def connection_logs(organization, connection: Connection, *, limit: int = 100):
    return list(
        ConnectionLog.objects.for_org(organization)
        .filter(connection=connection)
        .order_by("-at", "-pk")[:limit]
    )


def recent_runs(organization, connection: Connection, *, limit: int = 10):
    return list(
        SyncRun.objects.for_org(organization)
        .filter(connection=connection)
        .order_by("-started_at", "-pk")[:limit]
    )


def catalog(organization: Organization) -> list[dict[str, Any]]:
    """Every available connector with this organization's connections of it."""
    by_vendor: dict[str, list[Connection]] = {}
    for connection in connections(organization):
        by_vendor.setdefault(connection.vendor, []).append(connection)
    return [
        {"connector": cls, "connections": by_vendor.pop(cls.key, [])} for cls in all_connectors()
    ] + [
        {"connector": None, "vendor": vendor, "connections": items}
        for vendor, items in sorted(by_vendor.items())
    ]


# --- Credentials --------------------------------------------------------------------------------


def _mask(value: str) -> str:
    value = str(value)
    return "••••" + value[-4:] if len(value) >= 12 else "••••"


def _clean_credentials(connector, values: dict, previous: dict | None) -> tuple[dict, dict]:
    """(credentials to store, hints to show); raises IntegrationError with fields."""
    errors: dict[str, list[str]] = {}
    stored: dict[str, Any] = {}
    hints: dict[str, str] = {}
    for spec in connector.credential_fields:
        raw = values.get(spec.name)
        value = raw.strip() if isinstance(raw, str) else ""
        if not value and previous is not None and spec.name in previous:
            value = previous[spec.name]  # editing: an empty field keeps the stored value
        if not value:
            if spec.required:
                errors[spec.name] = [_("This field is required.")]
            continue
        if len(value) > MAX_CREDENTIAL or "\x00" in value:
            errors[spec.name] = [_("This value is too long or invalid.")]
            continue
        stored[spec.name] = value
        hints[spec.name] = _mask(value) if spec.secret else value
    if errors:
        raise IntegrationError(_("Check the credentials."), fields=errors)
    return stored, hints


def _clean_settings(settings: dict | None) -> dict:
    """Settings as given; a None value removes the key (an emptied form field)."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    base_url = (settings.get("base_url") or "").strip()
    if base_url:
        if not allowed_base_url(base_url):
            message = _("Enter an https:// URL.")
            raise IntegrationError(message, fields={"base_url": [message]})
        settings["base_url"] = base_url.rstrip("/")
    else:
        settings.pop("base_url", None)
    return settings


# --- Writes -------------------------------------------------------------------------------------


@transaction.atomic
def connection_create(
    *,
    actor,
    vendor: str,
    name: str = "",
    credentials: dict,
    settings: dict | None = None,
) -> Connection:
    require_perm(actor, "integrations.manage")
    org = actor.organization
    connector = get_connector(vendor)
    if connector is None:
        raise IntegrationError(_("Unknown tool."), fields={"vendor": [_("Unknown tool.")]})
    if Connection.objects.for_org(org).count() >= MAX_CONNECTIONS:
        raise IntegrationError(_("At most %(n)d connections.") % {"n": MAX_CONNECTIONS})
    name = (name or "").strip()[:100] or str(connector.label)
    stored, hints = _clean_credentials(connector, credentials or {}, None)
    connection = Connection(
        organization=org,
        vendor=connector.key,
        name=name,
        webhook_key=secrets.token_urlsafe(24),
        credential_hints=hints,
        settings=_clean_settings(settings),
        created_by=getattr(actor, "user", None),
    )
    connection.set_credentials(stored)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError as error:
        message = _("A connection named “%(name)s” exists already.") % {"name": name}
        raise IntegrationError(message, fields={"name": [message]}) from error
    ConnectionLog.objects.create(
        organization=org,
        connection=connection,
        level=ConnectionLog.Level.INFO,
        kind="auth",
        message=_("Connected by %(name)s.") % {"name": _actor_name(actor)},
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    actor,
    connection: Connection,
    name: str,
    credentials: dict,
    settings: dict | None = None,
) -> Connection:
    """New credentials (empty secret fields keep the stored ones), name, settings."""
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    connector = connection.connector
    if connector is None:
        raise IntegrationError(_("Unknown tool."))
    stored, hints = _clean_credentials(connector, credentials or {}, connection.credentials)
    connection.set_credentials(stored)
    connection.credential_hints = hints
    connection.name = (name or "").strip()[:100] or connection.name
    merged = dict(connection.settings or {})
    for key, value in (settings or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    connection.settings = _clean_settings(merged)
    fields = ["credentials_encrypted", "credential_hints", "name", "settings", "updated_at"]
    if connection.status == Health.ERROR:
        connection.status = Health.OK  # new credentials: try again
        connection.consecutive_failures = 0
        fields += ["status", "consecutive_failures"]
    try:
        with transaction.atomic():
            connection.save(update_fields=fields)
    except IntegrityError as error:
        message = _("A connection with this name exists already.")
        raise IntegrationError(message, fields={"name": [message]}) from error
    return connection


@transaction.atomic
def connection_set_enabled(*, actor, connection: Connection, enabled: bool) -> Connection:
    """Pause (no sync, no push, webhooks refused) or resume a connection."""
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    connection.status = Health.OK if enabled else Health.DISABLED
    connection.consecutive_failures = 0
    connection.save(update_fields=["status", "consecutive_failures", "updated_at"])
    return connection


@transaction.atomic
def connection_delete(*, actor, connection: Connection) -> None:
    """Disconnect: the credentials, cursors, logs and id mappings go; the leads, events
    and deals it brought stay."""
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    connection.delete()


@transaction.atomic
def connection_set_mapping(*, actor, connection: Connection, mapping: Any) -> Connection:
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    cleaned, errors = clean_field_mapping(mapping)
    if errors:
        raise IntegrationError(errors[0], fields={"mapping": errors})
    connection.field_mapping = cleaned
    connection.save(update_fields=["field_mapping", "updated_at"])
    return connection


def connection_sync_now(*, actor, connection: Connection) -> None:
    """Ask for a sync at once (dispatched on commit; the sweeper is the safety net)."""
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    if connection.status == Health.DISABLED:
        raise IntegrationError(_("This connection is paused."), code="disabled", status=409)
    Connection.objects.for_org(connection.organization_id).filter(pk=connection.pk).update(
        sync_requested_at=timezone.now()
    )
    org_id, pk = connection.organization_id, connection.pk

    def dispatch():
        from .tasks import sync_connection

        sync_connection.delay(org_id, pk, SyncRun.Trigger.MANUAL)

    transaction.on_commit(dispatch, robust=True)


def connection_check(*, actor, connection: Connection, client=None) -> str:
    """Test the credentials with one call; returns "" or the error message (also
    recorded on the connection)."""
    from .http import ConnectorClient
    from .sync import record_failure

    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    client = client or ConnectorClient(connection)
    try:
        connection.connector.check(connection, client)
    except ConnectorError as error:
        client.flush_logs()
        record_failure(connection, error, kind="auth")
        return error.message
    client.flush_logs()
    return ""


def _same_org(actor, connection: Connection) -> None:
    if connection.organization_id != actor.organization_id:
        raise IntegrationError(_("Not found."), status=404, code="not_found")


def _actor_name(actor) -> str:
    user = getattr(actor, "user", None)
    return (user.get_full_name() or user.email) if user else "?"


__all__ = [
    "IntegrationError",
    "catalog",
    "connection_check",
    "connection_create",
    "connection_delete",
    "connection_logs",
    "connection_set_enabled",
    "connection_set_mapping",
    "connection_sync_now",
    "connection_update",
    "connections",
    "get_connection_for_org",
    "recent_runs",
]
