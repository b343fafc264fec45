"""``/api/v1/``: each app adds its routes here."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from leads import api as leads_api
from scoring import api as scoring_api
from smarketing.tenancy import api_views as tenancy_api

urlpatterns = [
    # The contract is public, like the docs of any public API.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="api-schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", permission_classes=[AllowAny], authentication_classes=[]
        ),
        name="api-docs",
    ),
    path("organization", tenancy_api.OrganizationView.as_view(), name="api-organization"),
    path("events", leads_api.EventsView.as_view(), name="api-events"),
    path("leads", leads_api.LeadListView.as_view(), name="api-leads"),
    path("leads/<int:lead_id>", leads_api.LeadDetailView.as_view(), name="api-lead"),
    path(
        "leads/<int:lead_id>/timeline",
        leads_api.LeadTimelineView.as_view(),
        name="api-lead-timeline",
    ),
    path(
        "leads/<int:lead_id>/activities",
        leads_api.LeadActivitiesView.as_view(),
        name="api-lead-activities",
    ),
    path("leads/<int:lead_id>/accept", leads_api.LeadAcceptView.as_view(), name="api-lead-accept"),
    path("leads/<int:lead_id>/reject", leads_api.LeadRejectView.as_view(), name="api-lead-reject"),
    path(
        "leads/<int:lead_id>/qualify", leads_api.LeadQualifyView.as_view(), name="api-lead-qualify"
    ),
    path("leads/<int:lead_id>/score", scoring_api.LeadScoreView.as_view(), name="api-lead-score"),
    path("scoring/models", scoring_api.ScoringModelListView.as_view(), name="api-scoring-models"),
    path(
        "scoring/models/<int:model_id>",
        scoring_api.ScoringModelDetailView.as_view(),
        name="api-scoring-model",
    ),
    path("deals", leads_api.DealListView.as_view(), name="api-deals"),
    path("deals/<int:deal_id>", leads_api.DealDetailView.as_view(), name="api-deal"),
    # Each later app declares its routes in its own api_urls module.
    path("", include("sla.api_urls")),
    path("", include("dashboards.api_urls")),
    path("", include("meetings.api_urls")),
    path("", include("incentives.api_urls")),
    path("", include("integrations.api_urls")),
]
