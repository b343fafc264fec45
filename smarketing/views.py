"""Site-wide views: the front door, the health check and the error pages."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from smarketing.tenancy.middleware import LAST_ORG_SESSION_KEY
from smarketing.tenancy.selectors import user_organizations


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send a member to the organization they last used, else to sign-in or sign-up."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    memberships = user_organizations(request.user)
    last = request.session.get(LAST_ORG_SESSION_KEY)
    for membership in memberships:
        if membership.organization.slug == last:
            return redirect("org-home", org_slug=last)
    if memberships:
        return redirect("org-home", org_slug=memberships[0].organization.slug)
    return redirect("accounts:organization-new")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _api_error(404, "not_found", _("Not found."))
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _api_error(500, "server_error", _("Server error."))
    return render(request, "500.html", status=500)
