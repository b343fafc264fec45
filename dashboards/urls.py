"""Pages of the dashboards app, included under ``/o/<slug:org_slug>/dashboard/``. Names
are global, prefixed ``dashboards-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="dashboards-home"),
    path("panel/<slug:name>/", views.panel, name="dashboards-panel"),
    path("funnel/", views.funnel_audit, name="dashboards-funnel"),
    path("funnel.csv", views.funnel_export, name="dashboards-funnel-export"),
    path("attribution/", views.attribution, name="dashboards-attribution"),
    path("attribution.csv", views.attribution_export, name="dashboards-attribution-export"),
    path("targets/", views.targets, name="dashboards-targets"),
]
