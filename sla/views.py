"""Pages of the sla app."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from smarketing.tenancy.permissions import has_perm


def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    if not has_perm(request.membership, "organization.view"):  # type: ignore[attr-defined]
        raise PermissionDenied
    return render(request, "sla/home.html", {"current": "sla-home"})
