"""The one ingestion service: every entry point (API, tracker, webhook, CSV, connectors)
ends here.

``ingest_events(organization=..., events=[...], source="api")``:

1. validates every event (SPEC.md §5) — any error fails the whole batch, reported as
   ``{index: {field: [messages]}}``, and nothing is written;
2. in one transaction: resolves identity (e-mail → lead, visitor → lead; an event
   carrying both links the visitor and moves its earlier anonymous events to the
   lead), fills empty lead attributes, inserts the events with
   ``ON CONFLICT DO NOTHING`` on (organization, source, external id) so a replayed id
   counts as a duplicate, and marks touched leads as needing re-scoring
   (``Lead.rescore_requested_at``, a durable mark the scoring sweeper also reads);
3. returns ``accepted`` / ``duplicates`` once the caller's transaction commits.

It is written as a few set-based statements per batch, not per event: a batch of
1,000 events costs a dozen queries.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.models import Organization

from . import signals
from .models import (
    Campaign,
    Company,
    Content,
    Event,
    EventType,
    Lead,
    LifecycleTransition,
    Stage,
    Visitor,
)

MAX_BATCH = 1000
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_FUTURE = timedelta(hours=1)
STANDARD_TYPES = frozenset(EventType.values)
CUSTOM_TYPE = re.compile(r"^custom:[a-z0-9][a-z0-9_.-]{0,56}$")
VISITOR_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
COUNTRY = re.compile(r"^[A-Za-z]{2}$")
DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
LEAD_ATTRIBUTES = {
    "first_name": 100,
    "last_name": 100,
    "title": 150,
    "company": 200,
    "company_domain": 253,
    "phone": 40,
    "country": 2,
}
KNOWN_FIELDS = frozenset(
    {
        "id",
        "type",
        "occurred_at",
        "email",
        "visitor_id",
        "url",
        "content",
        "campaign",
        "properties",
        *LEAD_ATTRIBUTES,
    }
)
# Stages from which a new marketing event does not change anything about the stage;
# only scoring moves leads (to MQL).
NEW_LEAD_STAGE = Stage.LEAD


class IngestError(ServiceError):
    """A batch was refused; ``fields`` maps the event index to its field errors."""

    code = "invalid_events"


@dataclass
class CleanEvent:
    index: int
    external_id: str
    type: str
    occurred_at: datetime
    email: str = ""
    visitor_id: str = ""
    url: str = ""
    content_key: str = ""
    campaign_key: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    properties_json: str = "{}"
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class IngestResult:
    accepted: int
    duplicates: int
    lead_ids: list[int]
    created_lead_ids: list[int]


# --- Validation -----------------------------------------------------------------------


def _text(value: Any, name: str, max_length: int, errors: dict, *, required=False) -> str:
    if value is None or value == "":
        if required:
            errors[name] = [_("This field is required.")]
        return ""
    if not isinstance(value, str):
        errors[name] = [_("Must be a string.")]
        return ""
    value = value.strip()
    if not storable_text(value):
        errors[name] = [_("Contains a NUL character or invalid Unicode.")]
        return ""
    if len(value) > max_length:
        errors[name] = [_("At most %(n)d characters.") % {"n": max_length}]
    return value


@functools.lru_cache(maxsize=65536)
def _valid_email(email: str) -> bool:
    """Django's validator, remembered: a batch names the same people many times."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def storable_text(value: str) -> bool:
    """PostgreSQL text and jsonb take neither NUL nor lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def properties_to_json(properties: dict) -> tuple[str, str | None]:
    """The JSON text of an event's (or lead's) properties, or an error message."""
    try:
        encoded = json.dumps(properties, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, RecursionError, TypeError):
        return "{}", _("Not valid JSON (NaN, Infinity or nesting too deep).")
    if "\\u0000" in encoded or not storable_text(encoded):
        return "{}", _("Contains a NUL character or invalid Unicode.")
    if len(encoded.encode()) > MAX_PROPERTIES_BYTES:
        return "{}", _("At most 16 KB once encoded.")
    return encoded, None


def clean_event(raw: Any, index: int, *, now: datetime) -> tuple[CleanEvent | None, dict]:
    """One event checked against SPEC.md §5; returns (event, errors)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return None, {"non_field_errors": [_("An event must be a JSON object.")]}
    for unknown in sorted(set(raw) - KNOWN_FIELDS):
        errors[unknown] = [_("Unknown field.")]

    external_id = raw.get("id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    external_id = _text(external_id, "id", 128, errors, required=True)

    event_type = raw.get("type")
    if not event_type:
        errors["type"] = [_("This field is required.")]
    elif not isinstance(event_type, str) or not (
        event_type in STANDARD_TYPES or CUSTOM_TYPE.match(event_type)
    ):
        errors["type"] = [
            _("Unknown event type: use one of %(types)s, or custom:<name>.")
            % {"types": ", ".join(sorted(STANDARD_TYPES))}
        ]

    occurred_at = None
    raw_time = raw.get("occurred_at")
    if not raw_time:
        errors["occurred_at"] = [_("This field is required.")]
    else:
        occurred_at = None
        if isinstance(raw_time, str):
            try:
                occurred_at = datetime.fromisoformat(raw_time)  # fast path, ISO 8601
            except ValueError:
                try:
                    occurred_at = parse_datetime(raw_time)
                except ValueError:
                    occurred_at = None
        if occurred_at is None:
            errors["occurred_at"] = [_("Not an ISO 8601 date and time.")]
        elif timezone.is_naive(occurred_at):
            errors["occurred_at"] = [_("The time needs a UTC offset, e.g. +02:00 or Z.")]
            occurred_at = None
        elif occurred_at > now + MAX_FUTURE:
            errors["occurred_at"] = [_("This time is in the future.")]

    email = _text(raw.get("email"), "email", 254, errors).lower()
    if email and not _valid_email(email):
        errors["email"] = [_("Enter a valid e-mail address.")]
    visitor_id = _text(raw.get("visitor_id"), "visitor_id", 64, errors)
    if visitor_id and not VISITOR_ID.match(visitor_id):
        errors["visitor_id"] = [_("8 to 64 letters, digits, '-', '_', '.' or ':'.")]
    if not email and not visitor_id and "email" not in errors and "visitor_id" not in errors:
        errors["email"] = [_("Give an email or a visitor_id (or both).")]

    url = _text(raw.get("url"), "url", 2000, errors)
    content_key = _text(raw.get("content"), "content", 100, errors)
    if content_key and slugify(content_key) != content_key:
        errors["content"] = [_("A content key is lowercase letters, digits and hyphens.")]

    campaign_key, utm = "", {}
    campaign = raw.get("campaign")
    if isinstance(campaign, dict):
        for name in sorted(set(campaign) - set(UTM_FIELDS)):
            errors[f"campaign.{name}"] = [_("Unknown field.")]
        for name in UTM_FIELDS:
            value = _text(campaign.get(name), f"campaign.{name}", 100, errors)
            if value:
                utm[name] = value
    elif campaign is not None and campaign != "":
        campaign_key = _text(campaign, "campaign", 100, errors)
        if campaign_key and slugify(campaign_key) != campaign_key:
            errors["campaign"] = [_("A campaign key is lowercase letters, digits and hyphens.")]

    properties_json = "{}"
    properties = raw.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            errors["properties"] = [_("Must be a JSON object.")]
        else:
            properties_json, problem = properties_to_json(properties)
            if problem:
                errors["properties"] = [problem]

    attributes = {}
    for name, max_length in LEAD_ATTRIBUTES.items():
        value = _text(raw.get(name), name, max_length, errors)
        if value:
            attributes[name] = value
    if "country" in attributes:
        if COUNTRY.match(attributes["country"]):
            attributes["country"] = attributes["country"].upper()
        else:
            errors["country"] = [_("A two-letter ISO country code.")]
    if "company_domain" in attributes:
        domain = attributes["company_domain"].lower().removeprefix("www.")
        if DOMAIN.match(domain):
            attributes["company_domain"] = domain
        else:
            errors["company_domain"] = [_("Not a domain name.")]

    if errors:
        return None, errors
    return (
        CleanEvent(
            index=index,
            external_id=external_id,
            type=event_type,
            occurred_at=occurred_at,
            email=email,
            visitor_id=visitor_id,
            url=url,
            content_key=content_key,
            campaign_key=campaign_key,
            utm=utm,
            properties_json=properties_json,
            attributes=attributes,
        ),
        {},
    )


def clean_batch(raw_events: Any, *, now: datetime | None = None) -> list[CleanEvent]:
    now = now or timezone.now()
    if not isinstance(raw_events, list):
        raise IngestError(_('Send one event object or {"events": [...]}.'))
    if not raw_events:
        raise IngestError(_("The batch is empty."), fields={"events": [_("The batch is empty.")]})
    if len(raw_events) > MAX_BATCH:
        raise IngestError(
            _("At most %(n)d events per batch.") % {"n": MAX_BATCH},
            code="batch_too_large",
            fields={"events": [_("At most %(n)d events per batch.") % {"n": MAX_BATCH}]},
        )
    clean, errors = [], {}
    for index, raw in enumerate(raw_events):
        event, event_errors = clean_event(raw, index, now=now)
        if event_errors:
            errors[str(index)] = event_errors
        else:
            clean.append(event)
    if errors:
        first = next(iter(errors))
        raise IngestError(
            _("%(count)d event(s) are invalid; nothing was written (first: event %(index)s).")
            % {"count": len(errors), "index": first},
            fields=errors,
        )
    return clean


# --- Writing --------------------------------------------------------------------------


def _insert_ignore(table: str, columns: list[str], rows: list[tuple], returning: str) -> list:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` in one statement (PostgreSQL and
    SQLite both speak it)."""
    if not rows:
        return []
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Table and column names come from our models, values are parameters.
    sql = (
        f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES '
        + ", ".join([placeholders] * len(rows))
        + f" ON CONFLICT DO NOTHING RETURNING {returning}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(v) if isinstance(v, datetime) else v for row in rows for v in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _typed(pg_type: str) -> str:
    """A placeholder that PostgreSQL can type inside VALUES (SQLite needs no cast)."""
    return f"%s::{pg_type}" if connection.vendor == "postgresql" else "%s"


def _update_from_values(
    table: str,
    columns: list[tuple[str, str]],
    rows: list[tuple],
    set_sql: str,
    *,
    organization_id: int,
    match: str = "t.id = v.id",
    returning: str = "",
) -> list:
    """``WITH v(...) AS (VALUES ...) UPDATE table AS t SET ... FROM v``: many rows, each
    with its own values, in one statement (PostgreSQL, and SQLite ≥ 3.33)."""
    if not rows:
        return []
    names = ", ".join(name for name, _type in columns)
    row = "(" + ", ".join(_typed(pg_type) for _name, pg_type in columns) + ")"
    sql = (
        f"WITH v({names}) AS (VALUES {', '.join([row] * len(rows))}) "
        f'UPDATE "{table}" AS t SET {set_sql} FROM v '
        f"WHERE {match} AND t.organization_id = %s"
        + (f" RETURNING {returning}" if returning else "")
    )
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(v) if isinstance(v, datetime) else v for r in rows for v in r]
    params.append(organization_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


def _greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if connection.vendor == "postgresql" else f"MAX({a}, {b})"


def _resolve_leads(org: Organization, events: list[CleanEvent], now: datetime):
    emails = sorted({e.email for e in events if e.email})
    leads: dict[str, int] = {}
    created: list[int] = []
    if not emails:
        return leads, created
    existing = (
        Lead.objects.for_org(org)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=emails)
        .values_list("email_lower", "pk")
    )
    leads.update(existing)
    missing = [email for email in emails if email not in leads]
    if missing:
        first_seen = {}
        for e in events:
            if e.email in leads:
                continue
            first_seen.setdefault(e.email, e)
        rows = []
        for email in missing:
            first = first_seen[email]
            utm = first.utm
            rows.append(
                (
                    org.pk,
                    email,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    _source_for(first),
                    None,
                    utm.get("utm_source", ""),
                    utm.get("utm_medium", ""),
                    utm.get("utm_campaign", ""),
                    utm.get("utm_term", ""),
                    utm.get("utm_content", ""),
                    NEW_LEAD_STAGE,
                    now,
                    False,
                    False,
                    0,
                    0,
                    "",
                    False,
                    "{}",
                    now,
                    now,
                )
            )
        created = _insert_ignore(
            Lead._meta.db_table,
            [
                "organization_id",
                "email",
                "first_name",
                "last_name",
                "title",
                "seniority",
                "phone",
                "country",
                "source",
                "campaign_id",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
                "stage",
                "stage_changed_at",
                "consent_email",
                "consent_tracking",
                "score",
                "fit",
                "grade",
                "hot",
                "properties",
                "created_at",
                "updated_at",
            ],
            rows,
            "id",
        )
        # Another batch may have created some of them concurrently: read them back.
        leads.update(
            Lead.objects.for_org(org)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=missing)
            .values_list("email_lower", "pk")
        )
        if created:
            LifecycleTransition.objects.bulk_create(
                LifecycleTransition(
                    organization=org,
                    lead_id=lead_id,
                    from_stage="",
                    to_stage=NEW_LEAD_STAGE,
                    at=now,
                    reason="ingested",
                )
                for lead_id in created
            )
    return leads, created


def _source_for(event: CleanEvent) -> str:
    medium = event.utm.get("utm_medium", "").lower()
    if medium in {"cpc", "ppc", "paid", "paid_search", "sem"}:
        return Lead.Source.PAID_SEARCH
    if medium in {"email", "newsletter"}:
        return Lead.Source.EMAIL
    if medium in {"social", "paid_social", "social_paid"}:
        return Lead.Source.SOCIAL
    if event.type.startswith("webinar"):
        return Lead.Source.WEBINAR
    return Lead.Source.WEBSITE if event.url else Lead.Source.API


def _resolve_visitors(org, events, leads, now):
    """Visitor ids → [visitor pk, lead pk or None]; links visitors seen with an e-mail
    and moves their earlier anonymous events to the lead."""
    ids = sorted({e.visitor_id for e in events if e.visitor_id})
    if not ids:
        return {}, []
    placeholders = ", ".join(
        [f"(%s, %s, {_typed('timestamptz')}, {_typed('timestamptz')})"] * len(ids)
    )
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for anonymous_id in ids:
        params += [org.pk, anonymous_id, adapt(now), adapt(now)]
    with connection.cursor() as cursor:
        # One statement creates the new visitors and touches the known ones.
        cursor.execute(
            f'INSERT INTO "{Visitor._meta.db_table}" '
            "(organization_id, anonymous_id, first_seen_at, last_seen_at) "
            f"VALUES {placeholders} ON CONFLICT (organization_id, anonymous_id) "
            "DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at "
            "RETURNING anonymous_id, id, lead_id",
            params,
        )
        visitors = {anonymous_id: [pk, lead_id] for anonymous_id, pk, lead_id in cursor}
    # Identification: the last e-mail seen with a visitor in this batch wins.
    identified: dict[str, int] = {}
    for e in sorted(events, key=lambda e: e.occurred_at):
        if e.visitor_id and e.email:
            identified[e.visitor_id] = leads[e.email]
    changed = [
        (visitors[anonymous_id][0], lead_id)
        for anonymous_id, lead_id in identified.items()
        if visitors[anonymous_id][1] != lead_id
    ]
    merged_leads: list[int] = []
    if changed:
        _update_from_values(
            Visitor._meta.db_table,
            [("id", "bigint"), ("lead_id", "bigint"), ("at", "timestamptz")],
            [(pk, lead_id, now) for pk, lead_id in changed],
            "lead_id = v.lead_id, identified_at = v.at",
            organization_id=org.pk,
        )
        # Earlier anonymous events of these browsers now belong to their leads.
        moved = _update_from_values(
            Event._meta.db_table,
            [("visitor_id", "bigint"), ("new_lead_id", "bigint")],
            changed,
            "lead_id = v.new_lead_id",
            organization_id=org.pk,
            match="t.visitor_id = v.visitor_id AND t.lead_id IS NULL",
            # Unqualified: SQLite's RETURNING names the updated table's columns only.
            returning="lead_id",
        )
        merged_leads = sorted({row[0] for row in moved})
        for anonymous_id, lead_id in identified.items():
            visitors[anonymous_id][1] = lead_id
    return visitors, merged_leads


def _resolve_keys(org, events, now):
    content_keys = sorted({e.content_key for e in events if e.content_key})
    contents = dict(
        Content.objects.for_org(org).filter(key__in=content_keys).values_list("key", "pk")
    )
    missing = [key for key in content_keys if key not in contents]
    if missing:
        # Unknown content is created unclassified rather than refused: nothing sent is
        # lost, and marketing classifies it in the content library.
        _insert_ignore(
            Content._meta.db_table,
            [
                "organization_id",
                "key",
                "title",
                "type",
                "level",
                "persona",
                "funnel_stage",
                "url",
                "created_at",
            ],
            [
                (
                    org.pk,
                    key,
                    key.replace("-", " ").capitalize(),
                    Content.Type.OTHER,
                    "",
                    "",
                    "",
                    "",
                    now,
                )
                for key in missing
            ],
            "id",
        )
        contents.update(
            Content.objects.for_org(org).filter(key__in=missing).values_list("key", "pk")
        )

    campaign_keys = {e.campaign_key for e in events if e.campaign_key}
    utm_names = {e.utm["utm_campaign"] for e in events if e.utm.get("utm_campaign")}
    campaigns = dict(
        Campaign.objects.for_org(org).filter(key__in=campaign_keys).values_list("key", "pk")
    )
    by_utm = dict(
        Campaign.objects.for_org(org)
        .filter(utm_campaign__in=utm_names)
        .values_list("utm_campaign", "pk")
    )
    new: dict[str, tuple] = {}
    for e in events:
        if e.campaign_key and e.campaign_key not in campaigns:
            new[e.campaign_key] = (e.campaign_key, e.campaign_key, {})
        name = e.utm.get("utm_campaign")
        if name and name not in by_utm:
            key = slugify(name)[:100] or "campaign"
            if key not in campaigns:
                new.setdefault(key, (key, name, e.utm))
    if new:
        _insert_ignore(
            Campaign._meta.db_table,
            [
                "organization_id",
                "key",
                "name",
                "channel",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "spend",
                "currency",
                "created_at",
            ],
            [
                (
                    org.pk,
                    key,
                    name,
                    Campaign.Channel.OTHER,
                    utm.get("utm_source", ""),
                    utm.get("utm_medium", ""),
                    utm.get("utm_campaign", ""),
                    0,
                    org.currency,
                    now,
                )
                for key, name, utm in new.values()
            ],
            "id",
        )
        rows = Campaign.objects.for_org(org).filter(key__in=set(campaigns) | set(new))
        for key, pk, utm_campaign in rows.values_list("key", "pk", "utm_campaign"):
            campaigns[key] = pk
            if utm_campaign:
                by_utm.setdefault(utm_campaign, pk)
        for key, _name, utm in new.values():
            if utm.get("utm_campaign"):
                by_utm.setdefault(utm["utm_campaign"], campaigns[key])

    def campaign_for(e: CleanEvent) -> int | None:
        if e.campaign_key:
            return campaigns.get(e.campaign_key)
        name = e.utm.get("utm_campaign")
        return by_utm.get(name) if name else None

    return contents, campaign_for


def _companies_for(org, wanted: dict[int, dict[str, str]], now) -> dict[str, int]:
    """Company ids by domain (``"d:exemple.fr"``) and, for leads that sent a company
    name without a domain, by lowercased name (``"n:exemple sa"``)."""
    domains = {a["company_domain"] for a in wanted.values() if "company_domain" in a}
    names = {a["company"] for a in wanted.values() if "company" in a and "company_domain" not in a}
    found: dict[str, int] = {}
    if domains:
        rows = Company.objects.for_org(org).filter(domain__in=domains)
        found.update((f"d:{d}", pk) for d, pk in rows.values_list("domain", "pk"))
        missing = sorted(d for d in domains if f"d:{d}" not in found)
        if missing:
            display: dict[str, str] = {}
            for attrs in wanted.values():
                if attrs.get("company_domain") in missing:
                    display.setdefault(attrs["company_domain"], attrs.get("company", ""))
            _insert_ignore(
                Company._meta.db_table,
                [
                    "organization_id",
                    "name",
                    "domain",
                    "industry",
                    "country",
                    "revenue_band",
                    "created_at",
                    "updated_at",
                ],
                [(org.pk, display[d] or d, d, "", "", "", now, now) for d in missing],
                "id",
            )
            rows = Company.objects.for_org(org).filter(domain__in=missing)
            found.update((f"d:{d}", pk) for d, pk in rows.values_list("domain", "pk"))
    if names:
        lowered: dict[str, str] = {}
        for name in sorted(names):  # one spelling per company, the same every time
            lowered.setdefault(name.lower(), name)
        rows = (
            Company.objects.for_org(org)
            .filter(domain="")
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=lowered)
            .values_list("name_lower", "pk")
        )
        found.update((f"n:{n}", pk) for n, pk in rows)
        missing_names = sorted(n for n in lowered if f"n:{n}" not in found)
        if missing_names:
            _insert_ignore(
                Company._meta.db_table,
                [
                    "organization_id",
                    "name",
                    "domain",
                    "industry",
                    "country",
                    "revenue_band",
                    "created_at",
                    "updated_at",
                ],
                [(org.pk, lowered[n], "", "", "", "", now, now) for n in missing_names],
                "id",
            )
            rows = (
                Company.objects.for_org(org)
                .filter(domain="")
                .annotate(name_lower=Lower("name"))
                .filter(name_lower__in=missing_names)
                .values_list("name_lower", "pk")
            )
            found.update((f"n:{n}", pk) for n, pk in rows)
    return found


PLAIN_ATTRIBUTES = ("first_name", "last_name", "title", "phone", "country")


def _update_leads(org, events, leads, row_leads, merged_leads, campaign_for, now) -> list[int]:
    """One statement for every lead the accepted events touched: mark it for re-scoring,
    keep ``last_event_at`` current, fill its empty attributes, record an unsubscribe."""
    touched: dict[int, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.occurred_at):
        lead_id = row_leads[e.external_id]
        if lead_id is None:
            continue
        info = touched.setdefault(lead_id, {"at": e.occurred_at, "attrs": {}})
        info["at"] = max(info["at"], e.occurred_at)
        if e.email:
            for name, value in e.attributes.items():
                info["attrs"].setdefault(name, value)
            campaign_id = campaign_for(e)
            if campaign_id:
                info.setdefault("campaign_id", campaign_id)
            if e.type == EventType.UNSUBSCRIBE:
                info["unsubscribed_at"] = e.occurred_at
    for lead_id in merged_leads:
        touched.setdefault(lead_id, {"at": now, "attrs": {}})
    if not touched:
        return []
    companies = _companies_for(org, {k: v["attrs"] for k, v in touched.items()}, now)
    rows = []
    for lead_id, info in touched.items():
        attrs = info["attrs"]
        domain, name = attrs.get("company_domain"), attrs.get("company", "")
        company_id = (
            companies.get(f"d:{domain}")
            if domain
            else companies.get(f"n:{name.lower()}")
            if name
            else None
        )
        rows.append(
            (
                lead_id,
                info["at"],
                *(attrs.get(name, "") for name in PLAIN_ATTRIBUTES),
                company_id,
                info.get("campaign_id"),
                info.get("unsubscribed_at"),
            )
        )
    fill = ", ".join(
        f"{name} = CASE WHEN t.{name} = '' THEN v.{name} ELSE t.{name} END"
        for name in PLAIN_ATTRIBUTES
    )
    _update_leads_sql(org, rows, fill, now)
    return sorted(touched)


def _update_leads_sql(org, rows, fill, now) -> None:
    columns = [
        ("id", "bigint"),
        ("at", "timestamptz"),
        *((n, "text") for n in PLAIN_ATTRIBUTES),
        ("company_id", "bigint"),
        ("campaign_id", "bigint"),
        ("unsubscribed_at", "timestamptz"),
        ("now", "timestamptz"),
    ]
    _update_from_values(
        Lead._meta.db_table,
        columns,
        [(*row, now) for row in rows],
        "rescore_requested_at = COALESCE(t.rescore_requested_at, v.now), "
        f"last_event_at = {_greatest('COALESCE(t.last_event_at, v.at)', 'v.at')}, "
        f"{fill}, company_id = COALESCE(t.company_id, v.company_id), "
        "campaign_id = COALESCE(t.campaign_id, v.campaign_id), "
        "unsubscribed_at = COALESCE(t.unsubscribed_at, v.unsubscribed_at), "
        "consent_email = CASE WHEN v.unsubscribed_at IS NULL THEN t.consent_email "
        "ELSE FALSE END",
        organization_id=org.pk,
        # Every touched lead is written, even when nothing on it changes: the write takes
        # the row lock, which serializes this batch with a scorer that locked the lead
        # before reading its events. Skipping "unchanged" rows let a scorer that had read
        # the events before this batch committed clear the mark without seeing them.
        match="t.id = v.id",
    )


@transaction.atomic
def ingest_events(
    *, organization: Organization, events: list[Any], source: str, now: datetime | None = None
) -> IngestResult:
    """Validate and write a batch; the caller answers "accepted" only after commit.

    Must run with the organization's tenant set (a request under ``/o/…`` or the API,
    or ``tenant_context``)."""
    now = now or timezone.now()
    clean = clean_batch(events, now=now)
    org = organization

    # The same id twice in one batch: the first wins, the rest are duplicates.
    unique: dict[str, CleanEvent] = {}
    for e in clean:
        unique.setdefault(e.external_id, e)
    # A replayed id changes nothing: not even the lead or visitor it would resolve to.
    existing = set(
        Event.objects.for_org(org)
        .filter(source=source, external_id__in=list(unique))
        .values_list("external_id", flat=True)
    )
    batch = [e for e in unique.values() if e.external_id not in existing]
    if not batch:
        return IngestResult(accepted=0, duplicates=len(clean), lead_ids=[], created_lead_ids=[])

    leads, created_leads = _resolve_leads(org, batch, now)
    visitors, merged_leads = _resolve_visitors(org, batch, leads, now)
    contents, campaign_for = _resolve_keys(org, batch, now)

    rows = []
    row_leads: dict[str, int | None] = {}
    for e in batch:
        visitor_pk, lead_id = None, None
        if e.visitor_id:
            visitor_pk, lead_id = visitors[e.visitor_id]
        if e.email:
            lead_id = leads[e.email]
        row_leads[e.external_id] = lead_id
        rows.append(
            (
                org.pk,
                source,
                e.external_id,
                e.type,
                e.occurred_at,
                now,
                lead_id,
                visitor_pk,
                e.url,
                contents.get(e.content_key) if e.content_key else None,
                campaign_for(e),
                e.properties_json,
            )
        )
    inserted = _insert_ignore(
        Event._meta.db_table,
        [
            "organization_id",
            "source",
            "external_id",
            "type",
            "occurred_at",
            "received_at",
            "lead_id",
            "visitor_id",
            "url",
            "content_id",
            "campaign_id",
            "properties",
        ],
        rows,
        "external_id",
    )
    inserted_set = set(inserted)
    new_events = [e for e in batch if e.external_id in inserted_set]

    # Leads are updated from accepted events only: a replay changes nothing.
    touched = _update_leads(org, new_events, leads, row_leads, merged_leads, campaign_for, now)
    if touched:
        signals.events_ingested.send(
            sender=Event,
            organization=org,
            events=[
                (row_leads[e.external_id], e.type, e.occurred_at)
                for e in new_events
                if row_leads[e.external_id] is not None
            ],
            lead_ids=touched,
            at=now,
        )
    return IngestResult(
        accepted=len(inserted),
        duplicates=len(clean) - len(inserted),
        lead_ids=touched,
        created_lead_ids=sorted(created_leads),
    )
