"""Server-side SVG charts for the dashboard, the TV, the funnel audit and attribution.

Pure Python producing SVG strings: no JavaScript, no CDN, nothing to load on a TV that
runs unattended. Every function takes numbers already computed by ``dashboards.kpis``
(charts never compute a KPI) and the *display* strings the caller formatted in the
reader's language ("42 %", "12 500 €"); coordinates are written with a dot whatever the
locale ("24,5" is not a coordinate). Every piece of text is escaped here.

Colours are presentation attributes with a class on each element, so a stylesheet (the
TV's dark theme) can override them: CSS beats presentation attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PRIMARY = "#4f46e5"
SOFT = "#e0e7ff"
TRACK = "#eaecf0"
TEXT = "#111827"
MUTED = "#5b6472"
DANGER = "#c01f1f"
SUCCESS = "#067647"
WARNING = "#a15c07"
# Distinguishable on white and on the TV's near-black, in this order.
PALETTE = ("#4f46e5", "#0e9384", "#dd2590", "#e07b00", "#2e90fa", "#7a5af8", "#12b76a", "#667085")
STATUS_COLOURS = {"ahead": SUCCESS, "on_track": PRIMARY, "behind": DANGER}

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"
CHAR_WIDTH = 0.56  # average glyph width of the UI font, in ems (for truncating labels)


def n(number: float) -> str:
    """A coordinate: one decimal at most, dot as the separator."""
    text = f"{number:.1f}"
    return text.removesuffix(".0") if text != "-0.0" else "0"


def fit_text(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels at font ``size``."""
    text = str(text)
    limit = max(int(width / (size * CHAR_WIDTH)), 1)
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + "…"


def _svg(width: float, height: float, label: str, body: list[str], css: str = "") -> SafeString:
    # The natural size in pixels; stylesheets shrink it to its box (max-width: 100%,
    # height: auto) or stretch it (the TV), the viewBox keeps the proportions.
    classes = " ".join(c for c in ("chart", css) if c)
    return mark_safe(
        f'<svg class="{escape(classes)}" viewBox="0 0 {n(width)} {n(height)}" '
        f'width="{n(width)}" height="{n(height)}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="{FONT}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float = 13,
    anchor: str = "start",
    fill: str = TEXT,
    weight: int = 400,
    css: str = "chart__text",
    title: str = "",
) -> str:
    tip = f"<title>{escape(title)}</title>" if title and title != text else ""
    return (
        f'<text class="{css}" x="{n(x)}" y="{n(y)}" font-size="{n(size)}" '
        f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}" '
        f'dominant-baseline="middle">{tip}{escape(text)}</text>'
    )


def _empty(width: float, height: float, label: str, message: str, css: str = "") -> SafeString:
    return _svg(
        width,
        height,
        label,
        [_text(width / 2, height / 2, message, anchor="middle", fill=MUTED, css="chart__muted")],
        css,
    )


# --- Horizontal bar chart -------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    display: str = ""  # the value as the reader reads it; defaults to the number
    highlight: bool = False
    note: str = ""  # a second, smaller figure after the value ("3 deals")


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    empty: str = "",
    width: float = 640,
    bar_height: float = 26,
    gap: float = 12,
    label_width: float = 200,
    value_width: float = 120,
    size: float = 14,
    css: str = "",
) -> SafeString:
    """Labelled horizontal bars, longest first as given; a label too long for its column
    is cut with an ellipsis and kept whole in a tooltip."""
    if not bars:
        return _empty(width, bar_height * 2, label, empty, css)
    peak = max((max(b.value, 0) for b in bars), default=0) or 1
    track = width - label_width - value_width
    height = len(bars) * (bar_height + gap) - gap + 4
    body = []
    for i, bar in enumerate(bars):
        y = 2 + i * (bar_height + gap)
        middle = y + bar_height / 2
        length = max(track * max(bar.value, 0) / peak, 2 if bar.value > 0 else 0)
        colour = DANGER if bar.highlight else PRIMARY
        kind = "chart__bar chart__bar--highlight" if bar.highlight else "chart__bar"
        body.append(
            _text(
                label_width - 10,
                middle,
                fit_text(bar.label, label_width - 14, size),
                size=size,
                anchor="end",
                title=bar.label,
                css="chart__label",
            )
        )
        body.append(
            f'<rect class="chart__track" x="{n(label_width)}" y="{n(y)}" width="{n(track)}" '
            f'height="{n(bar_height)}" rx="4" fill="{TRACK}" opacity="0.5"/>'
        )
        if length:
            body.append(
                f'<rect class="{kind}" x="{n(label_width)}" y="{n(y)}" width="{n(length)}" '
                f'height="{n(bar_height)}" rx="4" fill="{colour}">'
                f"<title>{escape(bar.label)}: {escape(bar.display or n(bar.value))}</title></rect>"
            )
        value = bar.display or n(bar.value)
        body.append(
            _text(
                label_width + track + 10,
                middle,
                value,
                size=size,
                weight=650,
                css="chart__value",
            )
        )
        if bar.note:
            body.append(
                _text(
                    label_width + track + 18 + len(value) * size * 0.64,
                    middle,
                    bar.note,
                    size=size * 0.85,
                    fill=MUTED,
                    css="chart__muted",
                )
            )
    return _svg(width, height, label, body, css)


