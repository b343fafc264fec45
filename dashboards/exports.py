"""CSV exports of the funnel audit and of attribution, for the UI's download views.

``funnel_rows`` / ``attribution_rows`` give the header and the rows (plain values, the
same numbers the pages show); ``funnel_csv`` / ``attribution_csv`` give the CSV lines
as an iterator for a ``StreamingHttpResponse`` (``csv_response`` builds one). Like the
lead export (leads/export.py): UTF-8 with a byte-order mark, ``;`` in French and ``,``
otherwise, formula-looking cells neutralised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import translation
from django.utils.translation import gettext as _

from leads.export import BOM, safe_cell
from smarketing.tenancy.models import Organization

from . import kpis
from .kpis import ALL_LEADS, Period, Segment


def funnel_rows(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS, *, by: str = ""
) -> list[list[Any]]:
    """Header, then one row per stage (per group and stage when ``by`` is set)."""
    stages = kpis.funnel(organization, period, segment, by=by)
    leak = kpis.biggest_leak(stages) if not by else None
    header = [
        _("Stage"),
        _("Entered"),
        _("Moved on"),
        _("Dropped"),
        _("Conversion to next stage (%)"),
        _("Median days in stage"),
        _("Biggest leak"),
    ]
    if by:
        header.insert(0, _("Source") if by == "source" else _("Campaign"))
    rows: list[list[Any]] = [header]
    for stage in stages:
        row = [
            stage.label,
            stage.entered,
            stage.moved_on,
            stage.dropped,
            "" if stage.conversion is None else round(stage.conversion * 100, 1),
            "" if stage.median_days is None else stage.median_days,
            _("yes") if leak is not None and stage.stage == leak.stage else "",
        ]
        if by:
            row.insert(0, stage.group_label)
        rows.append(row)
    return rows


def attribution_rows(
    organization: Organization,
    period: Period,
    *,
    model: str = "linear",
    by: str = "content",
    segment: Segment = ALL_LEADS,
) -> list[list[Any]]:
    rows = kpis.attribution(organization, period, model=model, by=by, segment=segment)
    header = [
        _("Key"),
        _("Content") if by == "content" else _("Campaign"),
        _("Attributed revenue"),
        _("Share of revenue won (%)"),
        _("Won deals touched"),
        _("Touches"),
    ]
    if by == "campaign":
        header += [_("Spend in the period"), _("Revenue / spend"), _("CAC")]
    else:
        header += [_("Level")]
    out: list[list[Any]] = [header]
    for row in rows:
        line = [
            row.key,
            row.label,
            row.revenue,
            "" if row.share is None else round(row.share * 100, 1),
            row.deals,
            row.touches,
        ]
        if by == "campaign":
            line += [
                "" if row.spend is None else row.spend,
                "" if row.roi is None else row.roi,
                "" if row.cac is None else row.cac,
            ]
        else:
            line += [row.level]
        out.append(line)
    return out


def _delimiter() -> str:
    return ";" if (translation.get_language() or "").startswith("fr") else ","


def _decimal_text(value: Any, delimiter: str) -> str:
    text = "" if value is None else str(value)
    # In French Excel reads 12,5 as a number and 12.5 as text.
    if delimiter == ";" and isinstance(value, int | float) and not isinstance(value, bool):
        return text.replace(".", ",")
    if delimiter == ";" and type(value).__name__ == "Decimal":
        return text.replace(".", ",")
    return text


def csv_lines(rows: Iterable[list[Any]], *, delimiter: str | None = None) -> Iterator[str]:
    delimiter = delimiter or _delimiter()

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo(), delimiter=delimiter)
    yield BOM
    for row in rows:
        yield writer.writerow([safe_cell(_decimal_text(cell, delimiter)) for cell in row])


def funnel_csv(
    organization: Organization, period: Period, segment: Segment = ALL_LEADS, *, by: str = ""
) -> Iterator[str]:
    return csv_lines(funnel_rows(organization, period, segment, by=by))


def attribution_csv(
    organization: Organization,
    period: Period,
    *,
    model: str = "linear",
    by: str = "content",
    segment: Segment = ALL_LEADS,
) -> Iterator[str]:
    return csv_lines(attribution_rows(organization, period, model=model, by=by, segment=segment))


def csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_filename(kind: str, period: Period, *, suffix: str = "") -> str:
    """e.g. ``funnel_2026-03-23_2026-03-29.csv``."""
    parts = [kind, period.first_day.isoformat(), period.last_day.isoformat()]
    if suffix:
        parts.append(suffix)
    return "_".join(parts) + ".csv"
