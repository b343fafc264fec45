"""The meetings part of the public API: meetings (the detail carries the frozen pack),
their action items (list, create, tick). Thin: resolve access → one service or
selector → respond; the organization comes from the key or session (tenancy.api)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from leads.api import PersonSerializer
from smarketing.tenancy.api import CursorPagination
from smarketing.tenancy.permissions import require_perm

from . import selectors, services
from .models import ActionItem, Meeting


class ActionItemSerializer(serializers.ModelSerializer):
    owner = PersonSerializer(allow_null=True, read_only=True)
    meeting = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ActionItem
        fields = ["id", "meeting", "title", "owner", "due_on", "done", "done_at", "created_at"]
        read_only_fields = fields


class ActionItemWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    due_on = serializers.DateField(required=False, allow_null=True)
    done = serializers.BooleanField(required=False)


class MeetingSerializer(serializers.ModelSerializer):
    # A plain string in the schema: an enum named "Status" would collide with the other
    # apps' status enums.
    status = serializers.CharField(help_text="`scheduled`, `open` or `closed`.")

    class Meta:
        model = Meeting
        fields = [
            "id",
            "week_start",
            "scheduled_for",
            "status",
            "snapshot_at",
            "opened_at",
            "closed_at",
        ]
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class MeetingDetailSerializer(MeetingSerializer):
    snapshot = serializers.JSONField(
        help_text="The frozen pack: KPIs, breaches, rejections, pacing, previous action items."
    )
    attendees = serializers.SerializerMethodField()
    decisions = serializers.SerializerMethodField()
    action_items = serializers.SerializerMethodField()
    carried_items = serializers.SerializerMethodField()

    class Meta(MeetingSerializer.Meta):
        fields = [
            *MeetingSerializer.Meta.fields,
            "notes",
            "goals",
            "snapshot",
            "attendees",
            "decisions",
            "action_items",
            "carried_items",
        ]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(many=True))
    def get_attendees(self, meeting):
        return PersonSerializer([a.user for a in selectors.attendees(meeting)], many=True).data

    @extend_schema_field(DecisionSerializer(many=True))
    def get_decisions(self, meeting):
        return DecisionSerializer(selectors.decisions(meeting), many=True).data

    @extend_schema_field(ActionItemSerializer(many=True))
    def get_action_items(self, meeting):
        return ActionItemSerializer(selectors.own_items(meeting), many=True).data

    @extend_schema_field(ActionItemSerializer(many=True))
    def get_carried_items(self, meeting):
        return ActionItemSerializer(selectors.carried_items(meeting), many=True).data


def _valid(serializer_class, data, *, partial=False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MeetingPagination(CursorPagination):
    ordering = "-week_start"


class ItemPagination(CursorPagination):
    ordering = "-pk"


class MeetingListView(APIView):
    pagination_class = MeetingPagination

    @extend_schema(operation_id="meetings_list", responses={200: MeetingSerializer(many=True)})
    def get(self, request):
        require_perm(request.actor, "meetings.view")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.meetings(request.organization), request, self)
        return paginator.get_paginated_response(MeetingSerializer(page, many=True).data)


class MeetingDetailView(APIView):
    @extend_schema(operation_id="meetings_retrieve", responses={200: MeetingDetailSerializer})
    def get(self, request, meeting_id: int):
        require_perm(request.actor, "meetings.view")
        meeting = selectors.get_meeting_for_org(request.organization, meeting_id)
        return Response(MeetingDetailSerializer(meeting).data)


class MeetingActionItemsView(APIView):
    @extend_schema(
        operation_id="meetings_action_items_list", responses={200: ActionItemSerializer(many=True)}
    )
    def get(self, request, meeting_id: int):
        require_perm(request.actor, "meetings.view")
        meeting = selectors.get_meeting_for_org(request.organization, meeting_id)
        return Response(ActionItemSerializer(selectors.own_items(meeting), many=True).data)

    @extend_schema(
        operation_id="meetings_action_items_create",
        request=ActionItemWriteSerializer,
        responses={201: ActionItemSerializer},
    )
    def post(self, request, meeting_id: int):
        require_perm(request.actor, "meetings.contribute")
        meeting = selectors.get_meeting_for_org(request.organization, meeting_id)
        data = _valid(ActionItemWriteSerializer, request.data)
        if not data.get("title"):
            raise serializers.ValidationError({"title": ["This field is required."]})
        item = services.action_item_add(
            actor=request.actor,
            meeting=meeting,
            title=data["title"],
            owner_id=data.get("owner"),
            due_on=data.get("due_on"),
        )
        return Response(ActionItemSerializer(item).data, status=status.HTTP_201_CREATED)


class ActionItemListView(APIView):
    pagination_class = ItemPagination

    @extend_schema(
        operation_id="action_items_list",
        parameters=[OpenApiParameter("open", OpenApiTypes.BOOL, description="Only open items.")],
        responses={200: ActionItemSerializer(many=True)},
    )
    def get(self, request):
        require_perm(request.actor, "meetings.view")
        qs = ActionItem.objects.for_org(request.organization).select_related("owner")
        if request.query_params.get("open") in ("true", "1"):
            qs = qs.filter(done=False)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(ActionItemSerializer(page, many=True).data)


class ActionItemDetailView(APIView):
    @extend_schema(operation_id="action_items_retrieve", responses={200: ActionItemSerializer})
    def get(self, request, item_id: int):
        require_perm(request.actor, "meetings.view")
        item = selectors.get_action_item_for_org(request.organization, item_id)
        return Response(ActionItemSerializer(item).data)

    @extend_schema(
        operation_id="action_items_update",
        request=ActionItemWriteSerializer,
        responses={200: ActionItemSerializer},
    )
    def patch(self, request, item_id: int):
        require_perm(request.actor, "meetings.contribute")
        item = selectors.get_action_item_for_org(request.organization, item_id)
        data = _valid(ActionItemWriteSerializer, request.data, partial=True)
        # Through its own meeting, or the latest open one it is carried over into; the
        # service refuses edits on closed meetings and by people who may not make them.
        item = services.action_item_update(actor=request.actor, item=item, data=data)
        return Response(ActionItemSerializer(item).data)
