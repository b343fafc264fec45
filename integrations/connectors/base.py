"""The connector interface: one ``Connector`` subclass per vendor, registered by key.

A vendor module (``integrations/connectors/<vendor>.py``) defines a subclass and
decorates it with ``@register``; every module of this package is imported when the app
is ready (``load_connectors``), so adding a vendor needs no other edit.

What the framework does for a connector (integrations/sync.py, integrations/http.py):

- **HTTP**: ``client`` is an ``integrations.http.ConnectorClient`` bound to one
  connection: base URL from ``connection.settings["base_url"]`` (or the class's
  ``default_base_url``), the class's ``rate_limit`` shared by every worker (Redis),
  retries with backoff + jitter on 429 (``Retry-After`` honoured) and 5xx, timeouts, and
  a ``ConnectionLog`` row per failed call. ``client.request(method, path, params=,
  json=, data=, headers=, auth=True)`` returns a ``Response`` (``status``, ``headers``,
  ``body``, ``json()``) or raises ``ConnectorError``/``AuthError`` after the retries.
  Before each call with ``auth=True`` the client asks ``connector.auth_headers(connection,
  client)``: return the headers (API key, bearer token). OAuth-style token fetches call
  ``client.request(..., auth=False)`` and may keep the token in ``client.cache`` (one
  sync run) or ``connection.state`` via ``client.save_state(...)`` (across runs).
- **Inbound events**: what ``webhook_to_events`` and ``pull`` return are SPEC §5 event
  dicts (``id``, ``type``, ``occurred_at``, ``email``, ``first_name``…, ``content``,
  ``campaign``, ``properties``); the framework ingests them with
  ``leads.ingest.ingest_events(source=connector.source(connection))`` — the source is
  ``<vendor key>`` (``"hubspot"``), so a replayed event id (same organization, source and
  ``id``) is a duplicate. Give events stable ids from the vendor (``"form:<guid>:<ts>"``).
- **Deals**: ``pull_deals`` returns ``DealRecord``s, upserted by (source, external id)
  through ``leads.services.deal_create`` / ``deal_update`` (a deal closed won sends
  ``leads.signals.deal_won``). Its lead is found by ``lead_email`` or by the external id
  recorded when the lead was pushed (``lead_external_id``).
- **Push** (CRM): ``push_leads`` (batches of ``max_batch``; by default ``push_lead``
  per lead) is called on commit with the leads that reached MQL or a later stage in one
  transaction, each at its current stage; return the CRM's id of each record (created
  or updated), the framework keeps the lead ↔ external id mapping (``ExternalRecord``)
  and gives it back as ``change.external_id`` next time (update instead of create).
- **Cursors**: each stream has its own JSON cursor (``SyncCursor``), given back as it
  was returned (``{}`` the first time). A ``PullResult`` with ``has_more=True`` is pulled
  again at once (up to ``MAX_PAGES_PER_RUN`` pages); events of each page are ingested and
  the cursor saved in one transaction, so a crash resumes after the last saved page.
- **Field mapping**: ``default_field_mapping`` maps SPEC event fields to dotted paths in
  a vendor record; the connection's ``field_mapping`` overrides it per key (the mapping
  page). ``self.map_record(connection, record)`` applies the merged mapping.

Errors: raise ``WebhookRejected`` (→ 401/400 to the sender) from ``verify_webhook``,
``AuthError`` for refused credentials (the connection goes to ``error`` health),
``ConnectorError`` for anything else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from integrations.http import ConnectorClient
    from integrations.models import Connection
    from leads.models import Lead

MARKETING = "marketing"
CRM = "crm"
MAX_PAGES_PER_RUN = 50


# --- Errors ----------------------------------------------------------------------------


class ConnectorError(Exception):
    """A vendor call or a payload failed. ``retryable``: worth trying again later."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = str(message)
        self.retryable = retryable
        self.status = status


class AuthError(ConnectorError):
    """The vendor refused the credentials (401/403, revoked token)."""


class WebhookRejected(ConnectorError):
    """An inbound webhook is refused: bad or missing signature (401), stale or replayed
    (401), unreadable body (400). ``code`` is the error code answered to the sender."""

    def __init__(self, message: str, *, code: str = "bad_signature", status: int = 401):
        super().__init__(message, status=status)
        self.code = code


