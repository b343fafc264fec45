"""Pages of the incentives app, included under ``/o/<slug:org_slug>/incentives/``. Names are global, prefixed
``incentives-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="incentives-home"),
]
