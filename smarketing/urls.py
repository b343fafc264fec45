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
    path("api/v1/", include("smarketing.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "smarketing.views.page_not_found"
handler500 = "smarketing.views.server_error"
