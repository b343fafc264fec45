"""Reads behind the leads pages that are not the queue: the marketing view of sales
decisions, the content library, and the lead page's stage history.

Each report is a fixed, small number of aggregate queries, whatever the number of
leads or events (the pages are tested with ``django_assert_max_num_queries``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.db.models import Count, F, Max, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.tenancy.models import Organization

from .models import Content, Decision, Lead, LifecycleTransition, RejectReason

DEFAULT_PERIOD_DAYS = 30
UNCLASSIFIED = "unclassified"  # the content library's filter value for level ""


# --- Periods ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the organization's time zone, ``first`` and ``last`` included."""

    first: date
    last: date
    tz: tzinfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def period_for(
    organization: Organization,
    first: date | None = None,
    last: date | None = None,
    *,
    now: datetime | None = None,
) -> Period:
    """The period asked for; by default the last 30 days, today included."""
    tz = organization.zone
    today = (now or timezone.now()).astimezone(tz).date()
    last = last or today
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return Period(first=first, last=last, tz=tz)


# --- The marketing view of sales decisions ------------------------------------------


@dataclass
class DecisionRow:
    """Accepted and rejected MQLs of one group (a source, a campaign, a content)."""

    key: str
    label: str
    accepted: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    level: str = ""  # content rows only

    @property
    def total(self) -> int:
        return self.accepted + self.rejected

    @property
    def rate(self) -> int | None:
        """Acceptance rate in percent: accepted / (accepted + rejected)."""
        return round(100 * self.accepted / self.total) if self.total else None

    @property
    def top_reason(self) -> str:
        if not self.reasons:
            return ""
        code, _count = self.reasons.most_common(1)[0]
        return RejectReason(code).label if code in RejectReason.values else code

    def add(self, kind: str, reason: str, n: int) -> None:
        if kind == Decision.Kind.ACCEPT:
            self.accepted += n
        else:
            self.rejected += n
            self.reasons[reason] += n


@dataclass
class ReasonRow:
    code: str
    label: str
    count: int
    share: int  # percent of the rejections


@dataclass
class DecisionReport:
    period: Period
    totals: DecisionRow
    reasons: list[ReasonRow]
    by_source: list[DecisionRow]
    by_campaign: list[DecisionRow]
    by_content: list[DecisionRow]


def _sorted(rows: dict[str, DecisionRow]) -> list[DecisionRow]:
    return sorted(rows.values(), key=lambda row: (-row.total, row.label.lower()))


def decision_report(organization: Organization, period: Period) -> DecisionReport:
    """Acceptance rate and rejection reasons of the period's decisions, overall and by
    the lead's source, the lead's first campaign, and the content the lead consumed
    before the decision (three queries)."""
    decisions = Decision.objects.for_org(organization).filter(
        at__gte=period.start, at__lt=period.end
    )
    sources = dict(Lead.Source.choices)
    totals = DecisionRow(key="", label=_("All leads"))
    by_source: dict[str, DecisionRow] = {}
    for row in decisions.values("lead__source", "kind", "reason").annotate(n=Count("pk")):
        source = row["lead__source"] or ""
        totals.add(row["kind"], row["reason"], row["n"])
        group = by_source.setdefault(
            source, DecisionRow(key=source, label=str(sources.get(source, source or _("Unknown"))))
        )
        group.add(row["kind"], row["reason"], row["n"])

    by_campaign: dict[str, DecisionRow] = {}
    for row in decisions.values(
        "lead__campaign_id", "lead__campaign__name", "kind", "reason"
    ).annotate(n=Count("pk")):
        key = str(row["lead__campaign_id"] or "")
        group = by_campaign.setdefault(
            key, DecisionRow(key=key, label=row["lead__campaign__name"] or _("No campaign"))
        )
        group.add(row["kind"], row["reason"], row["n"])

    # One filter() call: the event join is the same for both conditions, so a content
    # counts for a decision only if the lead consumed it before the decision was made.
    consumed = decisions.filter(
        lead__events__content__isnull=False, lead__events__occurred_at__lte=F("at")
    )
    by_content: dict[str, DecisionRow] = {}
    for row in consumed.values(
        "lead__events__content_id",
        "lead__events__content__title",
        "lead__events__content__level",
        "kind",
        "reason",
    ).annotate(n=Count("pk", distinct=True)):
        key = str(row["lead__events__content_id"])
        group = by_content.setdefault(
            key,
            DecisionRow(
                key=key,
                label=row["lead__events__content__title"],
                level=row["lead__events__content__level"],
            ),
        )
        group.add(row["kind"], row["reason"], row["n"])

    reasons = [
        ReasonRow(
            code=code,
            label=RejectReason(code).label if code in RejectReason.values else code,
            count=count,
            share=round(100 * count / totals.rejected) if totals.rejected else 0,
        )
        for code, count in sorted(totals.reasons.items(), key=lambda item: (-item[1], item[0]))
    ]
    return DecisionReport(
        period=period,
        totals=totals,
        reasons=reasons,
        by_source=_sorted(by_source),
        by_campaign=_sorted(by_campaign),
        by_content=_sorted(by_content),
    )


