"""``/api/v1/`` routes of the sla app (included by smarketing/api_urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("sla/clocks", api.ClockListView.as_view(), name="api-sla-clocks"),
    path("sla/contract", api.ContractView.as_view(), name="api-sla-contract"),
    path("sla/commitments", api.CommitmentsView.as_view(), name="api-sla-commitments"),
]
