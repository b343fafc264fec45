"""Forms of the organization pages. They check shape; the services decide."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from .models import ApiKey, Organization
from .permissions import Role


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(
        name
        for name in zoneinfo.available_timezones()
        # Keep the region/city names people look for; drop legacy aliases.
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    if "UTC" in zoneinfo.available_timezones():
        names.append("UTC")
    return [(name, name.replace("_", " ")) for name in names]


def role_choices(roles: list[Role]) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in roles]


class CurrencyField(forms.CharField):
    def to_python(self, value):
        # "eur" is as good as "EUR": upper-case before the validators run.
        return super().to_python(value).upper()


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("Business hours, SLA clocks and reports follow this time zone."),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=Organization.Language.choices,
        help_text=_("The default language of members who did not choose one."),
    )
    currency = CurrencyField(
        label=_("Currency"),
        max_length=3,
        min_length=3,
        help_text=_("ISO 4217 code, for example EUR, USD or GBP."),
        validators=[RegexValidator(r"^[A-Z]{3}$", _("Enter a three-letter ISO code such as EUR."))],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = time_zone_choices()
        initial_tz = self.initial.get("time_zone")
        if initial_tz and initial_tz not in dict(choices):
            choices = [(initial_tz, initial_tz), *choices]
        self.fields["time_zone"].choices = choices

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("This field is required."))
        return name


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"placeholder": _("name@company.com")}),
    )
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, roles: list[Role], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)
        if Role.SALES_REP in roles:
            self.fields["role"].initial = Role.SALES_REP.value


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, roles: list[Role], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        help_text=_("What uses this key, for example “Website forms” or “CRM sync”."),
    )
    scope = forms.ChoiceField(
        label=_("Access"),
        choices=ApiKey.Scope.choices,
        initial=ApiKey.Scope.READ,
        widget=forms.RadioSelect,
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("This field is required."))
        return name


class KioskTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Screen name"),
        max_length=80,
        help_text=_("Where the screen hangs, for example “Open space, 2nd floor”."),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("This field is required."))
        return name