# --- The content library ------------------------------------------------------------


def content_library(
    organization: Organization,
    *,
    level: str = "",
    persona: str = "",
    funnel_stage: str = "",
    q: str = "",
) -> QuerySet[Content]:
    """Content with how many distinct leads consumed each (anonymous visitors are not
    counted) and when it was last consumed, the most consumed first."""
    contents = Content.objects.for_org(organization).annotate(
        leads_consumed=Count("events__lead", distinct=True),
        last_consumed_at=Max("events__occurred_at"),
    )
    if level == UNCLASSIFIED:
        contents = contents.filter(level="")
    elif level:
        contents = contents.filter(level=level)
    if persona:
        contents = contents.filter(persona__iexact=persona)
    if funnel_stage:
        contents = contents.filter(funnel_stage=funnel_stage)
    q = (q or "").strip()
    if q:
        contents = contents.filter(Q(title__icontains=q) | Q(key__icontains=q))
    return contents.order_by("-leads_consumed", "title", "pk")


def content_level_counts(organization: Organization) -> dict[str, int]:
    """How many pieces of content there are at each level ("" = unclassified)."""
    counts = {value: 0 for value in ["", *Content.Level.values]}
    for row in Content.objects.for_org(organization).values("level").annotate(n=Count("pk")):
        counts[row["level"] or ""] = counts.get(row["level"] or "", 0) + row["n"]
    return counts


def content_personas(organization: Organization) -> list[str]:
    return list(
        Content.objects.for_org(organization)
        .exclude(persona="")
        .order_by("persona")
        .values_list("persona", flat=True)
        .distinct()
    )


# --- The lead page ------------------------------------------------------------------


def get_lead_page_for_org(organization: Organization, lead_id) -> Lead:
    """``selectors.get_lead_for_org`` with the company, owner and first campaign the
    lead page shows, in one query; 404 for a missing or another organization's id."""
    try:
        return (
            Lead.objects.for_org(organization)
            .select_related("company", "owner", "campaign")
            .get(pk=lead_id)
        )
    except (Lead.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def stage_history(lead: Lead) -> QuerySet[LifecycleTransition]:
    """Every stage change of the lead, oldest first, with who made it."""
    return (
        LifecycleTransition.objects.for_org(lead.organization_id)
        .filter(lead=lead)
        .select_related("by")
        .order_by("at", "pk")
    )


def lead_decisions(lead: Lead) -> QuerySet[Decision]:
    return (
        Decision.objects.for_org(lead.organization_id)
        .filter(lead=lead)
        .select_related("by")
        .order_by("-at", "-pk")
    )
