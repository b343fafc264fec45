"""Public (token- or signature-authenticated) routes."""

from __future__ import annotations

urlpatterns: list = []
