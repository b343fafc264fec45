"""The scoring part of the public API (SPEC.md §5): a lead's score explanation, and
the scoring models (read-only). Thin: resolve access → one selector → respond; the
organization comes from the key or session (tenancy.api), ids of other organizations
are 404.

Routes (smarketing/api_urls.py):
``leads/<int:lead_id>/score``, ``scoring/models``, ``scoring/models/<int:model_id>``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api import PersonSerializer
from leads.selectors import get_lead_for_org
from smarketing.tenancy.api import CursorPagination
from smarketing.tenancy.permissions import require_perm

from . import selectors
from .models import ScoringModel

# --- Serializers ------------------------------------------------------------------------


class ModelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()


class ContributionSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="fit or behaviour")
    label = serializers.CharField()
    points = serializers.FloatField(help_text="decayed behaviour points are fractional")
    events = serializers.IntegerField(help_text="matching events (in the window, if any)")
    last_occurrence = serializers.DateTimeField(allow_null=True)
    hot = serializers.BooleanField(help_text="this rule makes the lead hot")
    rule_id = serializers.SerializerMethodField()

    def get_rule_id(self, contribution) -> int | None:
        return contribution.fit_rule_id or contribution.behaviour_rule_id


class ScoreSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="lead.pk")
    score = serializers.IntegerField(source="lead.score")
    fit = serializers.IntegerField(source="lead.fit")
    behaviour = serializers.FloatField()
    grade = serializers.CharField(source="lead.grade")
    hot = serializers.BooleanField(source="lead.hot")
    hot_since = serializers.DateTimeField(allow_null=True)
    stage = serializers.CharField(source="lead.stage")
    model = ModelRefSerializer(allow_null=True)
    contributions = ContributionSerializer(many=True)


class FitRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    attribute = serializers.CharField()
    operator = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    points = serializers.IntegerField()
    position = serializers.IntegerField()


class BehaviourRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    event_type = serializers.CharField()
    match_field = serializers.CharField()
    match_operator = serializers.CharField()
    match_value = serializers.CharField()
    mode = serializers.CharField()
    points = serializers.IntegerField()
    cap = serializers.IntegerField(allow_null=True)
    min_count = serializers.IntegerField(allow_null=True)
    window_days = serializers.IntegerField(allow_null=True)
    marks_hot = serializers.BooleanField()
    position = serializers.IntegerField()


class ScoringModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    mql_threshold = serializers.IntegerField()
    min_fit_grade = serializers.CharField()
    grade_bands = serializers.DictField(child=serializers.IntegerField())
    decay_half_life_days = serializers.IntegerField(allow_null=True)
    based_on = serializers.IntegerField(
        source="based_on_id",
        read_only=True,
        allow_null=True,
        help_text="The version this one was drafted from.",
    )
    created_at = serializers.DateTimeField()
    created_by = PersonSerializer(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    activated_by = PersonSerializer(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)


class ScoringModelDetailSerializer(ScoringModelSerializer):
    fit_rules = FitRuleSerializer(many=True)
    behaviour_rules = BehaviourRuleSerializer(many=True)


# --- Views ------------------------------------------------------------------------------


class LeadScoreView(APIView):
    @extend_schema(
        operation_id="leads_score",
        responses=ScoreSerializer,
        description=(
            "The lead's score and its explanation: every rule that added or removed "
            "points, with its matching events and last occurrence, and the model version "
            "that scored it."
        ),
    )
    def get(self, request, lead_id: int):
        require_perm(request.actor, "leads.view")
        lead = get_lead_for_org(request.organization, lead_id)
        return Response(ScoreSerializer(selectors.lead_explanation(lead)).data)


class ModelPagination(CursorPagination):
    ordering = "-version"
    page_size = 50


class ScoringModelListView(APIView):
    pagination_class = ModelPagination

    @extend_schema(
        operation_id="scoring_models_list",
        parameters=[
            OpenApiParameter("status", str, enum=ScoringModel.Status.values),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=ScoringModelSerializer(many=True),
        description="The organization's scoring model versions, newest first.",
    )
    def get(self, request):
        require_perm(request.actor, "leads.view")
        status = request.query_params.get("status", "")
        if status and status not in ScoringModel.Status.values:
            raise exceptions.ValidationError(
                {"status": [_("One of: %s") % ", ".join(ScoringModel.Status.values)]}
            )
        models = selectors.model_list(request.organization, status=status)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(models, request, view=self)
        return paginator.get_paginated_response(ScoringModelSerializer(page, many=True).data)


class ScoringModelDetailView(APIView):
    @extend_schema(operation_id="scoring_models_retrieve", responses=ScoringModelDetailSerializer)
    def get(self, request, model_id: int):
        require_perm(request.actor, "leads.view")
        model = selectors.model_with_rules(request.organization, model_id)
        return Response(ScoringModelDetailSerializer(model).data)
