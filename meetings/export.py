"""The meeting as Markdown: the export, and the body of the e-mail summary. Numbers come
from the frozen pack; decisions and action items as they stand."""

from __future__ import annotations

from django.utils import formats
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from . import selectors
from .models import Meeting


def _md(text: str) -> str:
    """Keep user text on its line and out of Markdown syntax (tables, headings)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _day(value: str | None) -> str:
    if not value:
        return ""
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    return formats.date_format(day, "DATE_FORMAT") if day else value


def to_markdown(meeting: Meeting) -> str:
    pack = meeting.snapshot or {}
    # The reviewed week's inclusive dates (``reviewed``); a pack without them: the KPI
    # layer's period (``from`` and ``last_day``).
    kpi_period = pack.get("period") or {}
    period = pack.get("reviewed") or {
        "first_day": kpi_period.get("from"),
        "last_day": kpi_period.get("last_day"),
    }
    lines = [
        "# "
        + _("Smarketing meeting · week of %(day)s")
        % {"day": formats.date_format(meeting.week_start, "DATE_FORMAT")},
        "",
        _("Reviewed week: %(start)s → %(end)s")
        % {"start": _day(period.get("first_day")), "end": _day(period.get("last_day"))},
        _("Status: %(status)s") % {"status": meeting.get_status_display()},
        "",
    ]
    attendees = selectors.attendees(meeting)
    if attendees:
        names = ", ".join(_md(a.user.get_full_name() or a.user.email) for a in attendees)
        lines += [_("Attendees: %(names)s") % {"names": names}, ""]

    lines += ["## 1. " + _("Last week's numbers"), ""]
    lines += [
        "| "
        + " | ".join([_("KPI"), _("Last week"), _("Week before"), _("Change"), _("Target")])
        + " |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in selectors.kpi_rows(pack):
        lines.append(
            f"| {row['label']} | {row['current']} | {row['previous']} | {row['delta']} | "
            f"{row['target']} |"
        )
    lines.append("")

    lines += ["## 2. " + _("SLA breaches and rejected leads"), ""]
    breaches = selectors.breach_rows(pack)
    if breaches:
        for b in breaches:
            lines.append(
                f"- {_md(b['lead'])} · {_md(b['commitment_text'])} · {_md(b['owner'] or '—')}"
            )
    else:
        lines.append("- " + _("No SLA breach."))
    reasons = selectors.rejection_reasons(pack)
    if reasons:
        lines.append("")
        lines.append(
            _("Rejection reasons: %(list)s")
            % {"list": ", ".join(f"{r['label']} ({r['count']})" for r in reasons)}
        )
    for lead in selectors.rejected_rows(pack):
        comment = f" — {_md(lead['comment'])}" if lead.get("comment") else ""
        lines.append(f"- {_md(lead['lead'])} · {_md(lead['reason_text'])}{comment}")
    lines.append("")

    lines += ["## 3. " + _("Marketing commitment pacing"), ""]
    pacing = selectors.pacing_rows(pack)
    if pacing:
        for p in pacing:
            lines.append(
                f"- {_md(p['label'])}: {p['actual']} / {p['target']} "
                f"({p['attainment_text']}, {p['status_text']})"
            )
    else:
        lines.append("- " + _("No marketing commitment in force."))
    lines.append("")

    lines += ["## 4. " + _("Last meeting's action items"), ""]
    previous = pack.get("action_items") or []
    if previous:
        for item in previous:
            mark = "x" if item.get("done") else " "
            owner = f" · {_md(item['owner'])}" if item.get("owner") else ""
            lines.append(f"- [{mark}] {_md(item['title'])}{owner}")
    else:
        lines.append("- " + _("None."))
    carried = selectors.carried_items(meeting)
    if carried:
        lines += ["", _("Carried over, as they stand now:")]
        for item in carried:
            mark = "x" if item.done else " "
            lines.append(f"- [{mark}] {_md(item.title)}")
    lines.append("")

    lines += ["## 5. " + _("Goals for the coming week"), ""]
    lines.append(meeting.goals.strip() or _("(none written)"))
    lines.append("")

    lines += ["## " + _("Decisions"), ""]
    decisions = selectors.decisions(meeting)
    lines += [f"- {_md(d.text)}" for d in decisions] or ["- " + _("None.")]
    lines.append("")
    lines += ["## " + _("Action items"), ""]
    items = selectors.own_items(meeting)
    for item in items:
        mark = "x" if item.done else " "
        extra = []
        if item.owner:
            extra.append(_md(item.owner.get_full_name() or item.owner.email))
        if item.due_on:
            extra.append(
                _("due %(day)s") % {"day": formats.date_format(item.due_on, "DATE_FORMAT")}
            )
        suffix = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"- [{mark}] {_md(item.title)}{suffix}")
    if not items:
        lines.append("- " + _("None."))
    if meeting.notes.strip():
        lines += ["", "## " + _("Notes"), "", meeting.notes.strip()]
    lines.append("")
    return "\n".join(lines)
