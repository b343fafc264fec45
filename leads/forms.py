"""Forms of the leads pages. They check the shape of the input; the services decide
what is allowed (their ``LeadError`` fields are put back on the form)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Activity, Content, Lead, RejectReason, Stage
from .reports import DEFAULT_PERIOD_DAYS, UNCLASSIFIED

QUEUE_STAGES = "queue"  # MQL and SAL: what sales works on
ANY_STAGE = "any"


class QueueFilterForm(forms.Form):
    TABS = [("mine", _("My leads")), ("all", _("All leads")), ("unassigned", _("Unassigned"))]

    tab = forms.ChoiceField(choices=TABS, required=False)
    stage = forms.ChoiceField(
        label=_("Stage"),
        choices=[("", _("MQL and SAL")), (ANY_STAGE, _("Any stage")), *Stage.choices],
        required=False,
    )
    source = forms.ChoiceField(
        label=_("Source"), choices=[("", _("Any source")), *Lead.Source.choices], required=False
    )
    hot = forms.ChoiceField(
        label=_("Hot"),
        choices=[("", _("Hot or not")), ("yes", _("Hot only")), ("no", _("Not hot"))],
        required=False,
    )
    q = forms.CharField(
        label=_("Search"),
        max_length=100,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, e-mail or company")}
        ),
    )


class AcceptForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", _("Choose a reason…")), *RejectReason.choices],
        error_messages={"required": _("Choose a rejection reason.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Activity.Kind.choices)
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Notes"), max_length=10000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    at = forms.DateTimeField(
        label=_("When"),
        required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


class QualifyForm(forms.Form):
    """BANT: budget and need are required to move a lead to SQL (SPEC.md §1)."""

    budget = forms.CharField(label=_("Budget"), max_length=500)
    need = forms.CharField(label=_("Need"), max_length=500)
    authority = forms.CharField(label=_("Authority"), max_length=500, required=False)
    timing = forms.CharField(label=_("Timing"), max_length=500, required=False)


class MoveForm(forms.Form):
    to_stage = forms.ChoiceField(label=_("New stage"), choices=Stage.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args, current: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].choices = [c for c in Stage.choices if c[0] != current]


class PeriodForm(forms.Form):
    """``?from=&to=``: dates in the organization's time zone, by default the last 30
    days (the field names are ``first``/``last`` because ``from`` is a Python keyword;
    the view maps them)."""

    first = forms.DateField(label=_("From"), required=False)
    last = forms.DateField(label=_("To"), required=False)

    MAX_DAYS = 3 * 366

    def __init__(self, *args, today: date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        last = data.get("last") or self.today
        bounds = (date(2000, 1, 1), date(2100, 12, 31))
        for name in ("first", "last"):
            value = data.get(name)
            if value and not bounds[0] <= value <= bounds[1]:
                self.add_error(name, _("Choose a date between 2000 and 2100."))
                data["first"], data["last"] = self.today, self.today
                return data
        first = data.get("first") or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if first > last:
            self.add_error("last", _("The end date is before the start date."))
        elif (last - first).days > self.MAX_DAYS:
            self.add_error("first", _("At most three years at once."))
        data["first"], data["last"] = first, last
        return data


class ContentFilterForm(forms.Form):
    level = forms.ChoiceField(
        label=_("Level"),
        choices=[("", _("Any level")), *Content.Level.choices, (UNCLASSIFIED, _("Unclassified"))],
        required=False,
    )
    persona = forms.CharField(label=_("Persona"), max_length=100, required=False)
    funnel_stage = forms.ChoiceField(
        label=_("Funnel stage"),
        choices=[("", _("Any funnel stage")), *Content.FunnelStage.choices],
        required=False,
    )
    q = forms.CharField(
        label=_("Search"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Title or key")}),
    )


class ContentForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Content
        fields = ["title", "type", "level", "persona", "funnel_stage", "url"]
        help_texts = {
            "level": _("Sales adapt their pitch to it: beginner, intermediate or expert."),
            "persona": _("Who it is written for, e.g. “Marketing director”."),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Ingestion creates unknown content unclassified; editing it means classifying it.
        self.fields["level"].choices = [("", _("Choose a level…")), *Content.Level.choices]
        self.fields["level"].required = True
        self.fields["funnel_stage"].choices = [("", _("Not set")), *Content.FunnelStage.choices]
