"""Reads of the meetings app. The pack's numbers are read from the meeting's frozen
snapshot only (never recomputed); action items and decisions are live rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import formats
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import Organization
from smarketing.tenancy.selectors import get_object_for_org

from .models import ActionItem, Attendee, Meeting, MeetingDecision

# The pack's KPI table: (name, label, kind). ``kind`` says how to show the value.
KPI_ROWS: list[tuple[str, Any, str]] = [
    ("new_leads", _("New leads"), "count"),
    ("mqls", _("MQLs"), "count"),
    ("sals", _("SALs"), "count"),
    ("sqls", _("SQLs"), "count"),
    ("acceptance_rate", _("Acceptance rate"), "rate"),
    ("mql_to_sql_rate", _("MQL → SQL conversion"), "rate"),
    ("speed_to_lead_minutes", _("Speed to lead (median minutes)"), "minutes"),
    ("sla_rate", _("SLA compliance"), "rate"),
    ("pipeline_created", _("Pipeline created"), "money"),
    ("deals_won", _("Deals won"), "count"),
    ("revenue_won", _("Revenue won"), "money"),
    ("marketing_sourced_revenue", _("Marketing-sourced revenue"), "money"),
]
TREND_KPIS = ("mqls", "sqls", "acceptance_rate", "sla_rate", "revenue_won")


def get_meeting_for_org(organization: Organization, meeting_id: Any) -> Meeting:
    return get_object_for_org(Meeting, organization, pk=meeting_id)


def get_action_item_for_org(organization: Organization, item_id: Any) -> ActionItem:
    return get_object_for_org(ActionItem, organization, pk=item_id)


def get_decision_for_org(organization: Organization, decision_id: Any) -> MeetingDecision:
    return get_object_for_org(MeetingDecision, organization, pk=decision_id)


def meetings(organization: Organization):
    return Meeting.objects.for_org(organization).order_by("-week_start")


def attendees(meeting: Meeting) -> list[Attendee]:
    return list(
        Attendee.objects.for_org(meeting.organization_id)
        .filter(meeting=meeting)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def decisions(meeting: Meeting) -> list[MeetingDecision]:
    return list(
        MeetingDecision.objects.for_org(meeting.organization_id)
        .filter(meeting=meeting)
        .select_related("by")
    )


def own_items(meeting: Meeting) -> list[ActionItem]:
    return list(
        ActionItem.objects.for_org(meeting.organization_id)
        .filter(meeting=meeting)
        .select_related("owner")
        .order_by("pk")
    )


def carried_items(meeting: Meeting) -> list[ActionItem]:
    """Items of earlier meetings that were still open when this one was created: those
    still open now, and those done since (ticked in this meeting)."""
    return list(
        ActionItem.objects.for_org(meeting.organization_id)
        .filter(meeting__week_start__lt=meeting.week_start, created_at__lt=meeting.created_at)
        .filter(Q(done=False) | Q(done_at__gte=meeting.created_at))
        .select_related("owner", "meeting")
        .order_by("due_on", "pk")
    )


def is_on_meeting(meeting: Meeting, item: ActionItem) -> bool:
    """The item is one of the meeting's own or carried over into it."""
    if item.meeting_id == meeting.pk:
        return True
    return any(carried.pk == item.pk for carried in carried_items(meeting))


def open_items(organization: Organization):
    return ActionItem.objects.for_org(organization).filter(done=False)


# --- the frozen pack, for display --------------------------------------------------------


def kpi_value(kpis: dict, name: str) -> Any:
    if name == "sla_rate":
        return (kpis.get("sla") or {}).get("rate")
    if name == "mql_to_sql_rate":
        return (kpis.get("mql_cohort") or {}).get("rate")
    return kpis.get(name)


def format_value(value: Any, kind: str, currency: str = "EUR") -> str:
    if value is None or value == "":
        return "—"
    if kind == "rate":
        return f"{formats.number_format(Decimal(str(value)) * 100, 1)} %"
    if kind == "minutes":
        return formats.number_format(round(float(value)), 0, force_grouping=True)
    if kind == "money":
        return f"{formats.number_format(Decimal(str(value)), 0, force_grouping=True)} {currency}"
    return formats.number_format(value, 0, force_grouping=True)


def _delta_text(delta: dict | None, kind: str, currency: str) -> str:
    if not delta:
        return ""
    change = Decimal(str(delta["change"]))
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if kind == "rate":
        body = f"{formats.number_format(abs(change) * 100, 1)} pt"
    else:
        body = format_value(abs(change), kind, currency)
    return f"{sign}{body}"


