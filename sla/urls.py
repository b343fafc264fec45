"""Pages of the sla app, included under ``/o/<slug:org_slug>/sla/``. Names are global, prefixed
``sla-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="sla-home"),
]
