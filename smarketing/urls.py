from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from smarketing import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("smarketing.accounts.urls")),
    path("o/<slug:org_slug>/", include("smarketing.tenancy.urls")),
    path("o/<slug:org_slug>/notifications/", include("smarketing.notifications.urls")),
    path("o/<slug:org_slug>/leads/", include("leads.urls")),
    path("o/<slug:org_slug>/imports/", include("leads.import_urls")),
    path("o/<slug:org_slug>/settings/tracking/", include("leads.tracking_urls")),
    path("o/<slug:org_slug>/settings/routing/", include("leads.routing_urls")),
    path("o/<slug:org_slug>/scoring/", include("scoring.urls")),
    path("o/<slug:org_slug>/sla/", include("sla.urls")),
    path("o/<slug:org_slug>/dashboard/", include("dashboards.urls")),
    path("o/<slug:org_slug>/meetings/", include("meetings.urls")),
    path("o/<slug:org_slug>/incentives/", include("incentives.urls")),
    path("o/<slug:org_slug>/settings/integrations/", include("integrations.urls")),
    # Public, unauthenticated entry points of the website tracker and inbound webhooks.
    path("t/", include("leads.tracker_urls")),
    path("hooks/", include("leads.hook_urls")),
    # The open-space TV (a kiosk token in the URL, no login) and the inbound webhooks
    # of connected tools (HubSpot, ActiveCampaign...), each verified by its own signature.
    path("tv/", include("dashboards.tv_urls")),
    path("connect/", include("integrations.public_urls")),
    path("api/v1/", include("smarketing.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "smarketing.views.page_not_found"
handler500 = "smarketing.views.server_error"
