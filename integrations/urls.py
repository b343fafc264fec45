"""Pages of the integrations app, under ``/o/<slug:org_slug>/settings/integrations/``.
Names are global, prefixed ``integrations-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="integrations-home"),
    path("connect/<slug:vendor>/", views.connect, name="integrations-connect"),
    path("<int:connection_id>/", views.connection_detail, name="integrations-connection"),
    path("<int:connection_id>/sync/", views.connection_sync, name="integrations-sync"),
    path("<int:connection_id>/check/", views.connection_check, name="integrations-check"),
    path("<int:connection_id>/enabled/", views.connection_enabled, name="integrations-enabled"),
    path(
        "<int:connection_id>/disconnect/",
        views.connection_disconnect,
        name="integrations-disconnect",
    ),
    path("<int:connection_id>/mapping/", views.connection_mapping, name="integrations-mapping"),
    path("<int:connection_id>/log/", views.connection_log, name="integrations-log"),
    path("webhooks/", views.webhooks, name="integrations-webhooks"),
    path("webhooks/<int:subscription_id>/", views.webhook_detail, name="integrations-webhook"),
    path(
        "webhooks/<int:subscription_id>/rotate/",
        views.webhook_rotate,
        name="integrations-webhook-rotate",
    ),
    path(
        "webhooks/<int:subscription_id>/active/",
        views.webhook_active,
        name="integrations-webhook-active",
    ),
    path(
        "webhooks/<int:subscription_id>/delete/",
        views.webhook_delete,
        name="integrations-webhook-delete",
    ),
    path(
        "webhooks/<int:subscription_id>/test/",
        views.webhook_test,
        name="integrations-webhook-test",
    ),
    path(
        "webhooks/deliveries/<int:delivery_id>/",
        views.delivery_detail,
        name="integrations-delivery",
    ),
    path(
        "webhooks/deliveries/<int:delivery_id>/redeliver/",
        views.delivery_redeliver,
        name="integrations-delivery-redeliver",
    ),
]
