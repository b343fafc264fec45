"""The server-side SVG charts: escaped text, fitted labels, empty states, coordinates
that stay numbers in every language."""

from __future__ import annotations

import re
import xml.dom.minidom

from django.utils import translation

from dashboards import charts


def parses(svg: str) -> xml.dom.minidom.Document:
    return xml.dom.minidom.parseString(str(svg))  # noqa: S318 — our own SVG, in a test


def test_bar_chart_escapes_and_fits_labels():
    long = "Le guide complet du smarketing B2B : SLA, scoring et réunions hebdomadaires"
    svg = charts.bar_chart(
        [
            charts.Bar("<script>alert(1)</script>", 10, "10 €"),
            charts.Bar(long, 5, "5 €", highlight=True, note="2 deals"),
        ],
        label="Revenue & co",
    )
    doc = parses(svg)  # well-formed
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    texts = [t.lastChild.data for t in doc.getElementsByTagName("text") if t.lastChild]
    assert any(t.endswith("…") and len(t) < len(long) for t in texts)
    assert long in svg  # whole in its tooltip
    assert 'class="chart__bar chart__bar--highlight"' in svg
    assert 'aria-label="Revenue &amp; co"' in svg


def test_bars_are_proportional():
    svg = charts.bar_chart([charts.Bar("a", 100), charts.Bar("b", 50)], label="x", width=640)
    widths = [float(w) for w in re.findall(r'class="chart__bar" [^>]*width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]


def test_empty_charts_say_so():
    assert "Nothing" in charts.bar_chart([], label="x", empty="Nothing")
    assert "No deal" in charts.donut([charts.Slice("a", 0)], label="x", empty="No deal")
    assert "<polyline" not in charts.sparkline([3], label="x")
    parses(charts.funnel_chart([], label="x", empty="Empty"))


def test_funnel_marks_the_leak():
    svg = charts.funnel_chart(
        [
            charts.Step("Lead", 100, "100", "→ 40 %"),
            charts.Step("MQL", 40, "40", "→ 10 %", leak=True),
            charts.Step("SAL", 4, "4"),
        ],
        label="Funnel",
    )
    parses(svg)
    assert svg.count('class="chart__leak"') == 1 and "→ 10 %" in svg


def test_gauge_stops_at_the_target_and_shows_the_pace():
    over = charts.gauge(1.3, label="g", display="130 %", expected=0.5, status="ahead")
    full = charts.gauge(1.0, label="g", display="100 %", expected=0.5, status="ahead")
    parses(over)
    arc = re.compile(r'class="chart__gauge chart__gauge--ahead" d="([^"]+)"')
    assert arc.search(over).group(1) == arc.search(full).group(1)
    assert "chart__tick" in over and "130 %" in over
    assert "chart__gauge" not in charts.gauge(None, label="g", display="—")


def test_coordinates_are_numbers_in_french():
    with translation.override("fr"):
        svg = charts.sparkline([1.25, 2.5, 3.75], label="x") + charts.donut(
            [charts.Slice("a", 1.5), charts.Slice("b", 2.5)], label="y"
        )
    for value in re.findall(r' (?:x|y|cx|cy|r|width|height)="([^"]+)"', svg):
        float(value)
