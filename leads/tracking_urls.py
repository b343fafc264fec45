"""The tracking settings page, included under ``/o/<slug:org_slug>/settings/tracking/``.
Names are global, like the tenancy pages: ``{% url 'tracking-settings' org_slug=… %}``."""

from __future__ import annotations

from django.urls import path

from . import tracking_views as views

urlpatterns = [
    path("", views.tracking_settings, name="tracking-settings"),
    path("rotate-key/", views.tracking_rotate_key, name="tracking-rotate-key"),
    path("webhooks/", views.webhook_create, name="tracking-webhook-create"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="tracking-webhook"),
    path(
        "webhooks/<int:endpoint_id>/preview/",
        views.webhook_preview,
        name="tracking-webhook-preview",
    ),
    path(
        "webhooks/<int:endpoint_id>/active/",
        views.webhook_set_active,
        name="tracking-webhook-active",
    ),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        views.webhook_rotate_secret,
        name="tracking-webhook-rotate-secret",
    ),
]
