"""What every vendor connector needs to turn vendor records into SPEC §5 events that
``leads.ingest.ingest_events`` accepts.

``ingest_events`` refuses a whole batch when one event is invalid; a vendor record with
a malformed phone or a country spelled out ("France") must not block a stream forever.
``sanitize_events`` checks each event with the ingestion's own validator, drops the
optional fields that fail (and, when the event is still invalid, the event), and says
what it dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from leads.ingest import LEAD_ATTRIBUTES, clean_event

log = logging.getLogger(__name__)

# Optional fields an event can lose and still be worth ingesting.
DROPPABLE = (*LEAD_ATTRIBUTES, "url", "content", "campaign", "properties", "visitor_id")

# Country names as marketing tools store them (free text) → ISO 3166 alpha-2.
COUNTRIES = {
    "france": "FR",
    "belgique": "BE",
    "belgium": "BE",
    "suisse": "CH",
    "switzerland": "CH",
    "schweiz": "CH",
    "luxembourg": "LU",
    "monaco": "MC",
    "allemagne": "DE",
    "germany": "DE",
    "deutschland": "DE",
    "espagne": "ES",
    "spain": "ES",
    "italie": "IT",
    "italy": "IT",
    "royaume-uni": "GB",
    "united kingdom": "GB",
    "uk": "GB",
    "pays-bas": "NL",
    "netherlands": "NL",
    "canada": "CA",
    "états-unis": "US",
    "etats-unis": "US",
    "united states": "US",
    "usa": "US",
    "portugal": "PT",
    "maroc": "MA",
    "morocco": "MA",
    "tunisie": "TN",
    "algérie": "DZ",
    "sénégal": "SN",
    "côte d'ivoire": "CI",
}

CONTACT_SYNCED = "custom:contact_synced"


def country_code(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if len(value) == 2 and value.isalpha():
        return value.upper()
    return COUNTRIES.get(value.lower(), "")


def content_key(value: Any) -> str:
    """A content (or campaign) key from a vendor's title or slug."""
    return slugify(str(value or ""))[:100].strip("-")


def digest(*parts: Any, length: int = 16) -> str:
    """A short, stable id from the parts (for vendors that give their events no id)."""
    raw = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:length]


def from_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` or an offset), ``YYYY-MM-DD HH:MM:SS`` (UTC, as Pipedrive sends),
    a date alone (midnight UTC), or milliseconds since the epoch."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_ms(value)
    text = str(value).strip()
    if text.isdigit():
        return from_ms(text)
    try:
        parsed = parse_datetime(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            day = parse_date(text[:10])
        except ValueError:
            day = None
        if day is None:
            return None
        parsed = datetime(day.year, day.month, day.day)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def compact(event: dict) -> dict:
    """The event without empty values (``None``, "", {}), attributes stripped."""
    out: dict[str, Any] = {}
    for name, value in event.items():
        if value is None or value == "" or value == {}:
            continue
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        out[name] = value
    if "country" in out:
        code = country_code(out["country"])
        if code:
            out["country"] = code
        else:
            out.pop("country")
    if "email" in out and isinstance(out["email"], str):
        out["email"] = out["email"].lower()
    for name, limit in LEAD_ATTRIBUTES.items():
        if isinstance(out.get(name), str) and len(out[name]) > limit:
            out[name] = out[name][:limit]
    return out


def sanitize_events(
    events: Iterable[dict],
    *,
    now: datetime | None = None,
    report: Callable[[str], None] | None = None,
) -> list[dict]:
    """The events ingestion will accept: bad optional fields dropped, hopeless events
    (no valid e-mail or visitor, no id, no time) left out; ``report`` hears why."""
    now = now or timezone.now()
    say = report or (lambda message: log.info("connector event dropped: %s", message))
    kept: list[dict] = []
    for index, raw in enumerate(events):
        event = compact(raw)
        _clean, errors = clean_event(event, index, now=now)
        if errors:
            for name in list(errors):
                head = name.split(".", 1)[0]
                if head in DROPPABLE:
                    event.pop(head, None)
            _clean, errors = clean_event(event, index, now=now)
            if errors:
                say(f"event {event.get('id', '?')}: {sorted(errors)}")
                continue
        kept.append(event)
    return kept


def setting_dict(connection, name: str) -> dict:
    """A JSON setting of the connection that must be an object ({} otherwise)."""
    value = (connection.settings or {}).get(name)
    return value if isinstance(value, dict) else {}


def form_setting(connection, *keys: Any) -> dict:
    """The first entry of the connection's ``forms`` setting found under one of the keys
    (a form id, then its name) that is an object; {} otherwise (a malformed entry is
    ignored, never a crash)."""
    forms = setting_dict(connection, "forms")
    for key in keys:
        if key in (None, ""):
            continue
        entry = forms.get(str(key))
        if isinstance(entry, dict):
            return entry
    return {}


def setting_text(entry: dict, name: str) -> str:
    value = entry.get(name)
    return value.strip() if isinstance(value, str) else ""


def chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
