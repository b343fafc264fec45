"""The open-space TV: ``/tv/<kiosk token>/``, read-only, no login.

The guide: "display the commitments on a shared dashboard in the open space;
transparency is the best driver of accountability." The screen rotates full-screen
panels, the SLA commitments first, then the week's KPIs, the funnel, the hot leads and
the SLA clocks. Its script (static/dashboards/tv.js) fetches each panel again every
30 seconds and keeps the last figures when the network drops.

Security: the token is the only credential. It is looked up by its hash (in the audited
system context, like an API key); an unknown or revoked token is a 404, whatever the
page. The organization is then set as the tenant for the rest of the request (the
tenant middleware only does that for ``/o/<slug>/``), so row-level security confines
every query to it. Only GET (and HEAD): no session, no form, no CSRF token needed. Responses are
not cached and send no referrer (the token is in the URL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.middleware import activate_organization_timezone
from smarketing.tenancy.models import KioskToken, Organization
from smarketing.tenancy.selectors import find_kiosk_token
from smarketing.tenancy.services import kiosk_token_touch

from . import kpis
from .forms import FilterForm
from .views import (
    STAGE_LABELS,
    TV_TILES,
    Board,
    clock_rows,
    funnel_svg,
    gauges,
    hot_rows,
    percent,
    period_label,
    sales_sentence,
    tiles,
)

PAGE = "dashboards/tv.html"
PANELS = ("commitments", "kpis", "funnel", "hot-leads", "clocks")
ROTATE_SECONDS = 20
REFRESH_SECONDS = 30
TV_HOT_LEADS = 8
TV_CLOCKS = 7


def _kiosk(token: str) -> KioskToken:
    kiosk = find_kiosk_token(token) if token else None
    if kiosk is None:
        raise Http404
    return kiosk


class TvBoard(Board):
    """The TV's panels: bigger charts, fewer rows, dark-theme classes."""

    def panel_commitments(self) -> dict[str, Any]:
        version = self.contract
        sla = self.current.get("sla") or {}
        sales = []
        if version is not None:
            sales = [sales_sentence(c) for c in version.sales_commitments.all()]
        return {
            "version": version,
            "gauges": gauges(self.current.get("commitments") or [], width=300, css="chart--tv"),
            "sales_commitments": sales,
            "sla_rate": percent(sla.get("rate")),
            "sla_met": sla.get("met") or 0,
            "sla_breached": sla.get("breached") or 0,
        }

    def panel_kpis(self) -> dict[str, Any]:
        return {"tiles": tiles(self.report, TV_TILES)}

    def panel_funnel(self) -> dict[str, Any]:
        stages = self.funnel
        leak = kpis.biggest_leak(stages)
        return {
            "funnel_svg": funnel_svg(
                stages,
                label=_("Funnel"),
                width=1500,
                css="chart--tv",
                step_height=84,
                gap=48,
                label_width=300,
                size=34,
            ),
            "leak": leak,
            "leak_label": STAGE_LABELS.get(leak.next_stage, leak.next_stage) if leak else "",
        }

    def panel_hot_leads(self) -> dict[str, Any]:
        return {"hot_leads": hot_rows(kpis.hot_leads(self.organization, limit=TV_HOT_LEADS))}

    def panel_clocks(self) -> dict[str, Any]:
        from sla import selectors as sla

        period = self.filters.period
        return {
            "at_risk": clock_rows(
                sla.at_risk_clocks(self.organization, now=self.now, limit=TV_CLOCKS), self.now
            ),
            "breached": clock_rows(
                sla.breached_clocks(
                    self.organization, start=period.start, end=period.end, limit=TV_CLOCKS
                ),
                self.now,
            ),
        }


TITLES = {
    "commitments": lambda: _("Our commitments"),
    "kpis": lambda: _("Key figures"),
    "funnel": lambda: _("Funnel"),
    "hot-leads": lambda: _("Hot leads"),
    "clocks": lambda: _("SLA clocks"),
}


PREVIOUS_LABELS = {
    "this_week": lambda: _("last week:"),
    "last_week": lambda: _("the week before:"),
    "this_month": lambda: _("last month:"),
    "last_month": lambda: _("the month before:"),
}


def _render(request: HttpRequest, token: str, name: str | None) -> HttpResponse:
    kiosk = _kiosk(token)
    org: Organization = kiosk.organization
    with tenant_context(org.pk), translation.override(org.language or "fr"):
        activate_organization_timezone(org)
        try:
            kiosk_token_touch(kiosk)
            # The week by default; a screen can show another preset (?period=this_month).
            params = {"period": request.GET.get("period", "")}
            form = FilterForm(params, organization=org, segments=False)
            filters = form.filters(kpis.local_today(org))
            board = TvBoard(org, filters)
            now: datetime = board.now
            context: dict[str, Any] = {
                "organization": org,
                "token": token,
                "filters": filters,
                "period_label": period_label(filters),
                "updated": timezone.localtime(now).strftime("%H:%M"),
                "rotate_seconds": ROTATE_SECONDS,
                "refresh_seconds": REFRESH_SECONDS,
                "lang": translation.get_language(),
                "previous_label": PREVIOUS_LABELS.get(filters.preset, lambda: _("before:"))(),
            }
            names = PANELS if name is None else (name,)
            if name is None:
                board.report  # noqa: B018 — one report for every panel of the page
            panels = []
            for panel_name in names:
                panels.append(
                    {
                        "name": panel_name,
                        "title": TITLES[panel_name](),
                        "url": reverse("tv-panel", kwargs={"token": token, "name": panel_name})
                        + (f"?{filters.query}" if filters.query else ""),
                        **board.context(panel_name),
                    }
                )
            context["panels"] = panels
            template = PAGE if name is None else f"{PAGE}#panel-body"
            if name is not None:
                context["panel"] = panels[0]
            html = render_to_string(template, context)
        finally:
            timezone.deactivate()
    response = HttpResponse(html)
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def tv(request: HttpRequest, token: str) -> HttpResponse:
    """The whole screen, every panel rendered (the first visible)."""
    return _render(request, token, None)


@require_safe
def tv_panel(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """One panel's body, fetched by the screen's script every 30 seconds."""
    if name not in PANELS:
        raise Http404
    return _render(request, token, name)
