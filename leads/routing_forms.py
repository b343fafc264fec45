"""Forms of the routing settings page. They check shape; ``leads.routing`` decides."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import RoutingSettings
from .routing import GRADES, parse_countries
from .services import LeadError


class RoutingSettingsForm(forms.Form):
    strategy = forms.ChoiceField(
        label=_("How new MQLs get an owner"),
        choices=RoutingSettings.Strategy.choices,
        widget=forms.RadioSelect,
    )
    by_territory = forms.BooleanField(
        label=_("Route by territory"),
        required=False,
        help_text=_(
            "A lead goes to a rep who covers its country; when nobody covers it, to anyone."
        ),
    )
    by_segment = forms.BooleanField(
        label=_("Route by segment"),
        required=False,
        help_text=_(
            "A lead goes to a rep who handles its grade (A–D); when nobody does, to anyone."
        ),
    )


class RepRoutingForm(forms.Form):
    """One sales rep's row. Field names are not prefixed (one form per request); the ids
    are, so that every row of the page keeps unique ids."""

    active = forms.BooleanField(label=_("Receives leads"), required=False)
    away_until = forms.DateField(
        label=_("Away until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Included: no lead through that day."),
    )
    countries = forms.CharField(
        label=_("Territory"),
        required=False,
        max_length=400,
        widget=forms.TextInput(attrs={"placeholder": "FR, BE, CH", "autocomplete": "off"}),
        help_text=_("ISO country codes, comma-separated."),
    )
    grades = forms.MultipleChoiceField(
        label=_("Segment"),
        required=False,
        choices=[(g, g) for g in GRADES],
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, membership_id: int, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"id_rep{membership_id}_%s")
        super().__init__(*args, **kwargs)
        self.membership_id = membership_id
        self.form_id = f"rep-form-{membership_id}"

    def clean_countries(self) -> list[str]:
        try:
            return parse_countries(self.cleaned_data["countries"])
        except LeadError as error:
            raise forms.ValidationError(error.fields.get("countries") or error.message) from None
