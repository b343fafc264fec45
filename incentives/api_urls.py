"""``/api/v1/`` routes of the incentives app (included by smarketing/api_urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("incentives/statements", api.StatementListView.as_view(), name="api-incentive-statements"),
]
