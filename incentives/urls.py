"""Pages of the incentives app, included under ``/o/<slug:org_slug>/incentives/``.
Names are global, prefixed ``incentives-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="incentives-home"),
    path("plans/new/", views.plan_new, name="incentives-plan-new"),
    path("plans/<int:plan_id>/", views.plan_detail, name="incentives-plan"),
    path("plans/<int:plan_id>/edit/", views.plan_edit, name="incentives-plan-edit"),
    path("plans/<int:plan_id>/close/", views.plan_close, name="incentives-plan-close"),
    path("plans/<int:plan_id>/export.csv", views.plan_export, name="incentives-plan-export"),
    path(
        "plans/<int:plan_id>/statements/<int:user_id>/",
        views.statement_detail,
        name="incentives-statement",
    ),
]
