"""Pages of the meetings app, included under ``/o/<slug:org_slug>/meetings/``.
Names are global, prefixed ``meetings-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="meetings-list"),
    path("generate/", views.generate, name="meetings-generate"),
    path("rollout/", views.rollout_page, name="meetings-rollout"),
    path("rollout/go/<slug:step>/", views.rollout_go, name="meetings-rollout-go"),
    path("rollout/mark/", views.rollout_mark, name="meetings-rollout-mark"),
    path("rollout/approve/", views.rollout_approve, name="meetings-rollout-approve"),
    path("<int:meeting_id>/", views.detail, name="meetings-detail"),
    path("<int:meeting_id>/open/", views.open_meeting, name="meetings-open"),
    path("<int:meeting_id>/close/", views.close_meeting, name="meetings-close"),
    path("<int:meeting_id>/refresh/", views.refresh_pack, name="meetings-refresh"),
    path("<int:meeting_id>/notes/", views.notes, name="meetings-notes"),
    path("<int:meeting_id>/attendees/", views.attendees, name="meetings-attendees"),
    path("<int:meeting_id>/decisions/", views.decision_add, name="meetings-decision-add"),
    path(
        "<int:meeting_id>/decisions/<int:decision_id>/delete/",
        views.decision_delete,
        name="meetings-decision-delete",
    ),
    path("<int:meeting_id>/items/", views.item_add, name="meetings-item-add"),
    path(
        "<int:meeting_id>/items/<int:item_id>/toggle/",
        views.item_toggle,
        name="meetings-item-toggle",
    ),
    path("<int:meeting_id>/export.md", views.export_markdown, name="meetings-export"),
    path("<int:meeting_id>/print/", views.printable, name="meetings-print"),
]
