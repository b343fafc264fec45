"""Forms of the scoring editor. They read the shape of the input (numbers are numbers)
and translate it into what the services take; ``scoring.rules`` (through the
services) decides what is valid and says why, field by field (``put_errors``).

Field names are not prefixed (one form per request); ids are (``auto_id``), so that the
add form and an edit form of the same kind can sit on one page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from leads.models import EventType, Lead

from .models import BehaviourRule, FitRule, ScoringModel
from .rules import PROPERTY_PREFIX, ScoringError
from .whatif import PERIODS

CUSTOM = "custom"
CUSTOM_PREFIX = "custom:"
PROPERTY = "property"


def _number(label, help_text: Any = "", **attrs) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", **attrs}),
    )


def put_errors(form: forms.Form, error: ScoringError, names: dict[str, str] | None = None):
    """A service's field errors next to the form's fields (renamed by ``names``; the
    others above the form)."""
    names = names or {}
    for name, messages in (error.fields or {}).items():
        target = names.get(name, name)
        form.add_error(target if target in form.fields else None, messages)
    if not error.fields:
        form.add_error(None, error.message)


class ModelSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=120)
    mql_threshold = _number(
        _("MQL threshold"),
        _("A lead becomes MQL when its score reaches it (1–100)."),
        min=1,
        max=100,
    )
    min_fit_grade = forms.ChoiceField(
        label=_("Minimum fit grade for MQL"),
        required=False,
        choices=ScoringModel.MinGrade.choices,
        help_text=_("A lead that does not fit the ICP well enough never becomes MQL."),
    )
    band_a = _number(_("Grade A from (fit points)"))
    band_b = _number(_("Grade B from"))
    band_c = _number(_("Grade C from"))
    decay_half_life_days = _number(
        _("Half-life of behaviour points (days)"),
        _("Points of an event halve after this many days. Empty: they never fade."),
        min=1,
    )

    ERROR_FIELDS = {
        "grade_bands.A": "band_a",
        "grade_bands.B": "band_b",
        "grade_bands.C": "band_c",
        "grade_bands": "band_a",
    }

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "settings-%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_model(cls, model: ScoringModel) -> ModelSettingsForm:
        bands = model.grade_bands or {}
        return cls(
            initial={
                "name": model.name,
                "mql_threshold": model.mql_threshold,
                "min_fit_grade": model.min_fit_grade,
                "band_a": bands.get("A"),
                "band_b": bands.get("B"),
                "band_c": bands.get("C"),
                "decay_half_life_days": model.decay_half_life_days,
            }
        )

    def to_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "mql_threshold": data["mql_threshold"],
            "min_fit_grade": data["min_fit_grade"],
            "grade_bands": {"A": data["band_a"], "B": data["band_b"], "C": data["band_c"]},
            "decay_half_life_days": data["decay_half_life_days"],
        }


class FitRuleForm(forms.Form):
    label = forms.CharField(label=_("Label"), required=False, max_length=120)
    attribute = forms.ChoiceField(
        label=_("Attribute"),
        required=False,
        choices=[("", _("Choose…")), *FitRule.Attribute.choices],
    )
    operator = forms.ChoiceField(
        label=_("Condition"),
        required=False,
        choices=[("", _("Choose…")), *FitRule.Operator.choices],
    )
    value = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=2000,
        help_text=_("Several values: separate them with commas."),
    )
    value_min = _number(_("From"))
    value_max = _number(_("To"))
    points = _number(_("Points"), min=-100, max=100)

    def __init__(self, *args, rule_id: int | str = "new", **kwargs) -> None:
        kwargs.setdefault("auto_id", f"fit-{rule_id}-%s")
        super().__init__(*args, **kwargs)
        self.rule_id = rule_id

    @classmethod
    def for_rule(cls, rule: FitRule) -> FitRuleForm:
        value = rule.value
        lo = hi = None
        if rule.operator == "between" and isinstance(value, list) and len(value) == 2:
            lo, hi = value
            value = ""
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return cls(
            rule_id=rule.pk,
            initial={
                "label": rule.label,
                "attribute": rule.attribute,
                "operator": rule.operator,
                "value": "" if value is None else value,
                "value_min": lo,
                "value_max": hi,
                "points": rule.points,
            },
        )

    def to_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        value: Any = data["value"]
        if data["operator"] == "between":
            value = [data["value_min"], data["value_max"]]
        return {
            "label": data["label"],
            "attribute": data["attribute"],
            "operator": data["operator"],
            "value": value,
            "points": data["points"],
        }

    @property
    def error_fields(self) -> dict[str, str]:
        if self.data.get("operator") == "between":
            return {"value": "value_min"}
        return {}


class BehaviourRuleForm(forms.Form):
    MATCH_FIELDS = [
        ("", _("Any (no narrowing)")),
        ("url", _("URL")),
        ("content.level", _("Content level")),
        ("content.type", _("Content type")),
        ("content.key", _("Content key")),
        (PROPERTY, _("A property…")),
    ]

    label = forms.CharField(label=_("Label"), required=False, max_length=120)
    event_type = forms.ChoiceField(
        label=_("Event"),
        required=False,
        choices=[("", _("Choose…")), *EventType.choices, (CUSTOM, _("Custom event…"))],
    )
    custom_type = forms.CharField(
        label=_("Custom event name"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "trial_started", "autocomplete": "off"}),
    )
    match_field = forms.ChoiceField(label=_("Narrow on"), required=False, choices=MATCH_FIELDS)
    property_name = forms.CharField(
        label=_("Property name"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": "plan", "autocomplete": "off"}),
    )
    match_operator = forms.ChoiceField(
        label=_("Match"),
        required=False,
        choices=[
            ("", "—"),
            ("equals", _("equals")),
            ("contains", _("contains")),
            ("regex", _("regular expression")),
        ],
    )
    match_value = forms.CharField(label=_("Match value"), required=False, max_length=200)
    mode = forms.ChoiceField(
        label=_("Counts"),
        required=False,
        choices=[
            (BehaviourRule.Mode.PER_OCCURRENCE, _("for each occurrence")),
            (BehaviourRule.Mode.FREQUENCY, _("once at a frequency")),
        ],
    )
    points = _number(_("Points"), min=-100, max=100)
    cap = _number(_("At most (points)"), min=1, placeholder=_("no cap"))
    min_count = _number(_("At least (events)"), min=1)
    window_days = _number(_("Within (days)"), min=1)
    marks_hot = forms.BooleanField(label=_("Marks the lead hot"), required=False)

    def __init__(self, *args, rule_id: int | str = "new", **kwargs) -> None:
        kwargs.setdefault("auto_id", f"behaviour-{rule_id}-%s")
        super().__init__(*args, **kwargs)
        self.rule_id = rule_id

    @classmethod
    def for_rule(cls, rule: BehaviourRule) -> BehaviourRuleForm:
        event_type, custom_type = rule.event_type, ""
        if event_type.startswith(CUSTOM_PREFIX):
            event_type, custom_type = CUSTOM, event_type.removeprefix(CUSTOM_PREFIX)
        match_field, property_name = rule.match_field, ""
        if match_field.startswith(PROPERTY_PREFIX):
            match_field, property_name = PROPERTY, match_field.removeprefix(PROPERTY_PREFIX)
        return cls(
            rule_id=rule.pk,
            initial={
                "label": rule.label,
                "event_type": event_type,
                "custom_type": custom_type,
                "match_field": match_field,
                "property_name": property_name,
                "match_operator": rule.match_operator,
                "match_value": rule.match_value,
                "mode": rule.mode,
                "points": rule.points,
                "cap": rule.cap,
                "min_count": rule.min_count,
                "window_days": rule.window_days,
                "marks_hot": rule.marks_hot,
            },
        )

    def to_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        event_type = data["event_type"]
        if event_type == CUSTOM:
            name = data["custom_type"].strip()
            event_type = name if name.startswith(CUSTOM_PREFIX) else CUSTOM_PREFIX + name
        match_field = data["match_field"]
        if match_field == PROPERTY:
            match_field = PROPERTY_PREFIX + data["property_name"].strip()
        return {
            "label": data["label"],
            "event_type": event_type,
            "match_field": match_field,
            "match_operator": data["match_operator"],
            "match_value": data["match_value"],
            "mode": data["mode"],
            "points": data["points"],
            "cap": data["cap"],
            "min_count": data["min_count"],
            "window_days": data["window_days"],
            "marks_hot": data["marks_hot"],
        }

    @property
    def error_fields(self) -> dict[str, str]:
        names = {}
        if self.data.get("event_type") == CUSTOM:
            names["event_type"] = "custom_type"
        if self.data.get("match_field") == PROPERTY:
            names["match_field"] = "property_name"
        return names


class PreviewForm(forms.Form):
    q = forms.CharField(
        label=_("Leads"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Name, e-mail or company"),
                "autocomplete": "off",
            }
        ),
    )


class WhatIfForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Over the last"), coerce=int, choices=(), initial=30, widget=forms.RadioSelect
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "whatif-%s")
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = [
            (d, ngettext("%(n)d day", "%(n)d days", d) % {"n": d}) for d in PERIODS
        ]


# Seniority codes as the rules store them, for the value help of a seniority rule.
SENIORITY_CODES = ", ".join(code for code in Lead.Seniority.values if code)
