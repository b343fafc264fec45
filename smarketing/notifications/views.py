"""The inbox, the bell and the preferences page. Every view works on the requesting
member's own notifications in the organization of the URL (the middleware has already
404'd non-members)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services

PAGE_SIZE = 25


def _inbox_url(request: HttpRequest) -> str:
    return reverse("notifications:list", kwargs={"org_slug": request.organization.slug})


@require_GET
def notification_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    unread_only = request.GET.get("filter") == "unread"
    page = Paginator(
        selectors.inbox(request.membership, unread_only=unread_only), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = {"page": page, "unread_only": unread_only}
    template = "notifications/list.html#inbox" if request.htmx else "notifications/list.html"
    return render(request, template, context)


@require_GET
def bell(request: HttpRequest, org_slug: str) -> HttpResponse:
    return render(request, "notifications/_bell.html")


@require_POST
def read(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    notification = selectors.get_notification_for_org(
        request.organization, pk, recipient=request.user
    )
    services.mark_read(membership=request.membership, notification=notification)
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = _inbox_url(request)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@require_POST
def read_all(request: HttpRequest, org_slug: str) -> HttpResponse:
    services.mark_all_read(membership=request.membership)
    if request.htmx:
        page = Paginator(selectors.inbox(request.membership), PAGE_SIZE).get_page(1)
        return render(
            request,
            "notifications/list.html#inbox",
            {"page": page, "unread_only": False, "bell_oob": True},
        )
    return redirect(_inbox_url(request))


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, org_slug: str) -> HttpResponse:
    status = 200
    error = None
    if request.method == "POST":
        choices = {
            kind: (f"in_app:{kind}" in request.POST, f"email:{kind}" in request.POST)
            for kind in request.POST.getlist("kind")
        }
        try:
            services.preferences_update(membership=request.membership, choices=choices)
        except services.NotificationError as exc:
            status, error = exc.status, exc.message
        else:
            messages.success(request, _("Your preferences were saved."))
            return redirect(reverse("notifications:preferences", kwargs={"org_slug": org_slug}))
    context = {
        "preferences": selectors.preferences(request.membership),
        "error": error,
    }
    return render(request, "notifications/preferences.html", context, status=status)
