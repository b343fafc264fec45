"""Public routes under ``/connect/``: vendor webhooks (signature- or key-authenticated)."""

from __future__ import annotations

from django.urls import path

from . import public_views

urlpatterns = [
    path(
        "<str:webhook_key>/", public_views.connector_webhook, name="integrations-connector-webhook"
    ),
]
