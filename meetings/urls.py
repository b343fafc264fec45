"""Pages of the meetings app, included under ``/o/<slug:org_slug>/meetings/``. Names are global, prefixed
``meetings-``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="meetings-list"),
]
