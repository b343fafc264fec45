"""Pages of the incentives app under ``/o/<slug>/incentives/``.

- home: my statements for the running period (live, with the forecast) and, for
  managers, every plan;
- a plan: its participants' statements for a period (managers: everyone's; a
  participant: their own), close the period (managers), CSV export for payroll;
- a statement: the computation line by line, and the forecast when the period runs;
- plan editor: managers only (``incentives.manage``).

Each view: check the role → resolve ids with ``get_*_for_org`` (404 for another
organization's) → one service or selector → respond.
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import has_perm
from smarketing.tenancy.selectors import members as org_members

from . import selectors, services
from .forms import PlanForm, put_errors
from .models import BonusPlan

User = get_user_model()


def _require(request: HttpRequest, perm: str):
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


def _plan_access(request: HttpRequest, plan_id: int) -> BonusPlan:
    """The plan (404 for another organization's); 403 unless the member manages plans,
    sees all statements, or takes part in it."""
    membership = _require(request, "organization.view")
    plan = selectors.get_plan_for_org(request.organization, plan_id)  # type: ignore[attr-defined]
    if has_perm(membership, "incentives.view_all") or has_perm(membership, "incentives.manage"):
        return plan
    if not selectors.is_participant(plan, request.user):
        raise PermissionDenied("incentives.view_all")
    return plan


def _period(request: HttpRequest, plan: BonusPlan):
    """``?period=``: malformed, not a day (2026-02-30) or out of 2000–2100 → 400."""
    try:
        return services.plan_period_or_error(
            plan,
            request.organization,
            request.GET.get("period"),  # type: ignore[attr-defined]
        )
    except services.IncentiveError as error:
        raise BadRequest(error.message) from None


# A cell a spreadsheet would read as a formula (CSV injection): kept as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _rows(plan: BonusPlan, views: list) -> list[dict]:
    return [
        {
            "view": view,
            "achievement": selectors.basis_value(view.basis, view.achievement, view.currency),
            "payout": selectors.money(view.payout, view.currency),
            "forecast": selectors.money(view.forecast.payout, view.currency)
            if view.forecast
            else "",
        }
        for view in views
    ]


@require_GET
def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "organization.view")
    org = request.organization  # type: ignore[attr-defined]
    now = timezone.now()
    mine = []
    for plan in selectors.plans_of(org, request.user):
        period = selectors.plan_period(plan, org, now=now)
        views = selectors.statements(org, plan, period, users=[request.user], now=now)
        mine.extend({"plan": plan, **row} for row in _rows(plan, views))
    all_plans = []
    if has_perm(membership, "incentives.view_all") or has_perm(membership, "incentives.manage"):
        all_plans = list(selectors.plans(org))
    return render(
        request,
        "incentives/home.html",
        {"mine": mine, "plans": all_plans, "current": "incentives-home"},
    )


@require_GET
def plan_detail(request: HttpRequest, org_slug: str, plan_id: int) -> HttpResponse:
    plan = _plan_access(request, plan_id)
    org = request.organization  # type: ignore[attr-defined]
    period = _period(request, plan)
    now = timezone.now()
    views = selectors.visible_statements(org, request.membership, plan, period, now=now)  # type: ignore[attr-defined]
    close = selectors.period_close_of(plan, period)
    context = {
        "plan": plan,
        "period": period,
        "periods": selectors.recent_periods(plan, org, now=now),
        "rows": _rows(plan, views),
        "close": close,
        "can_close": has_perm(request.membership, "incentives.manage")  # type: ignore[attr-defined]
        and close is None
        and now >= period.end,
        "running": period.contains(now),
        "participants": selectors.participants(plan),
    }
    return render(request, "incentives/plan.html", context)


@require_GET
def statement_detail(
    request: HttpRequest, org_slug: str, plan_id: int, user_id: int
) -> HttpResponse:
    plan = _plan_access(request, plan_id)
    org = request.organization  # type: ignore[attr-defined]
    if not selectors.can_see_statement(request.membership, User(pk=user_id)):  # type: ignore[attr-defined]
        raise PermissionDenied("incentives.view_all")
    period = _period(request, plan)
    views = selectors.statements(org, plan, period, users=[User(pk=user_id)])
    if not views:
        raise Http404
    view = views[0]
    context = {
        "plan": plan,
        "period": period,
        "statement": view,
        "lines": selectors.describe_lines(
            plan, view.lines, view.currency, basis=view.basis, measure=view.measure
        ),
        "forecast_lines": selectors.describe_lines(plan, view.forecast.lines, view.currency)
        if view.forecast
        else [],
        "forecast_achievement": selectors.basis_value(
            view.basis, view.forecast_achievement, view.currency
        )
        if view.forecast_achievement is not None
        else "",
    }
    return render(request, "incentives/statement.html", context)


def _member_choices(org) -> list[tuple[str, str]]:
    return [
        (str(m.user_id), f"{m.user.get_full_name() or m.user.email} · {m.get_role_display()}")
        for m in org_members(org).select_related("user")
    ]


def _edit(request: HttpRequest, plan: BonusPlan | None) -> HttpResponse:
    membership = _require(request, "incentives.manage")
    org = request.organization  # type: ignore[attr-defined]
    choices = _member_choices(org)
    if request.method == "POST":
        form = PlanForm(request.POST, member_choices=choices)
        if form.is_valid():
            data, member_ids = form.plan_data()
            try:
                saved = services.plan_save(
                    actor=membership,
                    organization=org,
                    data=data,
                    member_ids=member_ids,
                    plan=plan,
                )
            except permissions.PermissionDenied as error:
                raise PermissionDenied(str(error)) from error
            except services.IncentiveError as error:
                put_errors(form, error.fields or {"__all__": [error.message]})
            else:
                messages.success(request, _("Plan saved."))
                return redirect("incentives-plan", org_slug=org.slug, plan_id=saved.pk)
        status = 400
    else:
        initial = PlanForm.initial_for(plan) if plan else {"active": True}
        form = PlanForm(initial=initial, member_choices=choices)
        status = 200
    return render(request, "incentives/plan_form.html", {"form": form, "plan": plan}, status=status)


@require_http_methods(["GET", "POST"])
def plan_new(request: HttpRequest, org_slug: str) -> HttpResponse:
    return _edit(request, None)


@require_http_methods(["GET", "POST"])
def plan_edit(request: HttpRequest, org_slug: str, plan_id: int) -> HttpResponse:
    _require(request, "incentives.manage")
    plan = selectors.get_plan_for_org(request.organization, plan_id)  # type: ignore[attr-defined]
    return _edit(request, plan)


@require_POST
def plan_close(request: HttpRequest, org_slug: str, plan_id: int) -> HttpResponse:
    membership = _require(request, "incentives.manage")
    org = request.organization  # type: ignore[attr-defined]
    plan = selectors.get_plan_for_org(org, plan_id)
    period = _period(request, plan) if request.GET.get("period") else None
    raw = request.POST.get("period") or (period.first_day.isoformat() if period else "")
    try:
        period = services.plan_period_or_error(plan, org, raw)
        services.period_close(
            actor=membership, organization=org, plan=plan, first_day=period.first_day
        )
    except services.IncentiveError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Period closed: the statements are final."))
    url = reverse("incentives-plan", kwargs={"org_slug": org.slug, "plan_id": plan.pk})
    return redirect(f"{url}?period={raw}" if raw else url)


@require_GET
def plan_export(request: HttpRequest, org_slug: str, plan_id: int) -> HttpResponse:
    """Payroll CSV: one row per participant for the period (managers)."""
    _require(request, "incentives.view_all")
    org = request.organization  # type: ignore[attr-defined]
    plan = selectors.get_plan_for_org(org, plan_id)
    period = _period(request, plan)
    views = selectors.statements(org, plan, period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"bonus-{plan.pk}-{period.first_day.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "email",
            "name",
            "plan",
            "period_start",
            "period_end",
            "basis",
            "achievement",
            "multiplier",
            "payout",
            "currency",
            "status",
        ]
    )
    for view in views:
        writer.writerow(
            [
                _cell(cell)
                for cell in (
                    view.user.email,
                    view.user.get_full_name(),
                    plan.name,
                    period.first_day.isoformat(),
                    period.last_day.isoformat(),
                    view.basis,
                    f"{view.achievement:.2f}",
                    f"{view.multiplier.normalize():f}",
                    f"{view.payout:.2f}",
                    view.currency,
                    "final" if view.final else "provisional",
                )
            ]
        )
    return response
