"""Routing settings, included under ``/o/<slug:org_slug>/settings/routing/``. The names
are global (no ``app_name``), like the organization pages: ``{% url 'routing-settings'
org_slug=organization.slug %}``."""

from __future__ import annotations

from django.urls import path

from . import routing_views

urlpatterns = [
    path("", routing_views.routing_settings, name="routing-settings"),
    path("reps/<int:membership_id>/", routing_views.routing_rep, name="routing-rep"),
]
