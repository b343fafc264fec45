"""Inbound generic webhooks: ``POST /hooks/<token>/``, signed per Standard Webhooks
(https://www.standardwebhooks.com), mapped to SPEC.md §5 events by a per-endpoint field
mapping, and ingested with source ``hook:<endpoint key>``.

Security, in order: the URL token finds the endpoint (by its hash, in the system
context); the signature (HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}``
with the endpoint's secret) and the timestamp (±5 minutes) are checked before anything
is parsed; a message id already *processed* on this endpoint is refused (409). Only a
processed message leaves a success receipt, so a sender may redeliver a message whose
first attempt failed (mapping error, bad data) once the mapping is fixed.

The mapping (``WebhookEndpoint.mapping``, documented in docs/tracker.md)::

    {"events": "data.items",                 # optional: a list path, one event per item
     "fields": {"email": "contact.email",    # event field ← dotted path (in the item;
                "occurred_at": "created_at", #   "$." starts from the payload's root)
                "properties.plan": "$.account.plan"},
     "constants": {"type": "webinar_registered", "campaign": "webinar-q4"}}

Without ``fields`` the item is taken as an event as it is (pass-through). The event
``id`` defaults to ``<webhook-id>:<index>``, ``occurred_at`` to the webhook timestamp,
``type`` to the endpoint's default type.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from smarketing import crypto
from smarketing.errors import ServiceError
from smarketing.tenancy.db import system_context, tenant_context
from smarketing.tenancy.models import Organization, hash_secret
from smarketing.tenancy.permissions import require_perm

from .ingest import (
    CUSTOM_TYPE,
    KNOWN_FIELDS,
    STANDARD_TYPES,
    UTM_FIELDS,
    IngestError,
    ingest_events,
)
from .models import WebhookEndpoint, WebhookReceipt

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
SECRET_BYTES = 32
TOLERANCE_MINUTES = 5  # the standardwebhooks package's window
MAX_MESSAGE_ID = 120  # so that "<id>:<index>" fits the 128 characters of an event id
MAX_PATH = 200
RECEIPTS_SHOWN = 50
SOURCE_PREFIX = "hook:"
MAPPING_KEYS = frozenset({"events", "fields", "constants"})
# Targets a mapping may write: the event fields, one property, one UTM field.
NESTED_TARGETS = {"properties": None, "campaign": frozenset(UTM_FIELDS)}


class HookError(ServiceError):
    code = "invalid_webhook"


@dataclass
class HookResult:
    accepted: int
    duplicates: int


# --- Secrets and tokens ---------------------------------------------------------------


def generate_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def generate_token() -> tuple[str, str, str]:
    """The URL token: (token shown once, visible prefix, stored hash)."""
    token = secrets.token_urlsafe(32)
    return token, token[:8], hash_secret(token)


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    return crypto.decrypt(endpoint.secret_encrypted)


def source_for(endpoint: WebhookEndpoint) -> str:
    return f"{SOURCE_PREFIX}{endpoint.key}"


# --- Reads ----------------------------------------------------------------------------


def webhook_endpoints(organization: Organization) -> QuerySet[WebhookEndpoint]:
    return (
        WebhookEndpoint.objects.for_org(organization)
        .select_related("created_by")
        .order_by("-active", "name")
    )


def get_webhook_endpoint_for_org(organization: Organization, endpoint_id) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.for_org(organization).get(pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def webhook_receipts(
    organization: Organization, *, endpoint: WebhookEndpoint | None = None, limit: int = 10
) -> list[WebhookReceipt]:
    receipts = WebhookReceipt.objects.for_org(organization).select_related("endpoint")
    if endpoint is not None:
        receipts = receipts.filter(endpoint=endpoint)
    return list(receipts.order_by("-received_at", "-pk")[:limit])


def find_webhook_endpoint(token: str) -> WebhookEndpoint | None:
    """The active endpoint with this URL token, whatever its organization."""
    if not token or len(token) > 100:
        return None
    with system_context("webhook endpoint look-up by token hash"):
        return (
            WebhookEndpoint.unscoped.select_related("organization")
            .filter(token_hash=hash_secret(token), active=True)
            .first()
        )


# --- Mapping --------------------------------------------------------------------------


def _target_ok(target: str) -> bool:
    if target in KNOWN_FIELDS:
        return True
    head, sep, tail = target.partition(".")
    if not sep or head not in NESTED_TARGETS or not tail or "." in tail:
        return False
    allowed = NESTED_TARGETS[head]
    return allowed is None or tail in allowed


def _path_ok(path: Any) -> bool:
    return isinstance(path, str) and 0 < len(path) <= MAX_PATH and "" not in path.split(".")


def clean_mapping(mapping: Any) -> dict:
    """Check a mapping's shape (not its results: the preview does that). Raises
    ``HookError`` with ``fields={"mapping": [messages]}``."""
    if mapping in (None, ""):
        return {}
    errors: list[str] = []
    if not isinstance(mapping, dict):
        raise HookError(
            _("The mapping is a JSON object."),
            fields={"mapping": [_("The mapping is a JSON object.")]},
        )
    for key in sorted(set(mapping) - MAPPING_KEYS):
        errors.append(_("Unknown key “%(key)s”: use events, fields, constants.") % {"key": key})
    events = mapping.get("events")
    if events not in (None, "") and not _path_ok(events):
        errors.append(_("“events” is a dotted path to a list, e.g. data.items."))
    fields = mapping.get("fields") or {}
    constants = mapping.get("constants") or {}
    if not isinstance(fields, dict):
        errors.append(_("“fields” maps event fields to dotted paths."))
        fields = {}
    if not isinstance(constants, dict):
        errors.append(_("“constants” maps event fields to fixed values."))
        constants = {}
    for target, path in fields.items():
        if not _target_ok(target):
            errors.append(_("“%(field)s” is not an event field.") % {"field": target})
        elif not _path_ok(path):
            errors.append(
                _("The path of “%(field)s” must be a dotted path, e.g. contact.email.")
                % {"field": target}
            )
    for target, value in constants.items():
        if not _target_ok(target):
            errors.append(_("“%(field)s” is not an event field.") % {"field": target})
        elif isinstance(value, dict | list) and not target.startswith("properties."):
            errors.append(_("The constant “%(field)s” must be a plain value.") % {"field": target})
    if errors:
        raise HookError(errors[0], fields={"mapping": errors})
    cleaned: dict[str, Any] = {}
    if events:
        cleaned["events"] = events
    if fields:
        cleaned["fields"] = dict(fields)
    if constants:
        cleaned["constants"] = dict(constants)
    return cleaned


_MISSING = object()


def resolve_path(data: Any, path: str) -> Any:
    """``contact.email``, ``items.0.email``; a missing step gives ``_MISSING``."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif (
            isinstance(data, list)
            and part.lstrip("-").isascii()
            and part.lstrip("-").isdigit()
            and -len(data) <= int(part) < len(data)
        ):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _lookup(root: Any, item: Any, path: str) -> Any:
    if path == "$":
        return root
    if path.startswith("$."):
        return resolve_path(root, path[2:])
    return resolve_path(item, path)


