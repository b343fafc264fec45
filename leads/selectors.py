"""Reads of the leads app: the sales queue, one lead, its timeline, deals, decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Coalesce

from smarketing.tenancy.models import Organization
from smarketing.tenancy.selectors import get_object_for_org

from .models import (
    Activity,
    Content,
    Deal,
    Decision,
    Event,
    EventType,
    Lead,
    LifecycleTransition,
    Qualification,
)

# The sales queue ("la pile", SPEC.md §2): hot first, newest hot first, then score.
# Nullable columns are ordered through non-null annotations so that keyset cursors work.
QUEUE_ORDER = ("-hot", "-queue_hot_since", "-score", "-pk")
ORDERINGS: dict[str, tuple[str, ...]] = {
    "queue": QUEUE_ORDER,
    "-score": ("-score", "-pk"),
    "score": ("score", "pk"),
    "-created_at": ("-created_at", "-pk"),
    "created_at": ("created_at", "pk"),
    "-last_activity": ("-activity_at", "-pk"),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def get_lead_for_org(organization: Organization, lead_id) -> Lead:
    return get_object_for_org(Lead, organization, pk=lead_id)


def get_deal_for_org(organization: Organization, deal_id) -> Deal:
    return get_object_for_org(Deal, organization, pk=deal_id)


def get_content_for_org(organization: Organization, content_id) -> Content:
    return get_object_for_org(Content, organization, pk=content_id)


def lead_list(
    organization: Organization,
    *,
    stage: str | list[str] | None = None,
    owner_id: int | None = None,
    unowned: bool = False,
    hot: bool | None = None,
    q: str = "",
    source: str = "",
    ordering: str = "queue",
) -> QuerySet[Lead]:
    """Leads filtered as the queue and the API filter them, in a stable order."""
    leads = (
        Lead.objects.for_org(organization)
        .select_related("company", "owner")
        .annotate(
            queue_hot_since=Coalesce("hot_since", Value(EPOCH)),
            activity_at=Coalesce("last_event_at", "created_at"),
        )
    )
    if stage:
        leads = leads.filter(stage__in=[stage] if isinstance(stage, str) else stage)
    if owner_id:
        leads = leads.filter(owner_id=owner_id)
    elif unowned:
        leads = leads.filter(owner=None)
    if hot is not None:
        leads = leads.filter(hot=hot)
    if source:
        leads = leads.filter(source=source)
    q = (q or "").strip()
    if q:
        leads = leads.filter(
            Q(email__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(company__name__icontains=q)
        )
    return leads.order_by(*ORDERINGS.get(ordering, QUEUE_ORDER))


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # event, transition, activity, decision, qualification
    type: str
    title: str
    data: dict[str, Any]


def lead_timeline(
    lead: Lead, *, limit: int = 200, before: datetime | None = None, newest_first: bool = True
) -> list[TimelineItem]:
    """Events, transitions, activities, decisions and qualifications of one lead, in time
    order, with the content's title and level (five bounded queries)."""
    org = lead.organization_id

    def window(qs, field="at"):
        if before is not None:
            qs = qs.filter(**{f"{field}__lt": before})
        return qs.order_by(f"-{field}" if newest_first else field)[:limit]

    items: list[TimelineItem] = []
    events = window(
        Event.objects.for_org(org).filter(lead=lead).select_related("content", "campaign"),
        "occurred_at",
    )
    for e in events:
        content = e.content
        items.append(
            TimelineItem(
                at=e.occurred_at,
                kind="event",
                type=e.type,
                title=content.title
                if content
                else (e.properties.get("title") or event_label(e.type)),
                data={
                    "id": e.pk,
                    "source": e.source,
                    "external_id": e.external_id,
                    "url": e.url,
                    "content": (
                        {
                            "key": content.key,
                            "title": content.title,
                            "type": content.type,
                            "level": content.level,
                            "funnel_stage": content.funnel_stage,
                        }
                        if content
                        else None
                    ),
                    "campaign": (
                        {"key": e.campaign.key, "name": e.campaign.name} if e.campaign else None
                    ),
                    "properties": e.properties,
                },
            )
        )
    for t in window(
        LifecycleTransition.objects.for_org(org).filter(lead=lead).select_related("by")
    ):
        items.append(
            TimelineItem(
                at=t.at,
                kind="transition",
                type=t.to_stage,
                title=f"{t.get_from_stage_display() or '∅'} → {t.get_to_stage_display()}",
                data={
                    "from": t.from_stage,
                    "to": t.to_stage,
                    "reason": t.reason_display,
                    "by": _person(t.by),
                },
            )
        )
    for a in window(Activity.objects.for_org(org).filter(lead=lead).select_related("by")):
        items.append(
            TimelineItem(
                at=a.at,
                kind="activity",
                type=a.kind,
                title=a.subject or a.get_kind_display(),
                data={
                    "id": a.pk,
                    "kind": a.kind,
                    "subject": a.subject,
                    "body": a.body,
                    "by": _person(a.by),
                },
            )
        )
    for d in window(Decision.objects.for_org(org).filter(lead=lead).select_related("by")):
        items.append(
            TimelineItem(
                at=d.at,
                kind="decision",
                type=d.kind,
                title=d.get_kind_display() + (f" · {d.get_reason_display()}" if d.reason else ""),
                data={
                    "id": d.pk,
                    "decision": d.kind,
                    "reason": d.reason,
                    "comment": d.comment,
                    "by": _person(d.by),
                },
            )
        )
    for qual in window(Qualification.objects.for_org(org).filter(lead=lead).select_related("by")):
        items.append(
            TimelineItem(
                at=qual.at,
                kind="qualification",
                type="sql",
                title="BANT",
                data={
                    "budget": qual.budget,
                    "authority": qual.authority,
                    "need": qual.need,
                    "timing": qual.timing,
                    "by": _person(qual.by),
                },
            )
        )
    items.sort(key=lambda item: item.at, reverse=newest_first)
    return items[:limit]


def event_label(event_type: str) -> str:
    """The event type in the reader's language (custom types as their own name)."""
    if event_type in EventType.values:
        return str(EventType(event_type).label)
    return event_type.removeprefix("custom:").replace("_", " ")


def _person(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.get_full_name(), "email": user.email}


def deal_list(organization: Organization, *, status: str = "", lead_id=None) -> QuerySet[Deal]:
    deals = Deal.objects.for_org(organization).select_related("lead", "company", "owner")
    if status:
        deals = deals.filter(status=status)
    if lead_id:
        deals = deals.filter(lead_id=lead_id)
    return deals.order_by("-created_at", "-pk")
