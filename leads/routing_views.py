"""The routing settings page, under ``/o/<slug>/settings/routing/``.

Everyone in the organization may look (who receives leads is no secret in a sales
team); only ``routing.manage`` (owner, admin, sales manager) may change anything, and
the views check it before the services check it again. Each rep's row is its own form:
htmx swaps the row alone, without JavaScript the form posts and the page reloads.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import has_perm

from . import routing
from .routing_forms import RepRoutingForm, RoutingSettingsForm
from .services import LeadError

# htmx swaps this status (see the htmx-config meta tag in base.html): the row comes
# back with its own field errors.
HTMX_INVALID = 422
PAGE = "leads/routing/settings.html"


def _require_manage(request: HttpRequest):
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, "routing.manage"):
        raise PermissionDenied("routing.manage")
    return membership


def _rep_form(organization, row: routing.RepRow, now) -> RepRoutingForm:
    rep = row.rep
    return RepRoutingForm(
        membership_id=row.membership.pk,
        initial={
            "active": rep.active,
            "away_until": routing.away_date(organization, rep, now),
            "countries": ", ".join(rep.countries or []),
            "grades": list(rep.grades or []),
        },
    )


def _row_context(row: routing.RepRow, form: RepRoutingForm | None, now, **extra) -> dict:
    return {
        "row": row,
        "form": form,
        "away": row.away(now),
        "available": row.available(now),
        **extra,
    }


def _page(
    request: HttpRequest,
    *,
    settings_form: RoutingSettingsForm | None = None,
    bound_rep_form: RepRoutingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    org = request.organization  # type: ignore[attr-defined]
    manages = has_perm(request.membership, "routing.manage")  # type: ignore[attr-defined]
    now = timezone.now()
    rule = routing.routing_settings_for(org)
    if settings_form is None:
        settings_form = RoutingSettingsForm(
            initial={
                "strategy": rule.strategy,
                "by_territory": rule.by_territory,
                "by_segment": rule.by_segment,
            }
        )
    rows = routing.rep_rows(org)
    upcoming = next_up = None
    if rule.strategy == rule.Strategy.ROUND_ROBIN:
        upcoming = routing.next_in_line(rows, now)
        next_up = upcoming.membership.pk if upcoming else None
    items = []
    for row in rows:
        form = None
        if manages:
            if bound_rep_form is not None and bound_rep_form.membership_id == row.membership.pk:
                form = bound_rep_form
            else:
                form = _rep_form(org, row, now)
        items.append(_row_context(row, form, now, next_up=next_up))
    context = {
        "rule": rule,
        "settings_form": settings_form,
        "items": items,
        "manages": manages,
        "available_count": sum(1 for item in items if item["available"]),
        "upcoming": upcoming,
    }
    return render(request, PAGE, context, status=status)


@require_http_methods(["GET", "POST"])
def routing_settings(request: HttpRequest, org_slug: str) -> HttpResponse:
    """GET: the rule and the reps. POST: save the rule (strategy, territory, segment)."""
    if request.method == "GET":
        return _page(request)
    actor = _require_manage(request)
    form = RoutingSettingsForm(request.POST)
    if form.is_valid():
        try:
            routing.routing_settings_update(actor=actor, **form.cleaned_data)
        except permissions.PermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        except LeadError as error:
            for field, errors in (error.fields or {None: [error.message]}).items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, _("Routing rule saved."))
            return redirect("routing-settings", org_slug=request.organization.slug)  # type: ignore[attr-defined]
    return _page(request, settings_form=form, status=400)


@require_POST
def routing_rep(request: HttpRequest, org_slug: str, membership_id: int) -> HttpResponse:
    """Save one sales rep's row: receives leads, away until, territory, segment."""
    actor = _require_manage(request)
    org = request.organization  # type: ignore[attr-defined]
    membership = routing.get_rep_membership_for_org(org, membership_id)
    form = RepRoutingForm(request.POST, membership_id=membership.pk)
    if form.is_valid():
        data = form.cleaned_data
        try:
            routing.rep_routing_update(
                actor=actor,
                membership=membership,
                active=data["active"],
                away_until=routing.away_until_from_date(org, data["away_until"]),
                countries=data["countries"],
                grades=data["grades"],
            )
        except permissions.PermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        except LeadError as error:
            for field, errors in (error.fields or {None: [error.message]}).items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
    name = membership.user.full_name or membership.user.email
    if form.errors:
        if request.htmx:  # type: ignore[attr-defined]
            return _row(request, membership, form, status=HTMX_INVALID)
        return _page(request, bound_rep_form=form, status=400)
    if request.htmx:  # type: ignore[attr-defined]
        return _row(request, membership, None, saved=True)
    messages.success(request, _("Routing of %(name)s saved.") % {"name": name})
    url = reverse("routing-settings", kwargs={"org_slug": org.slug})
    return redirect(f"{url}#rep-{membership.pk}")


def _row(
    request: HttpRequest,
    membership,
    form: RepRoutingForm | None,
    *,
    saved: bool = False,
    status: int = 200,
) -> HttpResponse:
    """The row alone, for htmx: fresh from the database, or with the form's errors."""
    org = request.organization  # type: ignore[attr-defined]
    now = timezone.now()
    rows = routing.rep_rows(org)
    row = next(r for r in rows if r.membership.pk == membership.pk)
    rule = routing.routing_settings_for(org)
    upcoming = None
    if rule.strategy == rule.Strategy.ROUND_ROBIN:
        upcoming = routing.next_in_line(rows, now)
    context = _row_context(
        row,
        form or _rep_form(org, row, now),
        now,
        next_up=upcoming.membership.pk if upcoming else None,
        saved=saved,
        manages=True,
    )
    return render(request, f"{PAGE}#rep-row", context, status=status)
