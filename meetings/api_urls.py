"""``/api/v1/`` routes of the meetings app (included by smarketing/api_urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("meetings", api.MeetingListView.as_view(), name="api-meetings"),
    path("meetings/<int:meeting_id>", api.MeetingDetailView.as_view(), name="api-meeting"),
    path(
        "meetings/<int:meeting_id>/action-items",
        api.MeetingActionItemsView.as_view(),
        name="api-meeting-action-items",
    ),
    path("action-items", api.ActionItemListView.as_view(), name="api-action-items"),
    path("action-items/<int:item_id>", api.ActionItemDetailView.as_view(), name="api-action-item"),
]
