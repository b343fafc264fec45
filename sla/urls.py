"""Pages of the sla app, included under ``/o/<slug:org_slug>/sla/``. Names are global, prefixed
``sla-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="sla-home"),
    path("draft/", views.draft_new, name="sla-draft-new"),
    path("history/", views.history, name="sla-history"),
    path("compliance/", views.compliance, name="sla-compliance"),
    path("v/<int:version_id>/", views.version_page, name="sla-version"),
    path("v/<int:version_id>/terms/", views.terms_update, name="sla-terms"),
    path("v/<int:version_id>/discard/", views.draft_discard, name="sla-draft-discard"),
    path("v/<int:version_id>/marketing/", views.marketing_add, name="sla-marketing-add"),
    path("v/<int:version_id>/sales/", views.sales_add, name="sla-sales-add"),
    path("v/<int:version_id>/calendar/", views.calendar_update, name="sla-calendar"),
    path("v/<int:version_id>/holidays/", views.holiday_add, name="sla-holiday-add"),
    path(
        "v/<int:version_id>/holidays/prefill/",
        views.holidays_prefill,
        name="sla-holidays-prefill",
    ),
    path(
        "v/<int:version_id>/holidays/<str:day>/delete/",
        views.holiday_delete,
        name="sla-holiday-delete",
    ),
    path("v/<int:version_id>/sign/<str:side>/", views.sign, name="sla-sign"),
    path("marketing/<int:commitment_id>/", views.marketing_edit, name="sla-marketing"),
    path(
        "marketing/<int:commitment_id>/delete/",
        views.marketing_delete,
        name="sla-marketing-delete",
    ),
    path("sales/<int:commitment_id>/", views.sales_edit, name="sla-sales"),
    path("sales/<int:commitment_id>/delete/", views.sales_delete, name="sla-sales-delete"),
    path("leads/<int:lead_id>/clock/", views.lead_clock, name="sla-lead-clock"),
]
