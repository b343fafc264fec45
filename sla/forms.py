"""Forms of the SLA contract editor. They read the shape of the input (numbers are
numbers, times are ``HH:MM``) and hand the services plain values (``to_service()``);
the services decide what a contract may say and refuse with field errors
(``put_errors``).

Field names are not prefixed (one form per request); ids are (``auto_id``), so that an
add form and an edit form of the same kind can sit on one page.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import EventType, Lead

from .models import Metric, Period, Trigger

DAYS = [
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]
GRADES = [("", _("Any grade")), ("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")]
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})\s*$")


def put_errors(form: forms.Form, error: Any, names: dict[str, str] | None = None) -> None:
    """A service's field errors next to the form's fields (renamed by ``names``; the
    others above the form); a refusal without fields goes above the form."""
    names = names or {}
    fields = getattr(error, "fields", None) or {}
    for name, messages in fields.items():
        target = names.get(name, name)
        form.add_error(target if target in form.fields else None, messages)
    if not fields:
        form.add_error(None, str(getattr(error, "message", "") or error))


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and "Etc/" not in z)
    return [(z, z.replace("_", " ")) for z in zones]


def _positive(label, help_text: Any = "", *, minimum: int = 1, maximum: int | None = None):
    attrs = {"inputmode": "numeric", "min": minimum}
    if maximum is not None:
        attrs["max"] = maximum
    return forms.IntegerField(
        label=label,
        help_text=help_text,
        min_value=minimum,
        max_value=maximum,
        widget=forms.NumberInput(attrs=attrs),
    )


class TermsForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    preamble = forms.CharField(
        label=_("Preamble"),
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Why the teams agree, what the contract covers, when it is reviewed."),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "terms-%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_version(cls, version) -> TermsForm:
        return cls(initial={"title": version.title, "preamble": version.preamble})

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class MarketingCommitmentForm(forms.Form):
    metric = forms.ChoiceField(label=_("Marketing delivers"), choices=Metric.choices)
    target = _positive(_("Target"), maximum=1_000_000)
    period = forms.ChoiceField(label=_("Period"), choices=Period.choices)
    grade = forms.ChoiceField(label=_("Only grade"), choices=GRADES, required=False)
    source = forms.ChoiceField(
        label=_("Only source"),
        choices=[("", _("Any source")), *Lead.Source.choices],
        required=False,
    )

    def __init__(self, *args, commitment_id: int | None = None, **kwargs) -> None:
        self.commitment_id = commitment_id
        prefix = f"mc{commitment_id}" if commitment_id else "mc-new"
        kwargs.setdefault("auto_id", f"{prefix}-%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_commitment(cls, commitment) -> MarketingCommitmentForm:
        return cls(
            commitment_id=commitment.pk,
            initial={
                "metric": commitment.metric,
                "target": commitment.target,
                "period": commitment.period,
                "grade": commitment.grade,
                "source": commitment.source,
            },
        )

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class SalesCommitmentForm(forms.Form):
    label = forms.CharField(label=_("Name"), max_length=150, required=False)
    trigger = forms.ChoiceField(label=_("The clock starts when"), choices=Trigger.choices)
    event_type = forms.ChoiceField(
        label=_("Event type"),
        choices=[("", _("Choose an event…")), *EventType.choices],
        required=False,
        help_text=_("For “the lead does…”: the event that starts the clock."),
    )
    response_minutes = _positive(_("Respond within (minutes)"), maximum=60 * 24 * 60)
    business_time = forms.BooleanField(
        label=_("Count business hours only"), required=False, initial=True
    )
    warn_percent = _positive(
        _("Warn at (% of the time)"), _("The owner is warned at this share."), maximum=99
    )
    escalation_minutes = _positive(
        _("Escalate after the breach (minutes)"),
        _("Then the sales managers are told."),
        minimum=0,
        maximum=60 * 24 * 30,
    )

    def __init__(self, *args, commitment_id: int | None = None, **kwargs) -> None:
        self.commitment_id = commitment_id
        prefix = f"sc{commitment_id}" if commitment_id else "sc-new"
        kwargs.setdefault("auto_id", f"{prefix}-%s")
        kwargs.setdefault(
            "initial",
            {"business_time": True, "warn_percent": 75, "escalation_minutes": 60},
        )
        super().__init__(*args, **kwargs)

    @classmethod
    def for_commitment(cls, commitment) -> SalesCommitmentForm:
        return cls(
            commitment_id=commitment.pk,
            initial={
                "label": commitment.label,
                "trigger": commitment.trigger,
                "event_type": commitment.event_type,
                "response_minutes": commitment.response_minutes,
                "business_time": commitment.business_time,
                "warn_percent": commitment.warn_percent,
                "escalation_minutes": commitment.escalation_minutes,
            },
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("trigger") == Trigger.EVENT and not data.get("event_type"):
            self.add_error("event_type", _("Choose the event that starts the clock."))
        if data.get("trigger") and data.get("trigger") != Trigger.EVENT:
            data["event_type"] = ""
        return data

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


def spans_text(spans: list) -> str:
    """``[["09:00", "12:30"], ["14:00", "18:00"]]`` → ``"09:00–12:30, 14:00–18:00"``."""
    return ", ".join(f"{a}–{b}" for a, b in spans or [])


class CalendarForm(forms.Form):
    """The time zone and, per weekday, its working spans as ``09:00–12:30, 14:00–18:00``
    (empty: closed that day)."""

    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "calendar-%s")
        super().__init__(*args, **kwargs)
        for day, label in DAYS:
            self.fields[f"day_{day}"] = forms.CharField(
                label=label,
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": _("closed"), "spellcheck": "false"}),
            )

    @classmethod
    def for_calendar(cls, time_zone: str, weekly_hours: dict) -> CalendarForm:
        initial: dict[str, Any] = {"time_zone": time_zone}
        for day, _label in DAYS:
            initial[f"day_{day}"] = spans_text((weekly_hours or {}).get(day, []))
        return cls(initial=initial)

    def day_fields(self) -> list:
        return [self[f"day_{day}"] for day, _label in DAYS]

    def _clean_day(self, name: str) -> list[list[str]]:
        text = self.cleaned_data.get(name, "")
        spans = []
        for part in filter(None, (p.strip() for p in re.split(r"[,;]", text))):
            match = SPAN.match(part)
            if not match:
                raise forms.ValidationError(
                    _("Write the hours as 09:00–12:30, 14:00–18:00 (or leave empty: closed).")
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
                raise forms.ValidationError(_("%(span)s is not a time of day.") % {"span": part})
            start, end = f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"
            if end <= start:
                raise forms.ValidationError(_("%(span)s ends before it starts.") % {"span": part})
            spans.append([start, end])
        spans.sort()
        for (_a, end), (start, _b) in itertools.pairwise(spans):
            if start < end:
                raise forms.ValidationError(_("These spans overlap."))
        return spans

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for day, _label in DAYS:
            name = f"day_{day}"
            if name in self.errors:
                continue
            try:
                data[name] = self._clean_day(name)
            except forms.ValidationError as error:
                self.add_error(name, error)
        return data

    def to_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "time_zone": data["time_zone"],
            "weekly_hours": {day: data[f"day_{day}"] for day, _label in DAYS},
        }


YEARS = (2000, 2100)  # dates outside these years are refused (no overflow in date maths)
MAX_ID = 2**63 - 1


def _check_year(value):
    if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
        raise forms.ValidationError(
            _("Choose a date between %(first)s and %(last)s.")
            % {"first": YEARS[0], "last": YEARS[1]}
        )
    return value


class HolidayForm(forms.Form):
    day = forms.DateField(
        label=_("Day"),
        widget=forms.DateInput(attrs={"type": "date", "min": "2000-01-01", "max": "2100-12-31"}),
    )
    name = forms.CharField(label=_("Name"), max_length=100, required=False)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "holiday-%s")
        super().__init__(*args, **kwargs)

    def clean_day(self):
        return _check_year(self.cleaned_data.get("day"))

    def to_service(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class SignForm(forms.Form):
    """What the signer saw: the signature is refused if the terms changed since."""

    terms_hash = forms.CharField(max_length=64, widget=forms.HiddenInput)


class ComplianceFilterForm(forms.Form):
    """``?period=week|month&at=YYYY-MM-DD&weeks=N`` on the compliance page."""

    period = forms.ChoiceField(choices=[("week", _("Week")), ("month", _("Month"))], required=False)
    at = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    commitment = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def clean_at(self):
        """Years 2000–2100 only: ``0001-01-01`` or ``9999-12-31`` would overflow the
        period arithmetic (a 400, not a 500)."""
        return _check_year(self.cleaned_data.get("at"))
