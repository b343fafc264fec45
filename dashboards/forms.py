"""Forms of the dashboard pages: the period and segment filters (kept in the URL query,
so a filtered dashboard is a link one can share) and the KPI targets.

The filter form only reads the query; the period itself comes from ``dashboards.kpis``
(org time-zone midnights, half-open), so the dashboard, the TV and the API cut periods
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import Campaign, Lead
from smarketing.tenancy.models import Membership, Organization

from . import kpis

THIS_WEEK, LAST_WEEK = "this_week", "last_week"
THIS_MONTH, LAST_MONTH = "this_month", "last_month"
LAST_30_DAYS, CUSTOM = "last_30_days", "custom"
PRESETS = [
    (THIS_WEEK, _("This week")),
    (LAST_WEEK, _("Last week")),
    (THIS_MONTH, _("This month")),
    (LAST_MONTH, _("Last month")),
    (LAST_30_DAYS, _("Last 30 days")),
    (CUSTOM, _("Custom")),
]
GRADES = [("", _("All grades")), ("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")]
MAX_CUSTOM_DAYS = 366 * 2


def preset_period(organization: Organization, preset: str, today: date) -> kpis.Period:
    """The period a preset names, on ``today`` in the organization's calendar."""
    if preset == LAST_WEEK:
        return kpis.week_of(organization, today - timedelta(days=7))
    if preset == THIS_MONTH:
        return kpis.month_of(organization, today)
    if preset == LAST_MONTH:
        return kpis.month_of(organization, today.replace(day=1) - timedelta(days=1))
    if preset == LAST_30_DAYS:
        return kpis.period_from_dates(organization, today - timedelta(days=29), today)
    return kpis.week_of(organization, today)


@dataclass(frozen=True)
class Filters:
    """What the dashboard shows: a period, a segment, and how the URL says so."""

    preset: str
    period: Any  # kpis.Period
    segment: Any  # kpis.Segment
    date_from: date
    date_to: date  # inclusive, as people read a period
    params: dict[str, str]

    @property
    def query(self) -> str:
        return urlencode(self.params)

    def with_params(self, **changes: str) -> str:
        params = {**self.params, **changes}
        return urlencode({k: v for k, v in params.items() if v})

    @property
    def segmented(self) -> bool:
        return any(self.params.get(k) for k in ("source", "campaign", "owner", "grade"))


class FilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=PRESETS, required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    source = forms.ChoiceField(label=_("Source"), required=False)
    campaign = forms.ChoiceField(label=_("Campaign"), required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    grade = forms.ChoiceField(label=_("Grade"), required=False, choices=GRADES)

    def __init__(self, data, *, organization: Organization, segments: bool = True) -> None:
        super().__init__(data)
        self.organization = organization
        if not segments:
            for name in ("source", "campaign", "owner", "grade"):
                del self.fields[name]
            return
        self.fields["source"].choices = [("", _("All sources")), *Lead.Source.choices]
        # Only this organization's campaigns and members can be chosen: an id from
        # another organization is not a valid choice (and so not a filter).
        self.fields["campaign"].choices = [("", _("All campaigns"))] + [
            (str(pk), name)
            for pk, name in Campaign.objects.for_org(organization)
            .order_by("name")
            .values_list("pk", "name")
        ]
        members = Membership.objects.for_org(organization).select_related("user")
        people = sorted(
            (
                (str(m.user_id), m.user.get_full_name() or m.user.email)
                for m in members
                if m.user.is_active
            ),
            key=lambda choice: choice[1].lower(),
        )
        self.fields["owner"].choices = [("", _("All owners")), *people]

    def _clean_day(self, name: str) -> date | None:
        value = self.cleaned_data.get(name)
        if value is not None and not (kpis.MIN_DAY <= value <= kpis.MAX_DAY):
            raise forms.ValidationError(
                _("A date between %(first)s and %(last)s.")
                % {"first": kpis.MIN_DAY.isoformat(), "last": kpis.MAX_DAY.isoformat()}
            )
        return value

    def clean_date_from(self) -> date | None:
        return self._clean_day("date_from")

    def clean_date_to(self) -> date | None:
        return self._clean_day("date_to")

    def filters(self, today: date) -> Filters:
        """The period and segment asked for; anything invalid falls back to the default
        (this week, everyone) rather than an error page on a screen left open."""
        self.is_valid()
        data = self.cleaned_data  # only the fields that were valid
        preset = data.get("period") or THIS_WEEK
        org = self.organization
        params: dict[str, str] = {}
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if preset == CUSTOM and date_from and date_to:
            if date_to < date_from:
                date_from, date_to = date_to, date_from
            date_to = min(date_to, date_from + timedelta(days=MAX_CUSTOM_DAYS))
            period = kpis.period_from_dates(org, date_from, date_to)
            params.update(
                period=CUSTOM, date_from=date_from.isoformat(), date_to=date_to.isoformat()
            )
        else:
            if preset == CUSTOM:
                preset = THIS_WEEK
            period = preset_period(org, preset, today)
            if preset != THIS_WEEK:
                params["period"] = preset
        segment_values = {}
        for name in ("source", "campaign", "owner", "grade"):
            value = data.get(name) or ""
            if value:
                params[name] = str(value)
            segment_values[name] = value
        segment = kpis.Segment(
            source=segment_values.get("source") or "",
            campaign_id=int(segment_values["campaign"]) if segment_values.get("campaign") else None,
            owner_id=int(segment_values["owner"]) if segment_values.get("owner") else None,
            grade=segment_values.get("grade") or "",
        )
        return Filters(
            preset=preset,
            period=period,
            segment=segment,
            date_from=period.first_day,
            date_to=period.last_day,
            params=params,
        )


class TargetForm(forms.Form):
    """One KPI target: which KPI, per week or per month, and the value to reach."""

    kpi = forms.ChoiceField(label=_("KPI"))
    period_kind = forms.ChoiceField(
        label=_("Period"), choices=[("week", _("per week")), ("month", _("per month"))]
    )
    value = forms.DecimalField(
        label=_("Target"),
        min_value=0,
        max_digits=14,
        decimal_places=4,
        help_text=_("Rates in percent (75 for 75 %); amounts in the organization's currency."),
    )

    def __init__(
        self, *args, kpi_choices: list[tuple[str, str]], value_required: bool = True, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kpi"].choices = kpi_choices
        self.fields["value"].required = value_required
