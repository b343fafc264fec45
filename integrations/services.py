"""Connections: connect, edit, disconnect, field mapping, sync now; reads for the pages.

Credentials are the connector's ``credential_fields``: the secret ones are encrypted at
rest (``Connection.credentials_encrypted``, Fernet via ``smarketing.crypto``) and never
shown again — the pages show a masked hint (``••••abcd``); leaving a secret field empty
when editing keeps the stored value. Non-secret fields (portal id, instance URL) are
kept in clear in ``credential_hints`` too, for display.
"""

from __future__ import annotations

import secrets
import urllib.parse
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing import crypto
from smarketing.errors import ServiceError
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .connectors.base import ConnectorError, all_connectors, get_connector
from .http import allowed_base_url
from .mapping import clean_field_mapping
from .models import Connection, ConnectionLog, Health, SyncRun
from .safe_http import allow_private, private_host_name

MAX_CREDENTIAL = 4000
MAX_CONNECTIONS = 50
CHECK_ATTEMPTS = 1
CHECK_TIMEOUT = 10.0


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


def _clean_credentials(
    connector, values: dict, previous: dict | None, *, retype: bool = False
) -> tuple[dict, dict, dict]:
    """(credentials to store, hints to show, values generated now); raises
    IntegrationError with fields. ``retype``: the base URL's host changed, so every
    secret field must be typed again (a stored secret is never sent to a new host)."""
    errors: dict[str, list[str]] = {}
    stored: dict[str, Any] = {}
    hints: dict[str, str] = {}
    generated: dict[str, str] = {}
    for spec in connector.credential_fields:
        raw = values.get(spec.name)
        value = raw.strip() if isinstance(raw, str) else ""
        if not value and previous is not None and spec.name in previous:
            if retype and spec.secret and not spec.generate:
                errors[spec.name] = [_("The API base URL changed: enter this secret again.")]
                continue
            value = previous[spec.name]  # editing: an empty field keeps the stored value
        elif value and spec.min_length and len(value) < spec.min_length:
            errors[spec.name] = [
                _("At least %(n)d characters (or leave it empty to get a generated one).")
                % {"n": spec.min_length}
            ]
            continue
        if not value and spec.generate:
            value = generated[spec.name] = secrets.token_urlsafe(spec.generate)
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
    return stored, hints, generated


def _base_url_error(base_url: str) -> str:
    """ "" when the base URL may be used, else the message (the checks of
    integrations/safe_http.py; the address it resolves to is checked at each call)."""
    parsed = urllib.parse.urlsplit(base_url)
    private = allow_private()
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return _("Enter an https:// URL.")
    if parsed.scheme == "http" and not private:
        return _("Enter an https:// URL.")
    if parsed.username or parsed.password or "@" in parsed.netloc:
        return _("Credentials in the URL are not allowed.")
    if not private and private_host_name(parsed.hostname):
        return _("This address is not reachable from the Internet.")
    if not allowed_base_url(base_url):
        return _("Enter an https:// URL.")
    return ""


def _is_event_type(value: Any) -> bool:
    from leads.ingest import CUSTOM_TYPE, STANDARD_TYPES

    return isinstance(value, str) and (value in STANDARD_TYPES or bool(CUSTOM_TYPE.match(value)))


def _shape_errors(shape: str, value: Any) -> list[str]:
    """What is wrong with a JSON setting of this shape (SettingField.shape)."""
    if not isinstance(value, dict):
        return [_('A JSON object is expected, e.g. {"key": …}.')]
    errors: list[str] = []
    for key, entry in value.items():
        if shape == "forms":
            if not isinstance(entry, dict):
                errors.append(
                    _('“%(key)s”: an object is expected, e.g. {"content": "white-paper"}.')
                    % {"key": key}
                )
                continue
            unknown = sorted(set(entry) - {"type", "content", "campaign"})
            if unknown:
                errors.append(
                    _("“%(key)s”: unknown keys %(names)s (type, content, campaign).")
                    % {"key": key, "names": ", ".join(unknown)}
                )
            for name in ("content", "campaign"):
                if name in entry and not isinstance(entry[name], str):
                    errors.append(
                        _("“%(key)s”: %(name)s must be a text.") % {"key": key, "name": name}
                    )
            if "type" in entry and not _is_event_type(entry["type"]):
                errors.append(
                    _("“%(key)s”: unknown event type (a standard type or custom:<name>).")
                    % {"key": key}
                )
        elif shape == "activity_types":
            if not str(key).isdigit():
                errors.append(_("“%(key)s”: activity type ids are numbers.") % {"key": key})
            elif entry != "" and not _is_event_type(entry):
                errors.append(
                    _('“%(key)s”: an event type (custom:<name>), or "" to switch it off.')
                    % {"key": key}
                )
        elif shape == "text_map":
            if not isinstance(entry, str):
                errors.append(_("“%(key)s”: a text is expected.") % {"key": key})
        elif shape == "labels":
            ok = isinstance(entry, str) or (
                isinstance(entry, list) and all(isinstance(item, str) for item in entry)
            )
            if not ok:
                errors.append(
                    _("“%(key)s”: a label id or a list of label ids is expected.") % {"key": key}
                )
    return errors[:10]


