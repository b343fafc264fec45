"""``/api/v1/`` routes of the sla app (included by smarketing/api_urls.py)."""

from __future__ import annotations

urlpatterns: list = []
