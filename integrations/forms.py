"""Forms of the integrations pages (the services do the real checks)."""

from __future__ import annotations

import json

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .webhooks_out import EVENT_TYPES


def connect_form_class(connector, *, editing: bool = False) -> type[forms.Form]:
    """The connect form of a connector: its credential fields, a name, a base URL."""
    fields: dict[str, forms.Field] = {
        "name": forms.CharField(
            label=_("Name"),
            max_length=100,
            required=False,
            help_text=_("To tell two connections of the same tool apart."),
        )
    }
    for spec in connector.credential_fields:
        attrs = {"autocomplete": "off", "spellcheck": "false"}
        if spec.placeholder:
            attrs["placeholder"] = spec.placeholder
        if spec.secret:
            widget = forms.PasswordInput(attrs=attrs, render_value=False)
        else:
            widget = forms.TextInput(attrs=attrs)
        help_text = spec.help_text
        if editing and spec.secret:
            help_text = _("Leave empty to keep the stored value.")
        fields[spec.name] = forms.CharField(
            label=spec.label,
            required=spec.required and not (editing and spec.secret),
            max_length=4000,
            widget=widget,
            help_text=help_text,
            strip=True,
        )
    for spec in getattr(connector, "settings_fields", ()):
        if spec.json:
            fields[f"setting_{spec.name}"] = JSONTextField(
                label=spec.label, required=spec.required, help_text=spec.help_text
            )
        else:
            fields[f"setting_{spec.name}"] = forms.CharField(
                label=spec.label,
                required=spec.required,
                max_length=2000,
                help_text=spec.help_text,
                widget=forms.TextInput(
                    attrs={"placeholder": spec.placeholder} if spec.placeholder else {}
                ),
            )
    fields["base_url"] = forms.CharField(
        label=_("API base URL"),
        required=False,
        max_length=300,
        help_text=_("Leave empty for the tool's default: %(url)s")
        % {"url": connector.default_base_url or "—"},
    )
    return type(f"{connector.__class__.__name__}ConnectForm", (forms.Form,), fields)


class JSONTextField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return json.loads(value)
        except ValueError as error:
            raise forms.ValidationError(_("This is not valid JSON.")) from error


def settings_from(form: forms.Form, connector) -> dict:
    """The connection settings typed in the form (base URL included)."""
    values = {"base_url": form.cleaned_data.get("base_url", "")}
    for spec in getattr(connector, "settings_fields", ()):
        value = form.cleaned_data.get(f"setting_{spec.name}")
        values[spec.name] = value if value not in ("", None) else None
    return values


def settings_initial(connection, connector) -> dict:
    initial = {"base_url": (connection.settings or {}).get("base_url", "")}
    for spec in getattr(connector, "settings_fields", ()):
        initial[f"setting_{spec.name}"] = (connection.settings or {}).get(spec.name, "")
    return initial


def credentials_from(form: forms.Form, connector) -> dict:
    return {spec.name: form.cleaned_data.get(spec.name, "") for spec in connector.credential_fields}


class FieldMappingForm(forms.Form):
    mapping = forms.CharField(
        label=_("Field mapping (JSON)"),
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
        required=False,
        help_text=_(
            "Event field → path in the tool's record, e.g. "
            '{"first_name": "properties.firstname"}. It overrides the defaults shown '
            "beside; an empty path switches a default off."
        ),
    )

    def clean_mapping(self):
        raw = (self.cleaned_data.get("mapping") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise forms.ValidationError(_("This is not valid JSON.")) from error
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The mapping is a JSON object."))
        return value


class WebhookSubscriptionForm(forms.Form):
    url = forms.URLField(
        label=_("Endpoint URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/smarketing"}),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(code, format_lazy("{} — {}", code, text)) for code, text in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
