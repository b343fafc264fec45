"""SLA figures for the KPI layer, from ``sla.selectors`` (the SLA app owns their
meaning, SPEC.md §3), turned into the KPI layer's plain dicts in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from smarketing.tenancy.models import Organization

    from .kpis import Period, Segment


def compliance(organization: Organization, period: Period, segment: Segment) -> dict | None:
    """Compliance of the clocks due in the period (``None`` for a segment the clocks
    cannot be narrowed to: only the owner is a clock's own attribute)."""
    from sla import selectors

    if segment.source or segment.campaign_id or segment.grade:
        return None
    value = selectors.compliance(
        organization, start=period.start, end=period.end, owner_id=segment.owner_id
    )
    return _as_dict(value)


def pacing(organization: Organization, period: Period) -> list[dict[str, Any]]:
    """Each marketing commitment paced at the end of the period (now if it is ongoing)."""
    from sla import selectors

    at = min(timezone.now(), period.end - timedelta(microseconds=1))
    return [_as_dict(row) for row in selectors.pacing(organization, at=at)]


def _as_dict(value: Any) -> dict[str, Any]:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    from dataclasses import asdict

    return asdict(value)
