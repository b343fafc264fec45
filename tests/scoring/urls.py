"""The project's URLs plus the scoring API routes, until smarketing/api_urls.py has
them (the lead wires them; then this module can go)."""

from __future__ import annotations

from django.urls import include, path

from scoring import api

urlpatterns = [
    path("api/v1/leads/<int:lead_id>/score", api.LeadScoreView.as_view(), name="api-lead-score"),
    path("api/v1/scoring/models", api.ScoringModelListView.as_view(), name="api-scoring-models"),
    path(
        "api/v1/scoring/models/<int:model_id>",
        api.ScoringModelDetailView.as_view(),
        name="api-scoring-model",
    ),
    path("", include("smarketing.urls")),
]
