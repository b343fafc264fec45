"""The website tracker's public endpoints, included at ``/t/`` (outside ``/o/…``)."""

from __future__ import annotations

from django.urls import re_path

from . import tracker_views

KEY = r"(?P<public_key>[A-Za-z0-9_-]{8,40})"

urlpatterns = [
    re_path(rf"^{KEY}\.js$", tracker_views.tracker_script, name="tracker-script"),
    re_path(rf"^{KEY}/collect$", tracker_views.tracker_collect, name="tracker-collect"),
]