def _as_time(value: Any) -> Any:
    """Unix seconds (or milliseconds) → ISO 8601; anything else is left to ingestion."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return value
    return value


def _put(event: dict, target: str, value: Any) -> None:
    head, sep, tail = target.partition(".")
    if not sep:
        if target == "occurred_at":
            value = _as_time(value)
        elif (
            target != "properties"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            value = str(value)  # ids, phone numbers, postcodes sent as numbers
        event[target] = value
        return
    nested = event.setdefault(head, {})
    if isinstance(nested, dict):
        if head == "campaign" and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        nested[tail] = value


def map_payload(
    *,
    mapping: dict,
    default_type: str,
    payload: Any,
    message_id: str,
    timestamp: datetime,
) -> list[dict]:
    """The events a payload stands for. Raises ``HookError`` for a payload the mapping
    cannot read (the list path is not a list…); event fields are checked by ingestion."""
    items: Any = payload
    list_path = mapping.get("events")
    if list_path:
        items = _lookup(payload, payload, list_path)
        if not isinstance(items, list):
            message = _("“%(path)s” is not a list in this payload.") % {"path": list_path}
            raise HookError(message, fields={"events": [message]})
        if not items:
            message = _("“%(path)s” is an empty list.") % {"path": list_path}
            raise HookError(message, fields={"events": [message]})
    elif not mapping.get("fields") and isinstance(payload, dict) and set(payload) == {"events"}:
        items = payload["events"]  # pass-through of the API's batch shape
    if not isinstance(items, list):
        items = [items]
    fields = mapping.get("fields") or {}
    constants = mapping.get("constants") or {}
    events = []
    for index, item in enumerate(items):
        if fields:
            event: dict[str, Any] = {}
            for target, path in fields.items():
                value = _lookup(payload, item, path)
                if value is not _MISSING and value is not None:
                    _put(event, target, value)
        elif isinstance(item, dict):
            event = dict(item)
        else:
            message = _("Item %(index)d is not a JSON object.") % {"index": index}
            raise HookError(message, fields={str(index): {"non_field_errors": [message]}})
        for target, value in constants.items():
            _put(event, target, value)
        event.setdefault("type", default_type)
        if not event.get("type"):
            event.pop("type")
        event.setdefault("id", f"{message_id}:{index}")
        event.setdefault("occurred_at", timestamp.isoformat())
        events.append(event)
    return events


def mapping_preview(*, endpoint: WebhookEndpoint, mapping: dict, payload: Any) -> list[dict]:
    """What a payload would become, without writing anything (the settings page)."""
    return map_payload(
        mapping=clean_mapping(mapping),
        default_type=endpoint.default_type,
        payload=payload,
        message_id="msg_preview",
        timestamp=timezone.now(),
    )


# --- Endpoint management (settings page) -----------------------------------------------


def _check_type(default_type: str) -> str:
    default_type = (default_type or "").strip()
    if default_type and not (default_type in STANDARD_TYPES or CUSTOM_TYPE.match(default_type)):
        message = _("A standard event type or custom:<name>.")
        raise HookError(message, fields={"default_type": [message]})
    return default_type


def _same_org(actor, endpoint: WebhookEndpoint) -> None:
    if endpoint.organization_id != actor.organization_id:
        raise HookError(_("Not found."), status=404, code="not_found")


@transaction.atomic
def webhook_endpoint_create(
    *, actor, name: str, key: str = "", default_type: str = "", mapping: Any = None
) -> tuple[WebhookEndpoint, str, str]:
    """A new endpoint; returns it with its URL token and signing secret, both shown
    once. The token is stored hashed, the secret encrypted (it must be read to check
    signatures)."""
    require_perm(actor, "tracking.manage")
    org = actor.organization
    name = (name or "").strip()
    if not name:
        raise HookError(
            _("Give the endpoint a name."), fields={"name": [_("This field is required.")]}
        )
    key = slugify(key or name)[:50].strip("-")
    if not key:
        raise HookError(
            _("A key is letters, digits and hyphens."),
            fields={"key": [_("A key is letters, digits and hyphens.")]},
        )
    if WebhookEndpoint.objects.for_org(org).filter(key=key).exists():
        message = _("An endpoint with the key “%(key)s” exists already.") % {"key": key}
        raise HookError(message, fields={"key": [message]})
    token, prefix, token_hash = generate_token()
    secret = generate_secret()
    try:
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.create(
                organization=org,
                name=name[:100],
                key=key,
                token_prefix=prefix,
                token_hash=token_hash,
                secret_encrypted=crypto.encrypt(secret),
                mapping=clean_mapping(mapping),
                default_type=_check_type(default_type),
                created_by=actor.user,
            )
    except IntegrityError as error:  # the same key created at the same moment
        message = _("An endpoint with the key “%(key)s” exists already.") % {"key": key}
        raise HookError(message, fields={"key": [message]}) from error
    return endpoint, token, secret


def webhook_endpoint_update(
    *, actor, endpoint: WebhookEndpoint, name: str, default_type: str, mapping: Any
) -> WebhookEndpoint:
    """Name, default type and mapping. The key never changes: events are idempotent
    per source (``hook:<key>``), a new key would make redeliveries new events."""
    require_perm(actor, "tracking.manage")
    _same_org(actor, endpoint)
    name = (name or "").strip()
    if not name:
        raise HookError(
            _("Give the endpoint a name."), fields={"name": [_("This field is required.")]}
        )
    endpoint.name = name[:100]
    endpoint.default_type = _check_type(default_type)
    endpoint.mapping = clean_mapping(mapping)
    endpoint.save(update_fields=["name", "default_type", "mapping"])
    return endpoint


def webhook_endpoint_set_active(
    *, actor, endpoint: WebhookEndpoint, active: bool
) -> WebhookEndpoint:
    """Deactivated, the URL answers 404 (the sender sees a failure and retries later)."""
    require_perm(actor, "tracking.manage")
    _same_org(actor, endpoint)
    endpoint.active = active
    endpoint.save(update_fields=["active"])
    return endpoint


def webhook_secret_rotate(*, actor, endpoint: WebhookEndpoint) -> str:
    """A new signing secret, effective at once (the old one stops verifying)."""
    require_perm(actor, "tracking.manage")
    _same_org(actor, endpoint)
    secret = generate_secret()
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted"])
    return secret


# --- Receiving ------------------------------------------------------------------------


def verify_signature(
    *, secret: str, body: bytes, headers: Mapping[str, str]
) -> tuple[str, datetime]:
    """Standard Webhooks verification; returns (message id, timestamp). Raises
    ``HookError`` 401 for a missing header, a bad signature or a stale timestamp."""
    wanted = {
        name: headers.get(name, "")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    try:
        Webhook(secret).verify(body, wanted, json_parse=False)
    except WebhookVerificationError as error:
        if "timestamp too" in str(error):
            raise HookError(
                _("The webhook-timestamp is more than %(n)d minutes away from now.")
                % {"n": TOLERANCE_MINUTES},
                code="stale_timestamp",
                status=401,
            ) from error
        if "Missing" in str(error):
            raise HookError(
                _("The webhook-id, webhook-timestamp and webhook-signature headers are required."),
                code="missing_signature",
                status=401,
            ) from error
        raise HookError(
            _("The signature does not match."), code="bad_signature", status=401
        ) from error
    except (ValueError, TypeError) as error:  # a malformed signature header or body
        raise HookError(
            _("The signature does not match."), code="bad_signature", status=401
        ) from error
    timestamp = datetime.fromtimestamp(float(wanted["webhook-timestamp"]), tz=UTC)
    return wanted["webhook-id"], timestamp


def webhook_receive(
    *,
    endpoint: WebhookEndpoint,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime | None = None,
) -> HookResult:
    """Verify, map and ingest one message, in the endpoint's tenant.

    A message id already processed → 409 (``replayed``). A message that fails (bad JSON,
    mapping, event validation) writes no event and leaves a failed receipt; the same
    message id may be delivered again and succeed."""
    now = now or timezone.now()
    try:
        secret = endpoint_secret(endpoint)
    except crypto.DecryptionError as error:
        # SECRET_KEY or SMARKETING_ENCRYPTION_KEY changed without keeping the old key:
        # the operator's to fix; 503 makes the sender retry later instead of dropping.
        log.error("webhook endpoint %s: the signing secret cannot be decrypted", endpoint.pk)
        raise HookError(
            _("This endpoint cannot verify signatures right now; retry later."),
            code="secret_unavailable",
            status=503,
        ) from error
    message_id, timestamp = verify_signature(secret=secret, body=body, headers=headers)
    org = endpoint.organization
    failure: ServiceError | None = None
    # Errors leave the tenant block as values, not exceptions: an exception would roll
    # back the failed receipt written for them.
    with tenant_context(endpoint.organization_id):
        WebhookEndpoint.objects.for_org(org).filter(pk=endpoint.pk).update(last_received_at=now)
        try:
            result = _process(org, endpoint, message_id, timestamp, body, now)
        except IntegrityError:
            # Two first deliveries of one id at the same moment: the other one won.
            failure = _replayed(message_id)
        except (HookError, IngestError) as error:
            if error.status != 409 and len(message_id) <= MAX_MESSAGE_ID:
                _record_failure(org, endpoint, message_id, error, now)
            failure = error
    if failure is not None:
        raise failure
    return HookResult(accepted=result.accepted, duplicates=result.duplicates)


def _replayed(message_id: str) -> HookError:
    return HookError(
        _("This message was already processed (webhook-id %(id)s).") % {"id": message_id},
        code="replayed",
        status=409,
    )


def _process(org, endpoint, message_id: str, timestamp: datetime, body: bytes, now: datetime):
    if len(message_id) > MAX_MESSAGE_ID:
        raise HookError(
            _("The webhook-id is at most %(n)d characters.") % {"n": MAX_MESSAGE_ID},
            code="invalid_message_id",
        )
    receipts = WebhookReceipt.objects.for_org(org).filter(endpoint=endpoint, message_id=message_id)
    with transaction.atomic():  # a failure writes no event and no success receipt
        # Locked: a concurrent redelivery of the same id waits for this one.
        previous = receipts.select_for_update().first()
        if previous is not None and previous.status == 202:
            raise _replayed(message_id)
        try:
            payload = json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise HookError(_("The body is not JSON."), code="invalid_json") from error
        events = map_payload(
            mapping=endpoint.mapping or {},
            default_type=endpoint.default_type,
            payload=payload,
            message_id=message_id,
            timestamp=timestamp,
        )
        result = ingest_events(
            organization=org, events=events, source=source_for(endpoint), now=now
        )
        values = {
            "status": 202,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "error": "",
            "received_at": now,
        }
        if previous is None:
            WebhookReceipt.objects.create(
                organization=org, endpoint=endpoint, message_id=message_id, **values
            )
        else:
            receipts.update(**values)
    return result


def _record_failure(org, endpoint, message_id: str, error: ServiceError, now: datetime) -> None:
    detail = error.message
    if error.fields:
        detail = f"{detail} {json.dumps(error.fields, ensure_ascii=False)}"
    values = {
        "status": error.status,
        "accepted": 0,
        "duplicates": 0,
        "error": detail[:2000],
        "received_at": now,
    }
    updated = (
        WebhookReceipt.objects.for_org(org)
        .filter(endpoint=endpoint, message_id=message_id)
        .exclude(status=202)
        .update(**values)
    )
    if not updated:
        try:
            with transaction.atomic():
                WebhookReceipt.objects.create(
                    organization=org, endpoint=endpoint, message_id=message_id, **values
                )
        except IntegrityError:
            pass  # processed meanwhile by a concurrent delivery: keep its success


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")
