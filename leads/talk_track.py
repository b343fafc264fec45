"""The talk-track hint on the lead page: how to open the conversation, from what the
lead consumed.

The guide's anecdote: a lead who has just downloaded a beginner guide must not get an
expert pitch. So the most recent classified content weighs more than the history: if
it is a beginner piece, the hint is discovery whatever came before. Pricing-page views
and demo requests are signals of their own. Unclassified content (level "") gives no
level signal; the hint says so, because marketing should classify it.

Pure functions over plain values: the lead page builds the input from the timeline it
has already loaded (no extra query), and tests call them directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import Content, EventType

BEGINNER = Content.Level.BEGINNER
INTERMEDIATE = Content.Level.INTERMEDIATE
EXPERT = Content.Level.EXPERT
DECISION_STAGE = Content.FunnelStage.DECISION
# URL paths that are a pricing page, in the languages of the product's customers.
PRICING_PATH_PARTS = ("pricing", "price", "prices", "tarif", "tarifs", "prix", "plans")
BUYING_EVENTS = frozenset({EventType.DEMO_REQUEST, EventType.MEETING_BOOKED})


@dataclass(frozen=True)
class Consumed:
    """One thing the lead did, as the talk track sees it."""

    at: datetime
    type: str
    title: str = ""
    url: str = ""
    is_content: bool = False
    level: str = ""  # "" when not content, or content not classified yet
    funnel_stage: str = ""


@dataclass(frozen=True)
class TalkTrack:
    key: str  # discovery, solution, deep_dive, pricing, generic
    headline: str
    advice: str
    reasons: list[str] = field(default_factory=list)


def consumed_from_timeline(items: Iterable) -> list[Consumed]:
    """The events of ``selectors.lead_timeline`` items, newest first."""
    consumed = []
    for item in items:
        if item.kind != "event":
            continue
        content = item.data.get("content")
        consumed.append(
            Consumed(
                at=item.at,
                type=item.type,
                title=content["title"] if content else item.title,
                url=item.data.get("url") or "",
                is_content=content is not None,
                level=(content or {}).get("level") or "",
                funnel_stage=(content or {}).get("funnel_stage") or "",
            )
        )
    consumed.sort(key=lambda c: c.at, reverse=True)
    return consumed


def is_pricing_page(url: str) -> bool:
    path = urlsplit(url or "").path.lower()
    return any(part in PRICING_PATH_PARTS for part in path.replace("_", "-").split("/") if part)


def _level_label(level: str) -> str:
    return str(Content.Level(level).label) if level in Content.Level.values else _("unclassified")


def talk_track(consumed: Sequence[Consumed]) -> TalkTrack:
    """The hint for a lead who did ``consumed`` (any order)."""
    consumed = sorted(consumed, key=lambda c: c.at, reverse=True)
    content = [c for c in consumed if c.is_content]
    classified = [c for c in content if c.level]
    levels = Counter(c.level for c in classified)
    latest = classified[0] if classified else None
    pricing_views = sum(1 for c in consumed if is_pricing_page(c.url))
    asked_to_buy = any(c.type in BUYING_EVENTS for c in consumed)
    decision_stage = any(c.funnel_stage == DECISION_STAGE for c in content)

    reasons: list[str] = []
    if latest is not None:
        reasons.append(
            _("Latest content: “%(title)s” (%(level)s).")
            % {"title": latest.title, "level": _level_label(latest.level)}
        )
        reasons.append(
            _("Consumed: %(beginner)d beginner, %(intermediate)d intermediate, %(expert)d expert.")
            % {
                "beginner": levels[BEGINNER],
                "intermediate": levels[INTERMEDIATE],
                "expert": levels[EXPERT],
            }
        )
    unclassified = len(content) - len(classified)
    if unclassified:
        reasons.append(
            ngettext(
                "%(count)d piece of content is not classified yet: ask marketing to set its level.",
                "%(count)d pieces of content are not classified yet: ask marketing to set "
                "their level.",
                unclassified,
            )
            % {"count": unclassified}
        )

    mostly_beginner = bool(classified) and 2 * levels[BEGINNER] >= len(classified)
    mostly_expert = bool(classified) and 2 * levels[EXPERT] >= len(classified)
    if latest is not None and (latest.level == BEGINNER or mostly_beginner):
        key = "discovery"
        headline = _("Start with discovery")
        advice = _(
            "This lead is learning: ask about their context and goals, and share "
            "beginner-friendly resources. Don't pitch expert features."
        )
        if asked_to_buy:
            reasons.append(_("They asked for a demo: keep it to the basics and their use case."))
    elif mostly_expert or decision_stage or (asked_to_buy and latest is not None):
        key = "deep_dive"
        headline = _("Ready for a technical deep-dive or a demo")
        advice = _(
            "They read expert or decision-stage content: propose a demo, go into "
            "integrations, security and the technical details."
        )
    elif latest is not None:
        key = "solution"
        headline = _("Show how you solve their problem")
        advice = _(
            "They know the problem (intermediate content): share case studies and compare "
            "approaches before proposing a demo."
        )
    elif asked_to_buy:
        key = "deep_dive"
        headline = _("They asked for a demo")
        advice = _("Book the demo quickly, and open with two or three discovery questions.")
    elif pricing_views:
        key = "pricing"
        headline = _("Talk pricing")
        advice = _(
            "They looked at the pricing page: be ready with packages, terms and an ROI estimate."
        )
    else:
        key = "generic"
        headline = _("No content signal yet")
        advice = _("Open with discovery questions: their role, their project, their timing.")

    if pricing_views and key != "pricing":
        reasons.append(
            ngettext(
                "They viewed the pricing page once: be ready to talk pricing.",
                "They viewed the pricing page %(count)d times: be ready to talk pricing.",
                pricing_views,
            )
            % {"count": pricing_views}
        )
    elif pricing_views:
        reasons.append(
            ngettext("%(count)d pricing page view.", "%(count)d pricing page views.", pricing_views)
            % {"count": pricing_views}
        )
    return TalkTrack(key=key, headline=headline, advice=advice, reasons=reasons)
