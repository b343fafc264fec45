"""Resolve ``/o/<slug>/`` to an organization and a membership, inside the request's
transaction, with the tenant set for row-level security.

Every request runs in one transaction opened here (like ``ATOMIC_REQUESTS``, but the
tenant can be set inside it): a 5xx rolls it back. Non-members get 404, never 403, so
nobody learns which organizations exist. API requests set their tenant later, once
DRF has authenticated the key (``tenancy.api``); the operator admin runs in the
explicit system context.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone

from .db import activate_system, activate_tenant, deactivate_tenant
from .models import Membership, Organization

ORG_PATH = re.compile(r"^/o/(?P<slug>[-\w]+)/")
LAST_ORG_SESSION_KEY = "smarketing_last_org"


def activate_organization_timezone(org: Organization) -> None:
    """Dates on the organization's pages read in its own time zone (SPEC.md §4)."""
    timezone.activate(org.zone)


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        with transaction.atomic():
            try:
                response = self.handle(request)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
            finally:
                deactivate_tenant()
                timezone.deactivate()
        return response

    def handle(self, request: HttpRequest) -> HttpResponse:
        match = ORG_PATH.match(request.path_info)
        if match:
            if not request.user.is_authenticated:
                if request.headers.get("HX-Request"):
                    # An HTMX poll after the session expired: send the whole page to the
                    # login form instead of pasting it into a fragment.
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                    return response
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            org = Organization.objects.filter(slug=match["slug"]).first()
            if org is None:
                raise Http404
            activate_tenant(org.pk)
            membership = Membership.objects.for_org(org).filter(user=request.user).first()
            if membership is None:
                raise Http404
            membership.organization = org
            request.organization = org  # type: ignore[attr-defined]
            request.membership = membership  # type: ignore[attr-defined]
            activate_organization_timezone(org)
            if request.session.get(LAST_ORG_SESSION_KEY) != org.slug:
                request.session[LAST_ORG_SESSION_KEY] = org.slug
        elif request.path_info.startswith("/admin/") and request.user.is_staff:
            activate_system(f"operator admin {request.user.pk} {request.path_info}")
        return self.get_response(request)
