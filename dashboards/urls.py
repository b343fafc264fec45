"""Pages of the dashboards app, included under ``/o/<slug:org_slug>/dashboard/``. Names are global, prefixed
``dashboards-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="dashboards-home"),
]
