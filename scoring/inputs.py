"""What the engine reads, loaded from the database in bounded queries: the leads'
attributes (with their company's) and their events, once for a whole batch.

Event fields are rendered by the database (``properties ->> name``, the content's
level) exactly as the set-based path (``scoring.sql``) reads them, so both paths
compare the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F
from django.db.models.fields.json import KeyTextTransform

from leads.models import Event

from .engine import EventData, ModelRules

LEAD_FIELDS = (
    "email",
    "title",
    "seniority",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
COMPANY_FIELDS = ("name", "domain", "industry", "employees", "country", "revenue_band")
# Lead columns the pipeline reads along with the attributes (previous state).
STATE_FIELDS = ("id", "score", "fit", "grade", "hot", "hot_since", "stage", "rescore_requested_at")
LEAD_VALUES = (
    *STATE_FIELDS,
    *LEAD_FIELDS,
    "company_id",
    *(f"company__{name}" for name in COMPANY_FIELDS),
)


def lead_attrs(row: dict[str, Any]) -> dict[str, Any]:
    """The lead's attributes from a ``.values(*LEAD_VALUES)`` row."""
    return {name: row.get(name) for name in LEAD_FIELDS}


def company_attrs(row: dict[str, Any]) -> dict[str, Any] | None:
    if row.get("company_id") is None:
        return None
    return {name: row.get(f"company__{name}") for name in COMPANY_FIELDS}


def instance_attrs(lead) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The same from a Lead instance (previews of unsaved or sample leads)."""
    attrs = {name: getattr(lead, name) for name in LEAD_FIELDS}
    company = lead.company if lead.company_id else None
    if company is None:
        return attrs, None
    return attrs, {name: getattr(company, name) for name in COMPANY_FIELDS}


def load_events(
    organization_id: int,
    rules: ModelRules,
    lead_ids: Sequence[int],
    *,
    until: datetime | None = None,
) -> dict[int, list[EventData]]:
    """The events of ``lead_ids`` that any behaviour rule could match: one query.

    ``until`` leaves out later events (what-if replays of the past)."""
    found: dict[int, list[EventData]] = {lead_id: [] for lead_id in lead_ids}
    if not lead_ids or not rules.behaviour_rules:
        return found
    properties = {
        f"p_{i}": KeyTextTransform(name, "properties")
        for i, name in enumerate(rules.property_names)
    }
    names = {f"p_{i}": f"property:{name}" for i, name in enumerate(rules.property_names)}
    events = Event.objects.for_org(organization_id).filter(
        lead_id__in=list(lead_ids), type__in=rules.event_types
    )
    if until is not None:
        events = events.filter(occurred_at__lte=until)
    rows = events.values(
        "lead_id",
        "type",
        "occurred_at",
        "url",
        content_level=F("content__level"),
        content_type=F("content__type"),
        content_key=F("content__key"),
        **properties,
    )
    for row in rows.order_by():
        fields: dict[str, str | None] = {
            "url": row["url"],
            "content.level": row["content_level"],
            "content.type": row["content_type"],
            "content.key": row["content_key"],
        }
        for alias, name in names.items():
            fields[name] = row[alias]
        found[row["lead_id"]].append(
            EventData(type=row["type"], occurred_at=row["occurred_at"], fields=fields)
        )
    return found


def event_data(
    type: str,
    occurred_at: datetime,
    *,
    url: str = "",
    content: Any = None,
    properties: dict[str, Any] | None = None,
) -> EventData:
    """An engine event built in Python (previews, tests): properties rendered as the
    database's ``->>`` renders strings, integers and booleans."""
    fields: dict[str, str | None] = {
        "url": url,
        "content.level": getattr(content, "level", None),
        "content.type": getattr(content, "type", None),
        "content.key": getattr(content, "key", None),
    }
    for name, value in (properties or {}).items():
        fields[f"property:{name}"] = _json_text(value)
    return EventData(type=type, occurred_at=occurred_at, fields=fields)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)
