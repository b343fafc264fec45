"""Inbound generic webhooks, included at ``/hooks/`` (outside ``/o/…``)."""

from __future__ import annotations

from django.urls import re_path

from . import hook_views

urlpatterns = [
    re_path(r"^(?P<token>[A-Za-z0-9_-]{16,100})/$", hook_views.hook_receive, name="hook-receive"),
]
