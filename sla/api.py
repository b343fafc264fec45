"""The sla part of the public API (SPEC.md §5): clocks, the contract and its versions,
the commitments in force. Read-only (``sla.view``: read keys allowed). Thin: check the
permission → one selector → respond; the organization comes from the key or session."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from smarketing.tenancy.api import KeysetPagination
from smarketing.tenancy.permissions import require_perm

from . import selectors
from .models import Clock, ContractVersion, MarketingCommitment, SalesCommitment


class SlaSignerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()


class SlaMarketingCommitmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = MarketingCommitment
        fields = ["id", "metric", "target", "period", "grade", "source"]
        read_only_fields = fields


class SlaSalesCommitmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = SalesCommitment
        fields = [
            "id",
            "label",
            "trigger",
            "event_type",
            "response_minutes",
            "business_time",
            "warn_percent",
            "escalation_minutes",
        ]
        read_only_fields = fields


class SlaVersionSerializer(serializers.ModelSerializer):
    # Plain strings: several apps have a "status" choice set (enum name collisions).
    status = serializers.CharField(read_only=True, help_text="draft | active | superseded")
    marketing_signed_by = SlaSignerSerializer(allow_null=True, read_only=True)
    sales_signed_by = SlaSignerSerializer(allow_null=True, read_only=True)

    class Meta:
        model = ContractVersion
        fields = [
            "id",
            "number",
            "status",
            "title",
            "created_at",
            "marketing_signed_by",
            "marketing_signed_at",
            "sales_signed_by",
            "sales_signed_at",
            "activated_at",
            "superseded_at",
            "terms_hash",
        ]
        read_only_fields = fields


class SlaActiveVersionSerializer(SlaVersionSerializer):
    marketing_commitments = SlaMarketingCommitmentSerializer(many=True, read_only=True)
    sales_commitments = SlaSalesCommitmentSerializer(many=True, read_only=True)

    class Meta(SlaVersionSerializer.Meta):
        fields = [
            *SlaVersionSerializer.Meta.fields,
            "preamble",
            "signed_text",
            "marketing_commitments",
            "sales_commitments",
        ]
        read_only_fields = fields


class SlaClockSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="running | warned | met | breached")
    lead = serializers.PrimaryKeyRelatedField(read_only=True)
    commitment = serializers.PrimaryKeyRelatedField(read_only=True)
    owner = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Clock
        fields = [
            "id",
            "lead",
            "commitment",
            "owner",
            "status",
            "started_at",
            "started_by",
            "warn_at",
            "due_at",
            "warned_at",
            "breached_at",
            "escalate_at",
            "escalated_at",
            "touched_at",
            "touch_kind",
        ]
        read_only_fields = fields


class ClockListView(APIView):
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="sla_clocks_list",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                description="running, warned, met or breached; several comma-separated",
            ),
            OpenApiParameter("owner", str, description="a member's user id, `me` or `none`"),
            OpenApiParameter("lead", int),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=SlaClockSerializer(many=True),
    )
    def get(self, request):
        require_perm(request.actor, "sla.view")
        params = request.query_params
        statuses = [s for s in params.get("status", "").split(",") if s]
        unknown = [s for s in statuses if s not in Clock.Status.values]
        if unknown:
            raise exceptions.ValidationError(
                {"status": [_("Unknown status: %s") % ", ".join(unknown)]}
            )
        qs = Clock.objects.for_org(request.organization)
        if statuses:
            qs = qs.filter(status__in=statuses)
        owner = params.get("owner", "")
        if owner == "me":
            if getattr(request.user, "pk", None) is None:
                raise exceptions.ValidationError({"owner": [_("An API key has no 'me'.")]})
            qs = qs.filter(owner_id=request.user.pk)
        elif owner == "none":
            qs = qs.filter(owner_id=None)
        elif owner:
            if not (owner.isascii() and owner.isdigit()):
                raise exceptions.ValidationError({"owner": [_("A user id, 'me' or 'none'.")]})
            qs = qs.filter(owner_id=int(owner))
        lead = params.get("lead", "")
        if lead:
            if not (lead.isascii() and lead.isdigit()):
                raise exceptions.ValidationError({"lead": [_("A lead id.")]})
            qs = qs.filter(lead_id=int(lead))
        # Soonest due first (the work queue), stable by id.
        qs = qs.order_by("due_at", "pk")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(SlaClockSerializer(page, many=True).data)


class ContractView(APIView):
    @extend_schema(
        operation_id="sla_contract",
        responses=inline_serializer(
            "SlaContract",
            {
                "active": SlaActiveVersionSerializer(allow_null=True),
                "versions": SlaVersionSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        require_perm(request.actor, "sla.view")
        active = selectors.active_version(request.organization)
        versions = selectors.versions(request.organization)
        return Response(
            {
                "active": SlaActiveVersionSerializer(active).data if active else None,
                "versions": SlaVersionSerializer(versions, many=True).data,
            }
        )


class CommitmentsView(APIView):
    @extend_schema(
        operation_id="sla_commitments",
        responses=inline_serializer(
            "SlaCommitments",
            {
                "version": serializers.IntegerField(allow_null=True),
                "marketing": SlaMarketingCommitmentSerializer(many=True),
                "sales": SlaSalesCommitmentSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        require_perm(request.actor, "sla.view")
        active = selectors.active_version(request.organization)
        if active is None:
            return Response({"version": None, "marketing": [], "sales": []})
        return Response(
            {
                "version": active.number,
                "marketing": SlaMarketingCommitmentSerializer(
                    active.marketing_commitments.all(), many=True
                ).data,
                "sales": SlaSalesCommitmentSerializer(
                    active.sales_commitments.all(), many=True
                ).data,
            }
        )
