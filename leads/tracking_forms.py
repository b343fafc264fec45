"""Forms of the tracking settings page: shapes only; the services decide."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EventType
from .tracker import MAX_RATE_LIMIT


class TrackingSettingsForm(forms.Form):
    enabled = forms.BooleanField(
        label=_("Tracker enabled"),
        required=False,
        help_text=_("Disabled, the snippet and the collect URL answer 404."),
    )
    allowed_domains = forms.CharField(
        label=_("Allowed domains"),
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "placeholder": "www.example.com"}
        ),
        help_text=_(
            "One host per line, exactly as in the address bar (www.example.com and "
            "example.com are two hosts). Only https pages may send events; plain http "
            "is accepted for localhost and 127.0.0.1 (development)."
        ),
    )
    require_consent = forms.BooleanField(
        label=_("Require consent before tracking"),
        required=False,
        help_text=_(
            "Nothing is stored in the visitor's browser and nothing is sent until your "
            "site calls smarketing('consent', true) — typically from your cookie banner."
        ),
    )
    rate_limit_per_minute = forms.IntegerField(
        label=_("Events per minute and visitor"),
        min_value=1,
        max_value=MAX_RATE_LIMIT,
        help_text=_("Beyond it the tracker answers 429. One address may send ten times as much."),
    )

    def clean_allowed_domains(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["allowed_domains"].splitlines()]


def _json_object(value: str, *, label: str) -> dict:
    value = (value or "").strip()
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise forms.ValidationError(
            _("Not valid JSON (%(error)s).") % {"error": error}, code="invalid"
        ) from error
    if not isinstance(parsed, dict):
        raise forms.ValidationError(_("%(label)s must be a JSON object.") % {"label": label})
    return parsed


class WebhookEndpointCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    key = forms.SlugField(
        label=_("Key"),
        max_length=50,
        required=False,
        help_text=_(
            "Events carry the source hook:KEY. Made from the name if empty; it cannot change."
        ),
    )
    default_type = forms.CharField(
        label=_("Default event type"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "event-types", "autocomplete": "off"}),
        help_text=_("Used when the mapping gives no type."),
    )


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    default_type = forms.CharField(
        label=_("Default event type"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "event-types", "autocomplete": "off"}),
    )
    mapping = forms.CharField(
        label=_("Field mapping (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
    )

    def clean_mapping(self) -> dict:
        return _json_object(self.cleaned_data["mapping"], label=_("The mapping"))


class MappingPreviewForm(forms.Form):
    mapping = forms.CharField(required=False, widget=forms.Textarea)
    sample = forms.CharField(
        label=_("Sample payload (JSON)"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
    )

    def clean_mapping(self) -> dict:
        return _json_object(self.cleaned_data["mapping"], label=_("The mapping"))

    def clean_sample(self):
        value = self.cleaned_data["sample"]
        try:
            return json.loads(value)
        except ValueError as error:
            raise forms.ValidationError(
                _("Not valid JSON (%(error)s).") % {"error": error}, code="invalid"
            ) from error


EVENT_TYPES = [value for value, _label in EventType.choices]
