"""Pages of the integrations app, under ``/o/<slug:org_slug>/settings/integrations/``.
Names are global, prefixed ``integrations-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="integrations-home"),
]