# --- Funnel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    label: str
    value: float
    display: str = ""
    conversion: str = ""  # "→ 42 %" to the next stage, shown between the two bars
    leak: bool = False  # the biggest leak: this step's conversion is highlighted


def funnel_chart(
    steps: Sequence[Step],
    *,
    label: str,
    empty: str = "",
    width: float = 640,
    step_height: float = 40,
    gap: float = 26,
    label_width: float = 130,
    size: float = 15,
    css: str = "",
) -> SafeString:
    """Centred bars narrowing stage by stage, each stage's count inside or beside its
    bar and the conversion to the next stage between the two; the biggest leak in red."""
    if not steps:
        return _empty(width, step_height * 2, label, empty, css)
    peak = max((max(s.value, 0) for s in steps), default=0) or 1
    area = width - label_width - 8
    centre = label_width + area / 2
    height = len(steps) * (step_height + gap) - gap + 4
    body = []
    for i, step in enumerate(steps):
        y = 2 + i * (step_height + gap)
        middle = y + step_height / 2
        w = max(area * max(step.value, 0) / peak, 3)
        colour = PALETTE[0]
        opacity = 1 - 0.55 * (i / max(len(steps) - 1, 1))
        body.append(
            _text(
                label_width - 10,
                middle,
                fit_text(step.label, label_width - 12, size),
                size=size,
                anchor="end",
                weight=600,
                title=step.label,
                css="chart__label",
            )
        )
        body.append(
            f'<rect class="chart__step" x="{n(centre - w / 2)}" y="{n(y)}" width="{n(w)}" '
            f'height="{n(step_height)}" rx="5" fill="{colour}" fill-opacity="{opacity:.2f}">'
            f"<title>{escape(step.label)}: {escape(step.display or n(step.value))}</title></rect>"
        )
        value = step.display or n(step.value)
        inside = w > len(value) * size * CHAR_WIDTH + 16
        body.append(
            _text(
                centre if inside else centre + w / 2 + 8,
                middle,
                value,
                size=size,
                anchor="middle" if inside else "start",
                fill="#ffffff" if inside and opacity > 0.6 else TEXT,
                weight=700,
                css="chart__value chart__value--inside" if inside else "chart__value",
            )
        )
        if step.conversion and i < len(steps) - 1:
            body.append(
                _text(
                    centre,
                    y + step_height + gap / 2 + 1,
                    step.conversion,
                    size=size * 0.85,
                    anchor="middle",
                    fill=DANGER if step.leak else MUTED,
                    weight=700 if step.leak else 500,
                    css="chart__leak" if step.leak else "chart__muted",
                )
            )
    return _svg(width, height, label, body, css)


# --- Sparkline ------------------------------------------------------------------------


