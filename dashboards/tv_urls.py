"""Public (token-authenticated) routes of the open-space TV, under ``/tv/``."""

from __future__ import annotations

from django.urls import path

from . import tv

urlpatterns = [
    path("<str:token>/", tv.tv, name="tv"),
    path("<str:token>/panel/<slug:name>/", tv.tv_panel, name="tv-panel"),
]
