"""``/api/v1/`` routes of the dashboards app (included by smarketing/api_urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("kpis", api.KpisView.as_view(), name="api-kpis"),
    path("kpis/funnel", api.FunnelView.as_view(), name="api-kpis-funnel"),
    path("kpis/attribution", api.AttributionView.as_view(), name="api-kpis-attribution"),
]