def sparkline(
    values: Sequence[float],
    *,
    label: str,
    width: float = 120,
    height: float = 32,
    css: str = "",
) -> SafeString:
    """A small trend line with its last point marked; flat when all values are equal."""
    points = [float(v) for v in values if v is not None]
    if len(points) < 2:
        return _svg(width, height, label, [], css + " chart--spark")
    low, high = min(points), max(points)
    span = (high - low) or 1
    pad = 3
    step = (width - 2 * pad) / (len(points) - 1)
    coords = [
        (
            pad + i * step,
            height - pad - (v - low) / span * (height - 2 * pad) if high > low else height / 2,
        )
        for i, v in enumerate(points)
    ]
    line = " ".join(f"{n(x)},{n(y)}" for x, y in coords)
    area = f"{n(coords[0][0])},{n(height)} {line} {n(coords[-1][0])},{n(height)}"
    x, y = coords[-1]
    body = [
        f'<polygon class="chart__area" points="{area}" fill="{PRIMARY}" fill-opacity="0.12"/>',
        f'<polyline class="chart__line" points="{line}" fill="none" stroke="{PRIMARY}" '
        f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>',
        f'<circle class="chart__dot" cx="{n(x)}" cy="{n(y)}" r="3" fill="{PRIMARY}"/>',
    ]
    return _svg(width, height, label, body, (css + " chart--spark").strip())


# --- Gauge ----------------------------------------------------------------------------


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> str:
    """An SVG arc path from fraction ``start`` to ``end`` of a half circle (0 = left)."""
    a0, a1 = math.pi * (1 - start), math.pi * (1 - end)
    x0, y0 = cx + r * math.cos(a0), cy - r * math.sin(a0)
    x1, y1 = cx + r * math.cos(a1), cy - r * math.sin(a1)
    return f"M {n(x0)} {n(y0)} A {n(r)} {n(r)} 0 0 1 {n(x1)} {n(y1)}"


def gauge(
    fraction: float | None,
    *,
    label: str,
    display: str,
    caption: str = "",
    expected: float | None = None,
    status: str = "",
    width: float = 220,
    css: str = "",
) -> SafeString:
    """A half-circle gauge of actual / target: the arc stops at 100 % (the display says
    "130 %"), a tick marks where the pace says we should be (``expected`` / target)."""
    height = width * 0.62
    cx, cy, r = width / 2, width * 0.5, width * 0.4
    stroke = width * 0.11
    colour = STATUS_COLOURS.get(status, PRIMARY)
    body = [
        f'<path class="chart__track" d="{_arc(cx, cy, r, 0, 1)}" fill="none" stroke="{TRACK}" '
        f'stroke-width="{n(stroke)}" stroke-linecap="round"/>'
    ]
    if fraction is not None and fraction > 0:
        body.append(
            f'<path class="chart__gauge chart__gauge--{escape(status or "plain")}" '
            f'd="{_arc(cx, cy, r, 0, min(fraction, 1))}" fill="none" stroke="{colour}" '
            f'stroke-width="{n(stroke)}" stroke-linecap="round"/>'
        )
    if expected is not None and 0 <= expected <= 1:
        angle = math.pi * (1 - expected)
        inner, outer = r - stroke * 0.8, r + stroke * 0.8
        body.append(
            f'<line class="chart__tick" x1="{n(cx + inner * math.cos(angle))}" '
            f'y1="{n(cy - inner * math.sin(angle))}" x2="{n(cx + outer * math.cos(angle))}" '
            f'y2="{n(cy - outer * math.sin(angle))}" stroke="{TEXT}" stroke-width="3"/>'
        )
    body.append(
        _text(
            cx,
            cy - r * 0.28,
            display,
            size=width * 0.15,
            anchor="middle",
            weight=750,
            css="chart__value",
        )
    )
    if caption:
        body.append(
            _text(
                cx,
                cy + width * 0.07,
                fit_text(caption, width * 0.95, width * 0.065),
                size=width * 0.065,
                anchor="middle",
                fill=MUTED,
                css="chart__muted",
                title=caption,
            )
        )
    return _svg(width, height, label, body, css)


# --- Donut ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    label: str
    value: float
    display: str = ""