# --- Value types -----------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls per ``per_seconds`` seconds, per connection, across
    all workers (keep a margin under the vendor's documented limit)."""

    requests: int
    per_seconds: float


@dataclass(frozen=True)
class CredentialField:
    """One field of the connect form. ``secret`` fields are encrypted at rest and never
    shown again; the others (``secret=False``: portal id, instance URL…) are shown."""

    name: str
    label: str  # gettext_lazy
    secret: bool = True
    required: bool = True
    help_text: str = ""
    placeholder: str = ""
    # Generated by Smarketing when left empty (``secrets.token_urlsafe(generate)``), shown
    # once; a value typed in must have at least ``min_length`` characters.
    generate: int = 0
    min_length: int = 0


@dataclass(frozen=True)
class SettingField:
    """One non-secret setting of the connect/edit form, kept in ``connection.settings``
    under ``name``. ``json=True``: a JSON value edited in a text area (e.g. a mapping of
    form ids to content keys). ``shape`` says what the JSON must look like (checked when
    the connection is saved, integrations/services.py): ``"forms"`` (an object of form
    id/name → ``{"type", "content", "campaign"}``), ``"activity_types"`` (activity type
    id → event type, "" to switch one off), ``"text_map"`` (key → text), ``"labels"``
    (key → text or list of texts)."""

    name: str
    label: str  # gettext_lazy
    required: bool = False
    help_text: str = ""
    placeholder: str = ""
    json: bool = False
    shape: str = ""


@dataclass
class InboundRequest:
    """What ``verify_webhook`` gets: the raw request as received by
    ``/connect/<connection webhook key>/`` (``url`` absolute, as the vendor called it)."""

    method: str
    url: str
    headers: Mapping[str, str]  # case-insensitive (Django's request.headers)
    body: bytes
    received_at: datetime

    @classmethod
    def from_django(cls, request, *, now: datetime) -> InboundRequest:
        return cls(
            method=request.method,
            url=request.build_absolute_uri(),
            headers=request.headers,
            body=request.body,
            received_at=now,
        )


@dataclass
class VerifiedWebhook:
    """What ``verify_webhook`` may return: the parsed payload and its replay key — what
    makes this delivery unique among the verified ones (HubSpot: its v3 signature, which
    covers the method, URL, body and timestamp; an unsigned sender: a hash of the body).
    A second request with the same key is refused as a replay, whatever else differs
    (an extra header). A bare payload is keyed on a hash of the body."""

    payload: Any
    replay_key: str


@dataclass
class DealRecord:
    """A deal / opportunity as the CRM has it; ``status`` is open, won or lost."""

    external_id: str
    name: str
    amount: Decimal | str | int | float
    status: str = "open"
    stage: str = ""
    currency: str = ""
    created_at: datetime | None = None
    closed_at: datetime | None = None
    lead_email: str = ""
    lead_external_id: str = ""  # the CRM id of the person/lead/contact
    raw: dict = field(default_factory=dict)


@dataclass
class PullResult:
    """One page of a stream. ``cursor`` is saved as is and given back next call."""

    events: list[dict] = field(default_factory=list)
    deals: list[DealRecord] = field(default_factory=list)
    cursor: dict = field(default_factory=dict)
    has_more: bool = False

    def __iter__(self):  # ``events, deals, cursor = connector.pull(...)``
        return iter((self.events, self.deals, self.cursor))


@dataclass
class LeadChange:
    """Why a lead is pushed: its stage moved (``from_stage`` → ``to_stage`` at ``at``).
    ``external_id``: the id this connection's CRM gave the lead last time, or ""."""

    from_stage: str
    to_stage: str
    at: datetime
    external_id: str = ""
    reason: str = ""


# --- The interface ---------------------------------------------------------------------


class Connector:
    key: ClassVar[str] = ""  # "hubspot"; also the ingestion source and deal source
    label: ClassVar[str] = ""  # "HubSpot"
    kind: ClassVar[frozenset[str]] = frozenset({MARKETING})  # {MARKETING}, {CRM} or both
    description: ClassVar[str] = ""
    docs_url: ClassVar[str] = ""
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    # Non-secret settings of the form, in ``connection.settings`` ("base_url" is built in).
    settings_fields: ClassVar[tuple[SettingField, ...]] = ()
    default_base_url: ClassVar[str] = ""
    rate_limit: ClassVar[RateLimit] = RateLimit(10, 1.0)
    max_batch: ClassVar[int] = 100
    # Pulled marketing streams, in order ("contacts", "form_submissions"…); the CRM's
    # deals are the separate "deals" stream (``pull_deals``).
    streams: ClassVar[tuple[str, ...]] = ()
    supports_webhooks: ClassVar[bool] = False
    supports_push: ClassVar[bool] = False
    # SPEC event field → dotted path in a vendor record ("email": "properties.email").
    default_field_mapping: ClassVar[dict[str, str]] = {}
    # Which side wins per lead field when both change (documented on the mapping page).
    conflict_policy: ClassVar[dict[str, str]] = {}

    # -- Framework helpers (not to override) ---------------------------------------

    @classmethod
    def source(cls, connection: Connection | None = None) -> str:
        return cls.key

    @classmethod
    def is_crm(cls) -> bool:
        return CRM in cls.kind

    @classmethod
    def is_marketing(cls) -> bool:
        return MARKETING in cls.kind

    @classmethod
    def field_mapping(cls, connection: Connection) -> dict[str, str]:
        merged = dict(cls.default_field_mapping)
        for target, path in (connection.field_mapping or {}).items():
            if path:
                merged[target] = path
            else:
                merged.pop(target, None)  # an empty path switches a default off
        return merged

    @classmethod
    def map_record(cls, connection: Connection, record: Any) -> dict[str, Any]:
        """The SPEC event fields read from a vendor record with the merged mapping
        (``properties.x`` targets nest); missing or null values are left out."""
        from integrations.mapping import apply_mapping

        return apply_mapping(cls.field_mapping(connection), record)

    # -- To implement ----------------------------------------------------------------

    def auth_headers(self, connection: Connection, client: ConnectorClient) -> dict[str, str]:
        """Headers that authenticate a call (``connection.credentials`` is the decrypted
        dict of the credential fields)."""
        return {}

    def check(self, connection: Connection, client: ConnectorClient) -> None:
        """Called after connecting ("test connection"): one cheap authenticated call;
        raise ``AuthError`` / ``ConnectorError`` when it fails."""

    def verify_webhook(self, connection: Connection, request: InboundRequest) -> Any:
        """Check the signature and freshness; return a ``VerifiedWebhook`` (or the
        parsed payload alone) or raise ``WebhookRejected``."""
        raise WebhookRejected("this connector does not receive webhooks", code="not_supported")

    def webhook_to_events(self, connection: Connection, payload: Any) -> list[dict]:
        """SPEC §5 events for a verified payload (may be empty)."""
        return []

    def pull(
        self, connection: Connection, client: ConnectorClient, stream: str, cursor: dict
    ) -> PullResult:
        """One page of ``stream`` after ``cursor``."""
        return PullResult(cursor=cursor)

    def pull_deals(
        self, connection: Connection, client: ConnectorClient, cursor: dict
    ) -> PullResult:
        """One page of deals / opportunities changed after ``cursor`` (CRM)."""
        return PullResult(cursor=cursor)

    def push_lead(
        self, connection: Connection, client: ConnectorClient, lead: Lead, change: LeadChange
    ) -> str:
        """Create or update the lead in the CRM; return its CRM id."""
        raise ConnectorError("this connector does not push leads")

    def push_leads(
        self, connection: Connection, client: ConnectorClient, items: list[tuple[Lead, LeadChange]]
    ) -> list[tuple[str, str]]:
        """Many leads (at most ``max_batch``): ``(CRM id, error)`` per item, in order.
        Override with the vendor's batch calls; by default ``push_lead`` one by one (a
        refused lead is an error for that item; a retryable or auth failure raises)."""
        out: list[tuple[str, str]] = []
        for lead, change in items:
            try:
                out.append((self.push_lead(connection, client, lead, change), ""))
            except AuthError:
                raise
            except ConnectorError as error:
                if error.retryable:
                    raise
                out.append(("", error.message))
        return out


# --- Registry --------------------------------------------------------------------------

_registry: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    if not cls.key:
        raise ValueError(f"{cls.__name__} has no key")
    existing = _registry.get(cls.key)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"two connectors with the key {cls.key!r}")
    _registry[cls.key] = cls
    return cls


def unregister(key: str) -> None:
    """Tests only."""
    _registry.pop(key, None)


def load_connectors() -> None:
    """Import every module of this package (each registers its connectors)."""
    package = importlib.import_module("integrations.connectors")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"integrations.connectors.{info.name}")


def get_connector(key: str) -> Connector | None:
    cls = _registry.get(key)
    return cls() if cls else None


def all_connectors() -> list[type[Connector]]:
    return sorted(_registry.values(), key=lambda cls: str(cls.label).lower())
