"""The website tracker: settings, origin (CORS) and consent rules, rate limiting, and the
translation of what the snippet sends into SPEC.md §5 events for ``ingest_events``.

The collect endpoint is public: anyone can post to it with any ``Origin`` header from a
script. CORS only stops *browsers* on other sites; what really bounds the damage is that
the tracker may only claim a few event types (page views, opted-in form submissions,
custom events), never an arbitrary lead attribute, and is rate limited per visitor and
per address. See docs/tracker.md.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.db import system_context, tenant_context
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .ingest import DOMAIN, LEAD_ATTRIBUTES, UTM_FIELDS, VISITOR_ID, IngestResult, ingest_events
from .models import EventType, TrackingSettings

log = logging.getLogger(__name__)

SOURCE = "tracker"
PUBLIC_KEY_PREFIX = "pk_"
PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
# Client-generated event ids: random, so that a retried request is idempotent.
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS_PER_REQUEST = 50
MAX_DOMAINS = 50
MAX_RATE_LIMIT = 100_000
# The address limit is this many times the visitor limit: an office behind one NAT
# address is many visitors, a script rotating visitor ids is one address.
ADDRESS_FACTOR = 10
# How far a client's clock is trusted; outside this the server's time is used.
CLIENT_CLOCK_PAST = timedelta(hours=24)
CLIENT_CLOCK_FUTURE = timedelta(minutes=5)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
# What a tracker may claim. Anything else (content downloads, demo requests…) comes
# through the authenticated API or a signed webhook.
TRACKER_TYPES = frozenset({EventType.PAGE_VIEW, EventType.FORM_SUBMIT})
FORM_FIELDS = tuple(LEAD_ATTRIBUTES)


class TrackerError(ServiceError):
    code = "invalid_payload"


class RateLimited(TrackerError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(_("Too many events; retry later."))
        self.retry_after = retry_after


# --- Settings -------------------------------------------------------------------------


def generate_public_key() -> str:
    return PUBLIC_KEY_PREFIX + secrets.token_urlsafe(18)


def tracking_settings_for(*, organization: Organization) -> TrackingSettings:
    """The organization's tracker settings, created with safe defaults on first use
    (enabled, consent required, no allowed domain yet: nothing is accepted)."""
    existing = TrackingSettings.objects.for_org(organization).first()
    if existing is not None:
        return existing
    row, _created = TrackingSettings.objects.for_org(organization).get_or_create(
        organization=organization, defaults={"public_key": generate_public_key()}
    )
    return row


def normalize_domain(entry: str) -> str:
    """``https://www.Exemple.fr/path`` → ``www.exemple.fr``; ``localhost:3000`` stays.
    Raises ``ValueError`` for anything that is not a host name (with an optional port)."""
    value = entry.strip().lower()
    if "://" in value:
        value = urlsplit(value).netloc
    value = value.split("/", 1)[0].rstrip(".")
    host, _sep, port = value.partition(":")
    if port and (not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536):
        raise ValueError(entry)
    try:
        host = host.encode("idna").decode("ascii")  # exemple-café.fr → xn--…
    except UnicodeError as error:
        raise ValueError(entry) from error
    if host not in LOCAL_HOSTS and not DOMAIN.match(host):
        raise ValueError(entry)
    return f"{host}:{port}" if port else host


def clean_allowed_domains(entries: list[str]) -> list[str]:
    domains: list[str] = []
    errors: list[str] = []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            domain = normalize_domain(entry)
        except ValueError:
            errors.append(_("“%(entry)s” is not a domain name.") % {"entry": entry.strip()})
            continue
        if domain not in domains:
            domains.append(domain)
    if len(domains) > MAX_DOMAINS:
        errors.append(_("At most %(n)d domains.") % {"n": MAX_DOMAINS})
    if errors:
        raise TrackerError(errors[0], fields={"allowed_domains": errors})
    return domains


def tracking_settings_update(
    *,
    actor,
    tracking: TrackingSettings,
    enabled: bool,
    allowed_domains: list[str],
    require_consent: bool,
    rate_limit_per_minute: int,
) -> TrackingSettings:
    require_perm(actor, "tracking.manage")
    _same_org(actor, tracking)
    if not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT:
        raise TrackerError(
            _("Between 1 and %(n)d.") % {"n": MAX_RATE_LIMIT},
            fields={"rate_limit_per_minute": [_("Between 1 and %(n)d.") % {"n": MAX_RATE_LIMIT}]},
        )
    tracking.enabled = enabled
    tracking.allowed_domains = clean_allowed_domains(allowed_domains)
    tracking.require_consent = require_consent
    tracking.rate_limit_per_minute = rate_limit_per_minute
    tracking.save(
        update_fields=[
            "enabled",
            "allowed_domains",
            "require_consent",
            "rate_limit_per_minute",
            "updated_at",
        ]
    )
    return tracking


def tracking_key_rotate(*, actor, tracking: TrackingSettings) -> TrackingSettings:
    """A new public key: the old snippet URL answers 404 at once (sites must update)."""
    require_perm(actor, "tracking.manage")
    _same_org(actor, tracking)
    tracking.public_key = generate_public_key()
    tracking.save(update_fields=["public_key", "updated_at"])
    return tracking


def _same_org(actor, tracking: TrackingSettings) -> None:
    if tracking.organization_id != actor.organization_id:
        raise TrackerError(_("Not found."), status=404, code="not_found")


def find_tracking_settings(public_key: str) -> TrackingSettings | None:
    """The enabled tracker with this public key, whatever its organization (the public
    endpoints are outside ``/o/…``: the tenant is not known yet)."""
    if not PUBLIC_KEY.match(public_key or ""):
        return None
    with system_context("tracker look-up by public key"):
        return (
            TrackingSettings.unscoped.select_related("organization")
            .filter(public_key=public_key, enabled=True)
            .first()
        )


# --- CORS -----------------------------------------------------------------------------


def origin_allowed(tracking: TrackingSettings, origin: str | None) -> bool:
    """An exact host match against the allowed domains; https only, except plain http
    on localhost/127.0.0.1 (any port) for development."""
    if not origin or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.path not in ("", "/") or parts.query or parts.username:
        return False
    local = host in LOCAL_HOSTS
    if parts.scheme == "https":
        default_port = 443
    elif parts.scheme == "http" and local:
        default_port = 80
    else:
        return False
    allowed = set(tracking.allowed_domains or [])
    if (port is None or port == default_port or local) and host in allowed:
        return True
    return port is not None and f"{host}:{port}" in allowed


# --- Rate limiting --------------------------------------------------------------------


class FixedWindowLimiter:
    """Events per key and per minute, counted in a fixed window.

    With ``REDIS_URL`` the counters live in Redis (``INCRBY`` + ``EXPIRE``), shared by
    every web process. Without it (the embedded default) or while Redis is unreachable,
    they live in this process: each process then counts on its own, which is enough to
    stop a runaway page on a development machine.
    """

    WINDOW = 60

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[tuple[str, int], int] = {}
        self._redis = None
        self._redis_url: str | None = None

    def _client(self):
        url = getattr(settings, "REDIS_URL", None)
        if not url:
            return None
        if self._redis is None or self._redis_url != url:
            import redis

            self._redis = redis.Redis.from_url(
                url, socket_timeout=0.25, socket_connect_timeout=0.25
            )
            self._redis_url = url
        return self._redis

    def hit(self, key: str, *, cost: int, limit: int, now: float | None = None) -> int:
        """Count ``cost`` and return 0 if within ``limit``, else the seconds to wait."""
        now = time.time() if now is None else now
        window = int(now) // self.WINDOW
        retry_after = max(1, (window + 1) * self.WINDOW - int(now))
        count = self._count_redis(key, window, cost)
        if count is None:
            count = self._count_local(key, window, cost)
        return retry_after if count > limit else 0

    def _count_redis(self, key: str, window: int, cost: int) -> int | None:
        client = self._client()
        if client is None:
            return None
        import redis

        name = f"smarketing:tracker:rate:{key}:{window}"
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incrby(name, cost)
            pipe.expire(name, self.WINDOW * 2)
            return int(pipe.execute()[0])
        except redis.RedisError as error:
            log.warning("tracker rate limit: Redis unavailable, counting in-process (%s)", error)
            return None

    def _count_local(self, key: str, window: int, cost: int) -> int:
        with self._lock:
            if len(self._local) > 50_000:
                self._local = {k: v for k, v in self._local.items() if k[1] >= window}
            count = self._local.get((key, window), 0) + cost
            self._local[(key, window)] = count
            return count


limiter = FixedWindowLimiter()


def client_address(meta: dict) -> str:
    """The visitor's address: REMOTE_ADDR, or the entry the trusted proxies added to
    X-Forwarded-For when ``PROXY_COUNT`` proxies sit in front (the same setting as the
    log-in throttle)."""
    proxies = int(getattr(settings, "AXES_IPWARE_PROXY_COUNT", 0) or 0)
    forwarded = [p.strip() for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return meta.get("REMOTE_ADDR", "") or "unknown"


# --- Collect --------------------------------------------------------------------------


@dataclass
class CollectResult:
    accepted: int
    duplicates: int


def _utm_from_url(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    utm = {}
    for name, value in parse_qsl(query):
        name = name.lower()
        if name in UTM_FIELDS and value.strip() and name not in utm:
            utm[name] = value.strip()[:100]
    return utm


def _occurred_at(ts: Any, now: datetime) -> datetime:
    """The client's time if its clock looks sane, else the server's (a wrong clock on a
    visitor's laptop must not make the whole batch invalid)."""
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        try:
            at = datetime.fromtimestamp(ts / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return now
        if now - CLIENT_CLOCK_PAST <= at <= now + CLIENT_CLOCK_FUTURE:
            return min(at, now)
    return now


def _short(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _tracker_event(raw: Any, visitor_id: str, now: datetime) -> tuple[dict | None, dict]:
    """One event of the snippet → one SPEC.md §5 event. Unknown keys are ignored (an
    older server must accept a newer snippet); wrong types are errors."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": [_("An event must be a JSON object.")]}
    errors: dict[str, list[str]] = {}
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not CLIENT_ID.match(event_id):
        errors["id"] = [_("8 to 64 letters, digits, '-' or '_'.")]
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not (
        event_type in TRACKER_TYPES or event_type.startswith("custom:")
    ):
        errors["type"] = [_("The tracker sends page_view, form_submit or custom:<name>.")]
    url = raw.get("url", "")
    if not isinstance(url, str) or len(url) > 2000:
        errors["url"] = [_("A URL of at most 2,000 characters.")]
    elif url and urlsplit(url).scheme not in ("http", "https"):
        errors["url"] = [_("An http(s) URL.")]
    properties: dict[str, Any] = {}
    if "properties" in raw:
        if not isinstance(raw["properties"], dict):
            errors["properties"] = [_("Must be a JSON object.")]
        elif event_type in TRACKER_TYPES:
            errors["properties"] = [_("Only custom events carry properties.")]
        else:
            properties.update(raw["properties"])
    email = raw.get("email")
    fields = raw.get("fields")
    if email is not None and event_type != EventType.FORM_SUBMIT:
        errors["email"] = [_("Only a form submission identifies a visitor.")]
    elif event_type == EventType.FORM_SUBMIT and not (isinstance(email, str) and email.strip()):
        errors["email"] = [_("A form submission carries the e-mail typed in the form.")]
    if fields is not None and (event_type != EventType.FORM_SUBMIT or not isinstance(fields, dict)):
        errors["fields"] = [_("Form fields are an object, on form submissions only.")]
    if errors:
        return None, errors

    for name, limit in (("title", 300), ("referrer", 2000), ("form", 100)):
        value = _short(raw.get(name), limit)
        if value:
            properties[name] = value
    event: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "occurred_at": _occurred_at(raw.get("ts"), now).isoformat(),
        "visitor_id": visitor_id,
    }
    if url:
        event["url"] = url
        utm = _utm_from_url(url)
        if utm:
            event["campaign"] = utm
    if properties:
        event["properties"] = properties
    if event_type == EventType.FORM_SUBMIT:
        event["email"] = email.strip()
        for name in FORM_FIELDS:
            value = _short((fields or {}).get(name), LEAD_ATTRIBUTES[name])
            if value:
                event[name] = value
    return event, {}


def tracker_events(payload: Any, *, now: datetime) -> tuple[str, list[dict]]:
    """Validate the snippet's request and build the events; raises ``TrackerError``
    with the same error shape as ingestion (``{index: {field: [messages]}}``)."""
    if not isinstance(payload, dict):
        raise TrackerError(_("The body must be a JSON object."))
    visitor_id = payload.get("visitor_id")
    errors: dict[str, Any] = {}
    if not isinstance(visitor_id, str) or not VISITOR_ID.match(visitor_id):
        errors["visitor_id"] = [_("8 to 64 letters, digits, '-', '_', '.' or ':'.")]
    raw_events = payload.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        errors["events"] = [_("A non-empty list of events.")]
    elif len(raw_events) > MAX_EVENTS_PER_REQUEST:
        errors["events"] = [_("At most %(n)d events per request.") % {"n": MAX_EVENTS_PER_REQUEST}]
    if errors:
        raise TrackerError(_("Invalid tracker request."), fields=errors)
    events, event_errors = [], {}
    for index, raw in enumerate(raw_events):
        event, errs = _tracker_event(raw, visitor_id, now)
        if errs:
            event_errors[str(index)] = errs
        else:
            events.append(event)
    if event_errors:
        raise TrackerError(
            _("%(count)d event(s) are invalid; nothing was written.")
            % {"count": len(event_errors)},
            fields=event_errors,
        )
    return visitor_id, events


def tracker_collect(
    *,
    tracking: TrackingSettings,
    payload: Any,
    client_ip: str,
    now: datetime | None = None,
) -> IngestResult:
    """Check consent and the rate limit, then ingest in the organization's tenant.

    Defence in depth for consent: an organization that requires it gets no identifier
    (a visitor id, an e-mail) from a request that does not say the visitor consented,
    whatever the snippet does."""
    now = now or timezone.now()
    if not isinstance(payload, dict):
        raise TrackerError(_("The body must be a JSON object."))
    raw_events = payload.get("events")
    cost = len(raw_events) if isinstance(raw_events, list) and raw_events else 1
    limit = tracking.rate_limit_per_minute
    visitor = payload.get("visitor_id")
    wait = limiter.hit(
        f"{tracking.public_key}:ip:{client_ip}", cost=cost, limit=limit * ADDRESS_FACTOR
    )
    if not wait and isinstance(visitor, str) and VISITOR_ID.match(visitor):
        wait = limiter.hit(f"{tracking.public_key}:v:{visitor}", cost=cost, limit=limit)
    if wait:
        raise RateLimited(wait)
    if tracking.require_consent and payload.get("consent") is not True:
        raise TrackerError(
            _("This site requires the visitor's consent before tracking: nothing was stored."),
            code="consent_required",
        )
    _visitor_id, events = tracker_events(payload, now=now)
    with tenant_context(tracking.organization_id):
        return ingest_events(
            organization=tracking.organization, events=events, source=SOURCE, now=now
        )
