"""``/api/v1/``: each app adds its routes here."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

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
]