def donut(
    slices: Sequence[Slice],
    *,
    label: str,
    centre: str = "",
    centre_caption: str = "",
    empty: str = "",
    size: float = 180,
    legend_width: float = 220,
    font: float = 13,
    colours: Sequence[str] = PALETTE,
    css: str = "",
) -> SafeString:
    """A ring of shares with a legend beside it (label, value) and a figure in the hole."""
    total = sum(max(s.value, 0) for s in slices)
    width = size + (legend_width if legend_width else 0)
    height = max(size, len(slices) * (font * 1.9) + 8)
    if total <= 0:
        return _empty(width, size, label, empty, css)
    cx, cy = size / 2, height / 2
    r = size * 0.38
    stroke = size * 0.17
    circumference = 2 * math.pi * r
    body = [
        f'<circle class="chart__track" cx="{n(cx)}" cy="{n(cy)}" r="{n(r)}" fill="none" '
        f'stroke="{TRACK}" stroke-width="{n(stroke)}"/>'
    ]
    offset = 0.0
    for i, s in enumerate(slices):
        share = max(s.value, 0) / total
        if share <= 0:
            continue
        length = share * circumference
        colour = colours[i % len(colours)]
        body.append(
            f'<circle class="chart__slice chart__slice--{i}" cx="{n(cx)}" cy="{n(cy)}" '
            f'r="{n(r)}" fill="none" stroke="{colour}" stroke-width="{n(stroke)}" '
            f'stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {n(cx)} {n(cy)})">'
            f"<title>{escape(s.label)}: {escape(s.display or n(s.value))}</title></circle>"
        )
        offset += length
    if centre:
        body.append(
            _text(
                cx,
                cy - (font * 0.6 if centre_caption else 0),
                centre,
                size=size * 0.16,
                anchor="middle",
                weight=750,
                css="chart__value",
            )
        )
    if centre_caption:
        body.append(
            _text(
                cx,
                cy + size * 0.1,
                fit_text(centre_caption, r * 1.5, font * 0.85),
                size=font * 0.85,
                anchor="middle",
                fill=MUTED,
                css="chart__muted",
            )
        )
    if legend_width:
        top = cy - len(slices) * font * 1.9 / 2 + font
        widest = max(len(s.display or n(s.value)) for s in slices)
        label_room = legend_width - 12 - font - 8 - widest * font * 0.62 - 8
        for i, s in enumerate(slices):
            y = top + i * font * 1.9
            colour = colours[i % len(colours)]
            x = size + 12
            body.append(
                f'<rect class="chart__swatch chart__slice--{i}" x="{n(x)}" y="{n(y - font / 2)}" '
                f'width="{n(font)}" height="{n(font)}" rx="3" fill="{colour}"/>'
            )
            value = s.display or n(s.value)
            body.append(
                _text(
                    x + font + 8,
                    y,
                    fit_text(s.label, label_room, font),
                    size=font,
                    title=s.label,
                    css="chart__label",
                )
            )
            body.append(
                _text(width - 2, y, value, size=font, anchor="end", weight=650, css="chart__value")
            )
    return _svg(width, height, label, body, css)


# --- Columns (previous vs current, a short series) -----------------------------------


def columns(
    values: Sequence[tuple[str, float, str]],
    *,
    label: str,
    width: float = 320,
    height: float = 140,
    size: float = 12,
    highlight_last: bool = True,
    css: str = "",
) -> SafeString:
    """Vertical columns with their value above and their label below: ``values`` are
    (label, number, display) tuples."""
    if not values:
        return _svg(width, height, label, [], css)
    top, bottom = size * 1.8, size * 2
    peak = max((max(v, 0) for _, v, _ in values), default=0) or 1
    slot = width / len(values)
    bar = min(slot * 0.6, 64)
    body = []
    for i, (name, value, display) in enumerate(values):
        h = (height - top - bottom) * max(value, 0) / peak
        x = i * slot + (slot - bar) / 2
        y = height - bottom - h
        last = highlight_last and i == len(values) - 1
        body.append(
            f'<rect class="chart__bar{" chart__bar--current" if last else " chart__bar--past"}" '
            f'x="{n(x)}" y="{n(y)}" width="{n(bar)}" height="{n(max(h, 1))}" rx="3" '
            f'fill="{PRIMARY if last else SOFT}"/>'
        )
        body.append(
            _text(
                x + bar / 2,
                y - size * 0.8,
                display or n(value),
                size=size,
                anchor="middle",
                weight=650,
                css="chart__value",
            )
        )
        body.append(
            _text(
                x + bar / 2,
                height - size * 0.9,
                fit_text(name, slot - 4, size),
                size=size,
                anchor="middle",
                fill=MUTED,
                title=name,
                css="chart__muted",
            )
        )
    return _svg(width, height, label, body, css)