def kpi_rows(snapshot: dict) -> list[dict]:
    """The agenda's item 1: each KPI this week, last week, the change, the target."""
    current, previous = snapshot.get("current") or {}, snapshot.get("previous") or {}
    targets, deltas = snapshot.get("targets") or {}, snapshot.get("deltas") or {}
    currency = snapshot.get("currency") or current.get("currency") or "EUR"
    rows = []
    for name, label, kind in KPI_ROWS:
        delta = deltas.get(name)
        target = targets.get(name)
        value = kpi_value(current, name)
        attained = None
        if target not in (None, "") and value is not None and Decimal(str(target)):
            attained = format_value(Decimal(str(value)) / Decimal(str(target)), "rate")
        rows.append(
            {
                "name": name,
                "label": label,
                "current": format_value(value, kind, currency),
                "previous": format_value(kpi_value(previous, name), kind, currency),
                "delta": _delta_text(delta, kind, currency),
                "better": None
                if not delta or not Decimal(str(delta["change"]))
                else delta.get("better"),
                "target": format_value(target, kind, currency) if target not in (None, "") else "",
                "attained": attained,
            }
        )
    return rows


# --- labels of the frozen pack, in the reader's language --------------------------------
# The pack stores codes and raw values (version 2); version-1 packs stored labels in the
# language of whoever generated them (often the beat's): those are shown as stored when
# the raw values are missing.


def _choice_label(choices, code: Any, fallback: Any = "") -> str:
    try:
        return str(choices(code).label)
    except (ValueError, TypeError):
        return str(fallback or code or "")


def reason_label(code: Any, fallback: Any = "") -> str:
    from leads.models import RejectReason

    return _choice_label(RejectReason, code, fallback)


def commitment_text(row: dict) -> str:
    """A breach's sales commitment, as ``SalesCommitment.__str__`` reads it now."""
    if "commitment_trigger" not in row:
        return str(row.get("commitment") or "")
    if row.get("commitment_label"):
        return str(row["commitment_label"])
    from sla.models import Trigger

    trigger = _choice_label(Trigger, row.get("commitment_trigger"))
    return f"{trigger} → {row.get('commitment_minutes')} min"


def pacing_label(row: dict) -> str:
    """A marketing commitment, as ``MarketingCommitment.__str__`` reads it now."""
    if "label" in row and "metric" not in row:
        return str(row["label"])
    from sla.models import Metric, Period

    if row.get("metric") not in Metric.values or row.get("period") not in Period.values:
        return str(row.get("label") or "")
    metric = _choice_label(Metric, row["metric"])
    return f"{row.get('target')} {metric} {_choice_label(Period, row['period'])}"


PACING_STATUS = {"ahead": _("ahead"), "behind": _("behind"), "on_track": _("on track")}


def breach_rows(snapshot: dict) -> list[dict]:
    return [
        {**row, "commitment_text": commitment_text(row)} for row in snapshot.get("breaches") or []
    ]


def rejected_rows(snapshot: dict) -> list[dict]:
    return [
        {**row, "reason_text": reason_label(row.get("reason"), row.get("reason_label"))}
        for row in snapshot.get("rejected_leads") or []
    ]


def pacing_rows(snapshot: dict) -> list[dict]:
    rows = []
    for item in snapshot.get("pacing") or []:
        attainment = item.get("attainment")
        rows.append(
            {
                **item,
                "label": pacing_label(item),
                "status_text": str(PACING_STATUS.get(item.get("status"), item.get("status", ""))),
                "attainment_text": "—" if attainment is None else format_value(attainment, "rate"),
                "expected_text": formats.number_format(item.get("expected") or 0, 1),
            }
        )
    return rows


def rejection_reasons(snapshot: dict) -> list[dict]:
    """The KPI layer's ``[code, label, count]`` rows, labels translated from the code."""
    reasons = (snapshot.get("current") or {}).get("rejection_reasons") or []
    return [{"code": r[0], "label": reason_label(r[0], r[1]), "count": r[2]} for r in reasons]


def parse_moment(value: str | None):
    return parse_datetime(value) if value else None


def history(organization: Organization, *, limit: int = 12) -> list[dict]:
    """The last meetings, oldest first, with the pack's trend KPIs (from snapshots)."""
    rows = []
    for meeting in meetings(organization).only(
        "pk", "week_start", "status", "snapshot", "closed_at", "organization_id"
    )[:limit]:
        current = (meeting.snapshot or {}).get("current") or {}
        rows.append(
            {
                "meeting": meeting,
                "values": {name: kpi_value(current, name) for name in TREND_KPIS},
            }
        )
    rows.reverse()
    return rows


def trends(rows: list[dict]) -> list[dict]:
    """One sparkline per trend KPI over the meetings' snapshots (server-side SVG)."""
    from dashboards.charts import sparkline

    labels = {name: label for name, label, _kind in KPI_ROWS}
    kinds = {name: kind for name, _label, kind in KPI_ROWS}
    out = []
    for name in TREND_KPIS:
        values = [row["values"][name] for row in rows]
        numbers = [float(v) for v in values if v is not None]
        last = values[-1] if values else None
        out.append(
            {
                "name": name,
                "label": labels[name],
                "svg": sparkline(numbers, label=str(labels[name])),
                "last": format_value(last, kinds[name]),
            }
        )
    return out
