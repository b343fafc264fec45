"""``GET /api/v1/incentives/statements``: statements with their computation lines.

A participant gets their own; ``incentives.view_all`` gets everyone's. API keys carry
no person, so they get 403 (pay is not an integration's business). Not paginated: one
period's statements are bounded by the plan's participants.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from smarketing.tenancy.permissions import has_perm, require_perm

from . import selectors, services


class LineSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    detail = serializers.CharField()
    amount = serializers.CharField()


class StatementSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    plan_name = serializers.CharField()
    user = serializers.IntegerField()
    user_email = serializers.EmailField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    basis = serializers.CharField()
    achievement = serializers.DecimalField(max_digits=16, decimal_places=2)
    multiplier = serializers.DecimalField(max_digits=6, decimal_places=3)
    payout = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.CharField(
        help_text="`final` (the period was closed) or `provisional` (computed live)."
    )
    forecast_payout = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text="Running period only."
    )
    lines = LineSerializer(many=True)


class StatementListSerializer(serializers.Serializer):
    results = StatementSerializer(many=True)


def _as_dict(view) -> dict:
    described = selectors.describe_lines(
        view.plan, view.lines, view.currency, basis=view.basis, measure=view.measure
    )
    return {
        "plan": view.plan.pk,
        "plan_name": view.plan.name,
        "user": view.user.pk,
        "user_email": view.user.email,
        "period_start": view.period.first_day,
        "period_end": view.period.last_day,
        "basis": view.basis,
        "achievement": view.achievement,
        "multiplier": view.multiplier,
        "payout": view.payout,
        "currency": view.currency,
        "status": "final" if view.final else "provisional",
        "forecast_payout": view.forecast.payout if view.forecast else None,
        "lines": [
            {"code": raw.get("code", ""), **{k: str(v) for k, v in line.items() if k != "total"}}
            for raw, line in zip(view.lines, described, strict=True)
        ],
    }


class StatementListView(APIView):
    @extend_schema(
        operation_id="incentives_statements",
        parameters=[
            OpenApiParameter("plan", int, description="A plan id; default: every active plan."),
            OpenApiParameter(
                "period",
                str,
                description="Any day of the period (YYYY-MM-DD); default: the running period.",
            ),
        ],
        responses={200: StatementListSerializer},
        description="Statements line by line: the caller's own, or everyone's for managers "
        "(incentives.view_all). Open periods are computed live (status provisional).",
    )
    def get(self, request):
        require_perm(request.actor, "organization.view")
        membership = request.membership
        if membership is None:
            raise exceptions.PermissionDenied()
        org = request.organization
        if request.query_params.get("plan"):
            plans = [selectors.get_plan_for_org(org, request.query_params["plan"])]
        else:
            plans = list(selectors.plans(org, active_only=True))
        view_all = has_perm(membership, "incentives.view_all")
        if not view_all:
            plans = [plan for plan in plans if selectors.is_participant(plan, membership.user)]
        now = timezone.now()
        results = []
        for plan in plans:
            period = services.plan_period_or_error(plan, org, request.query_params.get("period"))
            views = selectors.visible_statements(org, membership, plan, period, now=now)
            results.extend(_as_dict(view) for view in views)
        return Response(StatementListSerializer({"results": results}).data)
