"""``/api/v1/kpis``: every KPI of SPEC.md §4 for a period, and the funnel and attribution
behind them. Thin: parse the period and segment → one KPI-layer call → respond.

Dates are whole days in the organization's time zone; ``to`` is exclusive, as in
SPEC.md §4 (``?from=2026-03-01&to=2026-04-01`` is March). Without them: the last 30
days, today included.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.models import Campaign, Lead
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import require_perm

from . import kpis

MAX_DAYS = 1100  # about three years: a bounded amount of work per request
DEFAULT_DAYS = 30


def parse_period(organization: Organization, params) -> kpis.Period:
    """``from`` (inclusive) and ``to`` (exclusive) dates, or the last 30 days."""
    errors: dict[str, list[str]] = {}
    values: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        values[name] = None
        if raw:
            try:
                values[name] = date.fromisoformat(raw) if len(raw) == 10 else None
            except ValueError:
                values[name] = None
            if values[name] is None:
                errors[name] = [_("A date as YYYY-MM-DD.")]
    if errors:
        raise exceptions.ValidationError(errors)
    today = kpis.local_today(organization)
    out_of_range = [
        _("A date between %(first)s and %(last)s.")
        % {
            "first": kpis.MIN_DAY.isoformat(),
            "last": (kpis.MAX_DAY + timedelta(days=1)).isoformat(),
        }
    ]
    for name in ("from", "to"):
        given = values[name]
        if given is not None and not (kpis.MIN_DAY <= given <= kpis.MAX_DAY + timedelta(days=1)):
            errors[name] = out_of_range
    if errors:  # before any arithmetic on them
        raise exceptions.ValidationError(errors)
    date_to = values["to"] or (
        values["from"] + timedelta(days=DEFAULT_DAYS) if values["from"] else today + timedelta(1)
    )
    date_from = values["from"] or date_to - timedelta(days=DEFAULT_DAYS)
    if date_from < kpis.MIN_DAY or date_to > kpis.MAX_DAY + timedelta(days=1):
        raise exceptions.ValidationError(
            {"from" if date_from < kpis.MIN_DAY else "to": out_of_range}
        )
    if date_to <= date_from:
        raise exceptions.ValidationError({"to": [_("Must be after from (to is exclusive).")]})
    if (date_to - date_from).days > MAX_DAYS:
        raise exceptions.ValidationError({"to": [_("At most %(days)s days.") % {"days": MAX_DAYS}]})
    try:
        return kpis.period_from_dates(organization, date_from, date_to - timedelta(days=1))
    except (ValueError, OverflowError):
        raise exceptions.ValidationError({"from": [_("Out of range.")]}) from None


def _id(raw: str, name: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise exceptions.ValidationError({name: [_("An id.")]})
    return int(raw)


def parse_segment(organization: Organization, params) -> kpis.Segment:
    errors: dict[str, list[str]] = {}
    source = (params.get("source") or "").strip()
    if source and source not in Lead.Source.values:
        errors["source"] = [_("One of: %(values)s.") % {"values": ", ".join(Lead.Source.values)}]
    grade = (params.get("grade") or "").strip().upper()
    if grade and grade not in ("A", "B", "C", "D"):
        errors["grade"] = [_("A, B, C or D.")]
    campaign_id = owner_id = None
    if params.get("campaign"):
        campaign_id = _id(params["campaign"].strip(), "campaign")
        if not Campaign.objects.for_org(organization).filter(pk=campaign_id).exists():
            errors["campaign"] = [_("No such campaign.")]
    if params.get("owner"):
        owner_id = _id(params["owner"].strip(), "owner")
        members = Membership.objects.for_org(organization).filter(user_id=owner_id)
        if not members.exists() or not get_user_model().objects.filter(pk=owner_id).exists():
            errors["owner"] = [_("Not a member of this organization.")]
    if errors:
        raise exceptions.ValidationError(errors)
    return kpis.Segment(source=source, campaign_id=campaign_id, owner_id=owner_id, grade=grade)


PERIOD_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (inclusive)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="day after the last one (exclusive)"),
]
SEGMENT_PARAMS = [
    OpenApiParameter("source", str, enum=Lead.Source.values, description="the lead's source"),
    OpenApiParameter("campaign", int, description="the lead's first campaign (id)"),
    OpenApiParameter("owner", int, description="the lead's owner (user id)"),
    OpenApiParameter("grade", str, enum=["A", "B", "C", "D"]),
]

PeriodSerializer = inline_serializer(
    "KpiPeriod",
    {
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "last_day": serializers.DateField(),
        "days": serializers.IntegerField(),
        "kind": serializers.ChoiceField(["week", "month", "custom"]),
    },
)


class KpiSetSerializer(serializers.Serializer):
    """The shape of ``kpis.KpiSet.as_dict()`` (amounts as decimal strings)."""

    new_leads = serializers.IntegerField()
    mqls = serializers.IntegerField()
    sals = serializers.IntegerField()
    sqls = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)
    rejection_reasons = serializers.ListField(
        child=serializers.ListField(), help_text="[code, label, count]"
    )
    mql_cohort = inline_serializer(
        "MqlCohort",
        {
            "size": serializers.IntegerField(),
            "reached_sql": serializers.IntegerField(),
            "rate": serializers.FloatField(allow_null=True),
            "age_days": serializers.IntegerField(),
        },
    )
    speed_to_lead_minutes = serializers.FloatField(allow_null=True)
    sla = serializers.DictField(allow_null=True)
    commitments = serializers.ListField(child=serializers.DictField())
    pipeline_created = serializers.DecimalField(max_digits=16, decimal_places=2)
    deals_created = serializers.IntegerField()
    revenue_won = serializers.DecimalField(max_digits=16, decimal_places=2)
    deals_won = serializers.IntegerField()
    marketing_sourced_revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    marketing_sourced_share = serializers.FloatField(allow_null=True)
    new_customers = serializers.IntegerField()
    spend = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    cac = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    currency = serializers.CharField()


class KpiReportSerializer(serializers.Serializer):
    period = PeriodSerializer
    previous_period = PeriodSerializer
    segment = serializers.DictField()
    current = KpiSetSerializer()
    previous = KpiSetSerializer()
    targets = serializers.DictField(child=serializers.CharField())
    deltas = serializers.DictField(child=serializers.DictField(allow_null=True))


class FunnelStageSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    entered = serializers.IntegerField()
    moved_on = serializers.IntegerField()
    dropped = serializers.IntegerField()
    conversion = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)
    group = serializers.CharField()
    group_label = serializers.CharField()
    next_stage = serializers.CharField()


class AttributionRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    id = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()
    revenue = serializers.DecimalField(max_digits=16, decimal_places=2)
    deals = serializers.IntegerField()
    touches = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    spend = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    roi = serializers.FloatField(allow_null=True)
    cac = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    level = serializers.CharField()
    kind = serializers.CharField()


class KpisView(APIView):
    @extend_schema(
        operation_id="kpis_report",
        parameters=PERIOD_PARAMS + SEGMENT_PARAMS,
        responses=KpiReportSerializer,
    )
    def get(self, request):
        require_perm(request.actor, "dashboards.view")
        org = request.organization
        period = parse_period(org, request.query_params)
        segment = parse_segment(org, request.query_params)
        return Response(kpis.report(org, period, segment))


class FunnelView(APIView):
    @extend_schema(
        operation_id="kpis_funnel",
        parameters=[
            *PERIOD_PARAMS,
            *SEGMENT_PARAMS,
            OpenApiParameter("by", str, enum=["source", "campaign"]),
        ],
        responses=inline_serializer(
            "Funnel",
            {
                "period": PeriodSerializer,
                "stages": FunnelStageSerializer(many=True),
                "biggest_leak": serializers.CharField(allow_null=True),
            },
        ),
    )
    def get(self, request):
        require_perm(request.actor, "dashboards.view")
        org = request.organization
        period = parse_period(org, request.query_params)
        segment = parse_segment(org, request.query_params)
        by = request.query_params.get("by", "")
        if by not in kpis.FUNNEL_BY:
            raise exceptions.ValidationError({"by": [_("source or campaign")]})
        stages = kpis.funnel(org, period, segment, by=by)
        leak = kpis.biggest_leak(stages) if not by else None
        return Response(
            {
                "period": period.as_dict(),
                "stages": [stage.as_dict() for stage in stages],
                "biggest_leak": leak.stage if leak else None,
            }
        )


class AttributionView(APIView):
    @extend_schema(
        operation_id="kpis_attribution",
        parameters=[
            *PERIOD_PARAMS,
            *SEGMENT_PARAMS,
            OpenApiParameter("model", str, enum=list(kpis.ATTRIBUTION_MODELS)),
            OpenApiParameter("by", str, enum=list(kpis.ATTRIBUTION_BY)),
        ],
        responses=inline_serializer(
            "Attribution",
            {
                "period": PeriodSerializer,
                "model": serializers.CharField(),
                "by": serializers.CharField(),
                "rows": AttributionRowSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        require_perm(request.actor, "dashboards.view")
        org = request.organization
        period = parse_period(org, request.query_params)
        segment = parse_segment(org, request.query_params)
        model = request.query_params.get("model", "linear")
        by = request.query_params.get("by", "content")
        errors = {}
        if model not in kpis.ATTRIBUTION_MODELS:
            errors["model"] = [", ".join(kpis.ATTRIBUTION_MODELS)]
        if by not in kpis.ATTRIBUTION_BY:
            errors["by"] = [", ".join(kpis.ATTRIBUTION_BY)]
        if errors:
            raise exceptions.ValidationError(errors)
        rows = kpis.attribution(org, period, model=model, by=by, segment=segment)
        return Response(
            {
                "period": period.as_dict(),
                "model": model,
                "by": by,
                "rows": [row.as_dict() for row in rows],
            }
        )
