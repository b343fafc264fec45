"""The leads part of the public API (SPEC.md §5): events, leads, their lifecycle and
timeline, activities, decisions, deals. Thin: resolve access → one service or selector
→ respond. The organization always comes from the key or session (tenancy.api)."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from smarketing.tenancy.api import KeysetPagination
from smarketing.tenancy.permissions import require_perm

from . import selectors, services
from .ingest import ingest_events
from .models import Activity, Deal, Lead, RejectReason, Stage

# --- Serializers (output, and input shape for the schema) ---------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()


class CompanySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    domain = serializers.CharField()
    industry = serializers.CharField()
    employees = serializers.IntegerField(allow_null=True)
    country = serializers.CharField()


class LeadSerializer(serializers.ModelSerializer):
    company = CompanySerializer(allow_null=True, read_only=True)
    owner = PersonSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "title",
            "seniority",
            "phone",
            "country",
            "company",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "stage",
            "stage_changed_at",
            "owner",
            "consent_email",
            "consent_tracking",
            "score",
            "fit",
            "grade",
            "hot",
            "hot_since",
            "first_touch_at",
            "last_event_at",
            "properties",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadWriteSerializer(serializers.Serializer):
    """Validates the shape; the services validate meaning (owner membership, stage)."""

    email = serializers.EmailField(required=False)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    title = serializers.CharField(max_length=150, required=False, allow_blank=True)
    seniority = serializers.ChoiceField(Lead.Seniority.choices, required=False)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company_domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    source = serializers.ChoiceField(Lead.Source.choices, required=False)
    utm_source = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=100, required=False, allow_blank=True)
    utm_content = serializers.CharField(max_length=100, required=False, allow_blank=True)
    consent_email = serializers.BooleanField(required=False)
    consent_tracking = serializers.BooleanField(required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    properties = serializers.DictField(required=False)
    stage = serializers.ChoiceField(Stage.choices, required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_country(self, value: str) -> str:
        return value.upper()

    def validate_properties(self, value: dict) -> dict:
        from .ingest import properties_to_json

        _encoded, problem = properties_to_json(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class DealSerializer(serializers.ModelSerializer):
    owner = PersonSerializer(allow_null=True, read_only=True)
    lead = serializers.PrimaryKeyRelatedField(read_only=True)
    company = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "amount",
            "currency",
            "stage",
            "status",
            "created_at",
            "closed_at",
            "lead",
            "company",
            "owner",
            "source",
            "external_id",
        ]
        read_only_fields = fields


class DealWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    stage = serializers.CharField(max_length=40, required=False)
    status = serializers.ChoiceField(Deal.Status.choices, required=False)
    lead = serializers.IntegerField(required=False, allow_null=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    created_at = serializers.DateTimeField(required=False)
    closed_at = serializers.DateTimeField(required=False, allow_null=True)


class ActivityWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(Activity.Kind.choices)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True)
    body = serializers.CharField(required=False, allow_blank=True)
    at = serializers.DateTimeField(required=False)


class RejectSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(RejectReason.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    to_stage = serializers.ChoiceField(
        [(Stage.RECYCLED, Stage.RECYCLED.label), (Stage.DISQUALIFIED, Stage.DISQUALIFIED.label)],
        required=False,
    )


class AcceptSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class QualifySerializer(serializers.Serializer):
    budget = serializers.CharField(max_length=500)
    need = serializers.CharField(max_length=500)
    authority = serializers.CharField(max_length=500, required=False, allow_blank=True)
    timing = serializers.CharField(max_length=500, required=False, allow_blank=True)


def _valid(serializer_class, data, *, partial=False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _lead(request, lead_id) -> Lead:
    lead = selectors.get_lead_for_org(request.organization, lead_id)
    lead.organization = request.organization
    return lead


# --- Events -------------------------------------------------------------------------

EVENT_EXAMPLE = {
    "id": "evt_01HF3",
    "type": "page_view",
    "occurred_at": "2026-11-30T10:15:00+01:00",
    "email": "claire@exemple.fr",
    "url": "https://www.exemple.fr/tarifs",
}


class EventsView(APIView):
    @extend_schema(
        operation_id="events_ingest",
        request=OpenApiTypes.OBJECT,
        responses={
            202: inline_serializer(
                "IngestResult",
                {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
            )
        },
        description=(
            'Ingest one event object, or `{"events": [...]}` with up to 1,000 events. '
            "Atomic: one invalid event fails the batch (errors by index in "
            "`error.fields`) and nothing is written. Idempotent on `id`: a replayed id "
            "counts as a duplicate. 202 is answered only once the batch is committed."
        ),
    )
    def post(self, request):
        require_perm(request.actor, "events.ingest")
        body = request.data
        if isinstance(body, dict) and set(body) == {"events"}:
            events = body["events"]
        elif isinstance(body, dict):
            events = [body]
        else:
            raise exceptions.ValidationError(
                {"non_field_errors": [_('Send one event object or {"events": [...]}.')]}
            )
        result = ingest_events(organization=request.organization, events=events, source="api")
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_202_ACCEPTED,
        )


# --- Leads --------------------------------------------------------------------------

BOOL = {"true": True, "1": True, "false": False, "0": False}


class LeadListView(APIView):
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="leads_list",
        parameters=[
            OpenApiParameter("stage", str, description="one stage, or several comma-separated"),
            OpenApiParameter("owner", str, description="a member's user id, `me` or `none`"),
            OpenApiParameter("hot", bool),
            OpenApiParameter("q", str, description="e-mail, name or company contains"),
            OpenApiParameter("source", str),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(selectors.ORDERINGS),
                description="default `queue`: hot first, then score",
            ),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=LeadSerializer(many=True),
    )
    def get(self, request):
        params = request.query_params
        stage = [s for s in params.get("stage", "").split(",") if s]
        unknown = [s for s in stage if s not in Stage.values]
        if unknown:
            raise exceptions.ValidationError(
                {"stage": [_("Unknown stage: %s") % ", ".join(unknown)]}
            )
        owner = params.get("owner", "")
        owner_id = None
        if owner == "me":
            owner_id = getattr(request.user, "pk", None)
            if owner_id is None:
                raise exceptions.ValidationError({"owner": [_("An API key has no 'me'.")]})
        elif owner and owner != "none":
            if not (owner.isascii() and owner.isdigit()):
                raise exceptions.ValidationError({"owner": [_("A user id, 'me' or 'none'.")]})
            owner_id = int(owner)
        hot = params.get("hot")
        if hot is not None and hot.lower() not in BOOL:
            raise exceptions.ValidationError({"hot": [_("true or false")]})
        ordering = params.get("ordering", "queue")
        if ordering not in selectors.ORDERINGS:
            raise exceptions.ValidationError(
                {"ordering": [_("One of: %s") % ", ".join(selectors.ORDERINGS)]}
            )
        leads = selectors.lead_list(
            request.organization,
            stage=stage or None,
            owner_id=owner_id,
            unowned=owner == "none",
            hot=BOOL[hot.lower()] if hot is not None else None,
            q=params.get("q", ""),
            source=params.get("source", ""),
            ordering=ordering,
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(leads, request, view=self)
        return paginator.get_paginated_response(LeadSerializer(page, many=True).data)

    @extend_schema(
        operation_id="leads_upsert",
        request=LeadWriteSerializer,
        responses={200: LeadSerializer, 201: LeadSerializer},
        description="Create or update the lead with this e-mail (case-insensitive).",
    )
    def post(self, request):
        data = _valid(LeadWriteSerializer, request.data)
        if "email" not in data:
            raise exceptions.ValidationError({"email": [_("This field is required.")]})
        email = data.pop("email")
        lead, created = services.lead_upsert(
            actor=request.actor, organization=request.organization, email=email, data=data
        )
        lead = selectors.lead_list(request.organization).get(pk=lead.pk)
        return Response(LeadSerializer(lead).data, status=201 if created else 200)


class LeadDetailView(APIView):
    @extend_schema(operation_id="leads_retrieve", responses=LeadSerializer)
    def get(self, request, lead_id: int):
        return Response(LeadSerializer(_lead(request, lead_id)).data)

    @extend_schema(
        operation_id="leads_update",
        request=LeadWriteSerializer,
        responses=LeadSerializer,
        description="Edit attributes. `stage` (with `reason`) is a manager's move.",
    )
    def patch(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        data = _valid(LeadWriteSerializer, request.data, partial=True)
        if "email" in data:
            raise exceptions.ValidationError(
                {"email": [_("The e-mail identifies the lead; it cannot be changed.")]}
            )
        services.lead_update(actor=request.actor, lead=lead, data=data)
        return Response(LeadSerializer(_lead(request, lead_id)).data)


class LeadTimelineView(APIView):
    @extend_schema(
        operation_id="leads_timeline",
        parameters=[
            OpenApiParameter("limit", int, description="at most 500, default 200"),
            OpenApiParameter("before", OpenApiTypes.DATETIME),
            OpenApiParameter("order", str, enum=["desc", "asc"]),
        ],
        responses=inline_serializer(
            "TimelineItem",
            {
                "at": serializers.DateTimeField(),
                "kind": serializers.CharField(),
                "type": serializers.CharField(),
                "title": serializers.CharField(),
                "data": serializers.DictField(),
            },
            many=True,
        ),
    )
    def get(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        params = request.query_params
        try:
            limit = min(max(int(params.get("limit", 200)), 1), 500)
        except ValueError:
            raise exceptions.ValidationError({"limit": [_("Must be a number.")]}) from None
        before = None
        if params.get("before"):
            try:
                before = parse_datetime(params["before"])
            except ValueError:  # well-formed but impossible, e.g. 30 February
                before = None
            if before is None or before.tzinfo is None:
                raise exceptions.ValidationError(
                    {"before": [_("An ISO 8601 date and time with its UTC offset.")]}
                )
        items = selectors.lead_timeline(
            lead, limit=limit, before=before, newest_first=params.get("order", "desc") != "asc"
        )
        return Response(
            [
                {
                    "at": item.at,
                    "kind": item.kind,
                    "type": item.type,
                    "title": item.title,
                    "data": item.data,
                }
                for item in items
            ]
        )


class LeadActivitiesView(APIView):
    @extend_schema(
        operation_id="leads_activities_create",
        request=ActivityWriteSerializer,
        responses={201: inline_serializer("ActivityCreated", {"id": serializers.IntegerField()})},
    )
    def post(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        data = _valid(ActivityWriteSerializer, request.data)
        activity = services.activity_log(actor=request.actor, lead=lead, **data)
        return Response({"id": activity.pk}, status=201)


class LeadAcceptView(APIView):
    @extend_schema(operation_id="leads_accept", request=AcceptSerializer, responses=LeadSerializer)
    def post(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        data = _valid(AcceptSerializer, request.data)
        services.lead_accept(actor=request.actor, lead=lead, comment=data.get("comment", ""))
        return Response(LeadSerializer(_lead(request, lead_id)).data)


class LeadRejectView(APIView):
    @extend_schema(operation_id="leads_reject", request=RejectSerializer, responses=LeadSerializer)
    def post(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        data = _valid(RejectSerializer, request.data)
        services.lead_reject(actor=request.actor, lead=lead, **data)
        return Response(LeadSerializer(_lead(request, lead_id)).data)


class LeadQualifyView(APIView):
    @extend_schema(
        operation_id="leads_qualify", request=QualifySerializer, responses=LeadSerializer
    )
    def post(self, request, lead_id: int):
        lead = _lead(request, lead_id)
        data = _valid(QualifySerializer, request.data)
        services.lead_qualify(actor=request.actor, lead=lead, **data)
        return Response(LeadSerializer(_lead(request, lead_id)).data)


# --- Deals --------------------------------------------------------------------------


class DealListView(APIView):
    pagination_class = KeysetPagination

    @extend_schema(
        operation_id="deals_list",
        parameters=[
            OpenApiParameter("status", str, enum=Deal.Status.values),
            OpenApiParameter("lead", int),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses=DealSerializer(many=True),
    )
    def get(self, request):
        status_filter = request.query_params.get("status", "")
        if status_filter and status_filter not in Deal.Status.values:
            raise exceptions.ValidationError({"status": [_("open, won or lost")]})
        lead_id = request.query_params.get("lead")
        if lead_id and not (lead_id.isascii() and lead_id.isdigit()):
            raise exceptions.ValidationError({"lead": [_("A lead id.")]})
        deals = selectors.deal_list(request.organization, status=status_filter, lead_id=lead_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deals, request, view=self)
        return paginator.get_paginated_response(DealSerializer(page, many=True).data)

    @extend_schema(
        operation_id="deals_create", request=DealWriteSerializer, responses={201: DealSerializer}
    )
    def post(self, request):
        data = _valid(DealWriteSerializer, request.data)
        missing = {f: [_("This field is required.")] for f in ("name", "amount") if f not in data}
        if missing:
            raise exceptions.ValidationError(missing)
        lead = _lead(request, data.pop("lead")) if data.get("lead") else None
        data.pop("lead", None)
        owner_id = data.pop("owner", None)
        status_value = data.pop("status", Deal.Status.OPEN)
        closed_at = data.pop("closed_at", None)
        deal = services.deal_create(
            actor=request.actor,
            organization=request.organization,
            lead=lead,
            owner=services.owner_for(request.organization, owner_id) if owner_id else None,
            **data,
        )
        if status_value != Deal.Status.OPEN:
            deal = services.deal_update(
                actor=request.actor,
                deal=deal,
                data={"status": status_value, "closed_at": closed_at},
            )
        return Response(DealSerializer(deal).data, status=201)


class DealDetailView(APIView):
    @extend_schema(operation_id="deals_retrieve", responses=DealSerializer)
    def get(self, request, deal_id: int):
        return Response(
            DealSerializer(selectors.get_deal_for_org(request.organization, deal_id)).data
        )

    @extend_schema(
        operation_id="deals_update", request=DealWriteSerializer, responses=DealSerializer
    )
    def patch(self, request, deal_id: int):
        deal = selectors.get_deal_for_org(request.organization, deal_id)
        deal.organization = request.organization
        data = _valid(DealWriteSerializer, request.data, partial=True)
        if "lead" in data:
            raise exceptions.ValidationError({"lead": [_("A deal's lead cannot be changed.")]})
        services.deal_update(actor=request.actor, deal=deal, data=data)
        return Response(
            DealSerializer(selectors.get_deal_for_org(request.organization, deal_id)).data
        )
