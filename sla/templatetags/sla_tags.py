"""Filters of the SLA pages: durations in words and the numbers of the gauges."""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.utils import formats
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(minutes: Any, rounding: str = "up") -> str:
    """72 → "1 h 12 min", 45 → "45 min", 3000 → "2 d 2 h". Rounded up by default (a
    countdown: "0 min left" would read as already late); ``|duration:"down"`` for time
    already spent ("breached 25 min ago" until the 26th minute has passed)."""
    if minutes is None or minutes == "":
        return "—"
    value = float(minutes)
    value = max(0, math.floor(value + 1e-9) if rounding == "down" else math.ceil(value - 1e-9))
    days, rest = divmod(value, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = _("%(d)s d") % {"d": days}
        return f"{text} {_('%(h)s h') % {'h': hours}}" if hours else text
    if hours:
        text = _("%(h)s h") % {"h": hours}
        return f"{text} {_('%(m)s min') % {'m': mins}}" if mins else text
    return _("%(m)s min") % {"m": mins}


@register.filter
def percent(rate: Any) -> str:
    """0.925 → "92.5 %" (one decimal, dropped when whole); None → "—"."""
    if rate is None:
        return "—"
    value = round(float(rate) * 100, 1)
    text = formats.number_format(value, 0 if value == int(value) else 1)
    return f"{text} %"


@register.filter
def commitment_name(commitment: Any) -> str:
    """A sales commitment in a few words: its label, else "New MQL · 8 h"."""
    if commitment is None:
        return ""
    if commitment.label:
        return commitment.label
    from leads.models import EventType

    if commitment.trigger == "became_mql":
        what = _("New MQL")
    elif commitment.trigger == "became_hot":
        what = _("Hot lead")
    elif commitment.event_type in EventType.values:
        what = str(EventType(commitment.event_type).label)
    else:
        what = commitment.event_type.removeprefix("custom:").replace("_", " ")
    return f"{what} · {duration(commitment.response_minutes)}"