def _clean_settings(settings: dict | None, connector=None) -> dict:
    """Settings as given; a None value removes the key (an emptied form field). The
    base URL must be https to a public host (in production); the JSON settings must
    have their connector's shape."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    errors: dict[str, list[str]] = {}
    base_url = (settings.get("base_url") or "").strip()
    if base_url:
        message = _base_url_error(base_url)
        if message:
            errors["base_url"] = [message]
        settings["base_url"] = base_url.rstrip("/")
    else:
        settings.pop("base_url", None)
    for spec in getattr(connector, "settings_fields", ()) if connector else ():
        if spec.json and spec.shape and spec.name in settings:
            problems = _shape_errors(spec.shape, settings[spec.name])
            if problems:
                errors[f"setting_{spec.name}"] = problems
    if errors:
        first = next(iter(errors.values()))[0]
        raise IntegrationError(first, fields=errors)
    return settings


def _host_of(url: str) -> str:
    return (urllib.parse.urlsplit(url or "").hostname or "").lower()


def _previous_credentials(connection: Connection) -> dict:
    """The stored credentials, or {} when they cannot be decrypted any more (the
    encryption key changed): every field must then be typed again."""
    try:
        return dict(connection.credentials)
    except crypto.DecryptionError:
        return {}


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
    stored, hints, generated = _clean_credentials(connector, credentials or {}, None)
    connection = Connection(
        organization=org,
        vendor=connector.key,
        name=name,
        webhook_key=secrets.token_urlsafe(24),
        credential_hints=hints,
        settings=_clean_settings(settings, connector),
        created_by=getattr(actor, "user", None),
    )
    connection.set_credentials(stored)
    # Generated secrets (a webhook token): the page shows them once, then never again.
    connection.generated_secrets = generated
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
    """New credentials (empty secret fields keep the stored ones), name, settings.

    When the base URL's host changes, every secret field must be typed again (stored
    secrets are never sent to a host they were not given for). When the credentials or
    the base URL change, the kept state (an access token, its instance URL) is dropped.
    Credentials that cannot be decrypted any more must be typed again too."""
    require_perm(actor, "integrations.manage")
    _same_org(actor, connection)
    connector = connection.connector
    if connector is None:
        raise IntegrationError(_("Unknown tool."))
    merged = dict(connection.settings or {})
    for key, value in (settings or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    new_settings = _clean_settings(merged, connector)
    old_base = (connection.settings or {}).get("base_url") or connector.default_base_url
    new_base = new_settings.get("base_url") or connector.default_base_url
    previous = _previous_credentials(connection)
    stored, hints, generated = _clean_credentials(
        connector,
        credentials or {},
        previous,
        retype=_host_of(old_base) != _host_of(new_base),
    )
    credentials_changed = stored != previous
    base_changed = (old_base or "").rstrip("/") != (new_base or "").rstrip("/")
    connection.set_credentials(stored)
    connection.generated_secrets = generated  # shown once by the page
    connection.credential_hints = hints
    connection.name = (name or "").strip()[:100] or connection.name
    connection.settings = new_settings
    fields = ["credentials_encrypted", "credential_hints", "name", "settings", "updated_at"]
    if credentials_changed or base_changed:
        connection.set_state({})  # a token of the old credentials or host: fetch anew
        fields.append("state_encrypted")
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
    # One quick try: no retries, a short timeout, no waiting for a rate-limit slot.
    client = client or ConnectorClient(
        connection, max_attempts=CHECK_ATTEMPTS, timeout=CHECK_TIMEOUT, max_wait=0
    )
    try:
        connection.connector.check(connection, client)
    except crypto.DecryptionError:
        error = ConnectorError(
            _(
                "The stored credentials cannot be decrypted (the encryption key changed): "
                "enter them again."
            )
        )
        record_failure(connection, error, kind="auth")
        return error.message
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
