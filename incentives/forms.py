"""The plan form: tiers typed one per line ("threshold: rate"), parsed into the JSON
the model stores; the service validates the meaning again."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.permissions import Role

from .engine import PLAIN_NUMBER
from .models import Basis, BonusPlan, Measure, PeriodKind


def _parse_lines(text: str, key: str) -> list[dict]:
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise forms.ValidationError(
                _("Line %(n)s: write “threshold: value”."), params={"n": number}
            )
        start, value = (
            part.strip()
            .replace(" ", "")
            .replace("\xa0", "")
            .replace("\u202f", "")
            .replace(",", ".")
            for part in line.split(":", 1)
        )
        # Plain numbers only: no exponent (1E+100000), NaN or Infinity, no sign.
        if not (PLAIN_NUMBER.fullmatch(start) and PLAIN_NUMBER.fullmatch(value)):
            raise forms.ValidationError(
                _("Line %(n)s: both sides must be numbers."), params={"n": number}
            )
        rows.append({"from": start, key: value})
    return rows


def _format_lines(rows: list[dict], key: str) -> str:
    return "\n".join(f"{row['from']}: {row[key]}" for row in rows or [])


class PlanForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    period_kind = forms.ChoiceField(label=_("Period"), choices=PeriodKind.choices)
    basis = forms.ChoiceField(label=_("Based on"), choices=Basis.choices)
    measure = forms.ChoiceField(label=_("Measured on"), choices=Measure.choices)
    team_role = forms.ChoiceField(
        label=_("Team (everyone with this role)"),
        choices=[("", _("— explicit participants only —")), *Role.choices],
        required=False,
    )
    members = forms.MultipleChoiceField(
        label=_("Participants"), required=False, widget=forms.CheckboxSelectMultiple
    )
    rate = forms.DecimalField(
        label=_("Flat rate"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=4,
        help_text=_("A share of revenue (0.02 = 2 %) or an amount per SQL. Leave empty for tiers."),
    )
    tiers = forms.CharField(
        label=_("Tiers (marginal)"),
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "0: 0.01\n50000: 0.02\n100000: 0.03"}
        ),
        help_text=_(
            "One tier per line, “threshold: rate”. Each rate applies to the part above its "
            "threshold: a higher rate further up is an accelerator."
        ),
    )
    sla_tiers = forms.CharField(
        label=_("SLA compliance multiplier"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "0: 0.8\n90: 1.0\n97: 1.1"}),
        help_text=_("Optional. One line per tier, “compliance from (%): multiplier”."),
    )
    cap = forms.DecimalField(
        label=_("Cap per period"), required=False, min_value=0, max_digits=14, decimal_places=2
    )

    def _plain(self, name: str):
        """The number as typed: no exponent (``1E+5``), the service bounds its value."""
        value = self.cleaned_data.get(name)
        raw = str(self.data.get(self.add_prefix(name)) or "")
        if value is not None and ("e" in raw.lower() or not value.is_finite()):
            raise forms.ValidationError(_("Write a plain number."))
        return value

    def clean_rate(self):
        return self._plain("rate")

    def clean_cap(self):
        return self._plain("cap")

    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, member_choices=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = list(member_choices)

    @classmethod
    def initial_for(cls, plan: BonusPlan) -> dict:
        return {
            "name": plan.name,
            "period_kind": plan.period_kind,
            "basis": plan.basis,
            "measure": plan.measure,
            "team_role": plan.team_role,
            "members": [str(uid) for uid in plan.members.values_list("user_id", flat=True)],
            "rate": plan.rate,
            "tiers": _format_lines(plan.tiers, "rate"),
            "sla_tiers": _format_lines(plan.sla_tiers, "multiplier"),
            "cap": plan.cap,
            "active": plan.active,
        }

    def clean_tiers(self) -> list[dict]:
        return _parse_lines(self.cleaned_data.get("tiers") or "", "rate")

    def clean_sla_tiers(self) -> list[dict]:
        return _parse_lines(self.cleaned_data.get("sla_tiers") or "", "multiplier")

    def plan_data(self) -> tuple[dict, list[int]]:
        data = dict(self.cleaned_data)
        members = [int(uid) for uid in data.pop("members", [])]
        return data, members


def put_errors(form: forms.Form, fields: dict[str, list[str]]) -> None:
    for name, messages in fields.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
