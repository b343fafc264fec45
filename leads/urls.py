"""The leads pages, included under ``/o/<slug:org_slug>/leads/``. Names are global (no
``app_name``), prefixed ``leads-``: ``{% url 'leads-queue' org_slug=organization.slug %}``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.lead_queue, name="leads-queue"),
    path("<int:lead_id>/", views.lead_detail, name="leads-detail"),
    path("<int:lead_id>/accept/", views.lead_accept, name="leads-accept"),
    path("<int:lead_id>/reject/", views.lead_reject, name="leads-reject"),
    path("<int:lead_id>/qualify/", views.lead_qualify, name="leads-qualify"),
    path("<int:lead_id>/activities/", views.lead_activity, name="leads-activity"),
    path("<int:lead_id>/move/", views.lead_move, name="leads-move"),
    path("decisions/", views.decision_report, name="leads-decisions"),
    path("content/", views.content_library, name="leads-content"),
    path("content/<int:content_id>/", views.content_edit, name="leads-content-edit"),
]
