"""Reads of the incentives app: plans, participants, statements (live, frozen, forecast).

Every number agrees with the one KPI layer for the same person and period: the
participants' figures are read at once with its definitions (``basis_by_owner``, tested
equal to ``dashboards.kpis.compute`` with ``Segment(owner_id=...)``), the
organization's with ``kpis.compute``; SLA compliance from
``sla.selectors.compliance_by_owner`` / ``compliance``.

Visibility: a participant sees their own statements; ``incentives.view_all`` sees
everyone's. ``visible_statements`` applies it; views and the API call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, Q, Sum
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import has_perm
from smarketing.tenancy.selectors import get_object_for_org

from . import engine, periods
from .models import Basis, BonusPlan, Measure, PeriodClose, PlanMember, Statement

User = get_user_model()


def get_plan_for_org(organization: Organization, plan_id: Any) -> BonusPlan:
    return get_object_for_org(BonusPlan, organization, pk=plan_id)


def plans(organization: Organization, *, active_only: bool = False):
    qs = BonusPlan.objects.for_org(organization)
    if active_only:
        qs = qs.filter(active=True)
    return qs.order_by("name", "pk")


def participants(plan: BonusPlan) -> list:
    """The plan's participants: members holding its role, plus its explicit members
    (current members of the organization only), by name."""
    org_id = plan.organization_id
    explicit = PlanMember.objects.for_org(org_id).filter(plan=plan).values("user_id")
    condition = Q(user_id__in=explicit)
    if plan.team_role:
        condition |= Q(role=plan.team_role)
    user_ids = Membership.objects.for_org(org_id).filter(condition).values("user_id")
    return list(User.objects.filter(pk__in=user_ids).order_by("full_name", "email"))


def plans_of(organization: Organization, user) -> list[BonusPlan]:
    """Active plans the user takes part in."""
    return [plan for plan in plans(organization, active_only=True) if is_participant(plan, user)]


def is_participant(plan: BonusPlan, user) -> bool:
    if PlanMember.objects.for_org(plan.organization_id).filter(plan=plan, user=user).exists():
        return True
    return bool(plan.team_role) and (
        Membership.objects.for_org(plan.organization_id)
        .filter(user=user, role=plan.team_role)
        .exists()
    )


def plan_period(
    plan: BonusPlan,
    organization: Organization,
    first_day: date | None = None,
    *,
    now: datetime | None = None,
) -> periods.PlanPeriod:
    if first_day is None:
        return periods.period_at(organization.time_zone, plan.period_kind, now or timezone.now())
    return periods.period_of(organization.time_zone, plan.period_kind, first_day)


def recent_periods(
    plan: BonusPlan, organization: Organization, *, now: datetime | None = None, count: int = 6
) -> list[periods.PlanPeriod]:
    return periods.recent(organization.time_zone, plan.period_kind, now or timezone.now(), count)


def period_close_of(plan: BonusPlan, period: periods.PlanPeriod) -> PeriodClose | None:
    return (
        PeriodClose.objects.for_org(plan.organization_id)
        .filter(plan=plan, period_start=period.first_day)
        .first()
    )


# --- measurement (KPI layer, SLA) ----------------------------------------------------

_UNSET = object()


def basis_by_owner(
    organization: Organization, basis: str, period: periods.PlanPeriod, owner_ids: Iterable[int]
) -> dict[int, Decimal]:
    """``{owner_id: the basis KPI}`` for every owner at once — what
    ``kpis.compute(..., Segment(owner_id=owner_id))`` gives for ``basis``, grouped by
    owner instead of one owner per call: one query whatever the number of owners.

    The same definitions as the KPI layer's additive counts (``dashboards.rollups.live``:
    deals won by ``closed_at``, marketing-sourced when the lead had a marketing touch
    before the deal was created — ``rollups._touched_before_deal`` —; SQLs as distinct
    leads entering SQL in the period), on the owner segment's condition (the lead's
    current owner, ``Segment.lead_q``). A segment is read from the live rows: the
    rollups keep each fact under the owner of the day it was built, the owner segment
    promises the current one."""
    from dashboards import kpis, rollups
    from leads.models import Deal, LifecycleTransition, Stage

    ids = sorted({pk for pk in owner_ids if pk})
    if not ids:
        return {}
    org = organization
    start, end = period.start, period.end
    if basis == Basis.SQLS:
        rows = (
            LifecycleTransition.objects.for_org(org)
            .filter(lead__owner_id__in=ids, to_stage=Stage.SQL, at__gte=start, at__lt=end)
            .order_by()
            .values("lead__owner_id")
            .annotate(n=Count("lead_id", distinct=True))
        )
        found = {row["lead__owner_id"]: Decimal(row["n"]) for row in rows}
        return {pk: found.get(pk, Decimal(0)) for pk in ids}
    won = (
        Deal.objects.for_org(org)
        .filter(
            lead__owner_id__in=ids,
            status=Deal.Status.WON,
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .annotate(marketing=Exists(rollups._touched_before_deal(org)))
        .order_by()
        .values("lead__owner_id")
    )
    if basis == Basis.MARKETING_SOURCED_REVENUE:
        won = won.annotate(total=Sum("amount", filter=Q(marketing=True)))
    else:
        won = won.annotate(total=Sum("amount"))
    found = {row["lead__owner_id"]: row["total"] for row in won}
    return {pk: kpis._money(found.get(pk)) for pk in ids}


class Measurer:
    """Measures achievements and compliance for one plan and period, for every
    participant at once: one grouped read of the basis (``basis_by_owner``) and one of
    SLA compliance (``sla.selectors.compliance_by_owner``); the organization's figures
    (``measure = organization``) with one ``kpis.compute`` and one ``compliance``."""

    def __init__(
        self,
        organization: Organization,
        plan: BonusPlan,
        period: periods.PlanPeriod,
        owner_ids: Iterable[int] = (),
    ) -> None:
        self.organization, self.plan, self.period = organization, plan, period
        self.owner_ids = list(owner_ids)
        self._values: dict[int, Decimal] | None = None
        self._org_value: Decimal | None = None
        self._compliance: dict[int, Any] | None = None
        self._org_compliance: Any = _UNSET

    def _value(self, owner_id: int | None) -> Decimal:
        if owner_id is None:
            if self._org_value is None:
                from dashboards import kpis

                kpi_set = kpis.compute(
                    self.organization, kpis.Period(self.period.start, self.period.end)
                )
                self._org_value = engine.to_decimal(getattr(kpi_set, self.plan.basis) or 0)
            return self._org_value
        if self._values is None:
            self._values = basis_by_owner(
                self.organization, self.plan.basis, self.period, self.owner_ids
            )
        return self._values.get(owner_id, Decimal(0))

    def _sla(self, owner_id: int | None):
        """The owner's (``None``: the organization's) ``Compliance``, or None when the
        SLA layer is not there or (an owner) no clock of theirs was due."""
        from sla import selectors as sla_selectors

        if owner_id is None:
            if self._org_compliance is _UNSET:
                self._org_compliance = sla_selectors.compliance(
                    self.organization, start=self.period.start, end=self.period.end
                )
            return self._org_compliance
        if self._compliance is None:
            self._compliance = {
                pk: value
                for pk, _label, value in sla_selectors.compliance_by_owner(
                    self.organization, start=self.period.start, end=self.period.end
                )
                if pk
            }
        return self._compliance.get(owner_id)

    def achievement(self, user, team: Iterable) -> Decimal:
        if self.plan.measure == Measure.OWN:
            return self._value(user.pk)
        if self.plan.measure == Measure.TEAM:
            return sum((self._value(member.pk) for member in team), Decimal(0))
        return self._value(None)

    def compliance(self, user, team: Iterable) -> float | None:
        if self.plan.measure == Measure.OWN:
            result = self._sla(user.pk)
            return None if result is None else result.rate
        if self.plan.measure == Measure.TEAM:
            met = breached = 0
            for member in team:
                result = self._sla(member.pk)
                if result is not None:
                    met, breached = met + result.met, breached + result.breached
            return met / (met + breached) if met + breached else None
        result = self._sla(None)
        return None if result is None else result.rate


def compute_for(
    plan: BonusPlan, *, achievement: Decimal, compliance: float | None
) -> engine.Computation:
    return engine.compute_payout(
        achievement=achievement,
        rate=plan.rate,
        tiers=engine.parse_tiers(plan.tiers, "rate"),
        sla_tiers=engine.parse_tiers(plan.sla_tiers, "multiplier"),
        compliance=compliance,
        cap=plan.cap,
    )


@dataclass
class StatementView:
    plan: BonusPlan
    user: Any
    period: periods.PlanPeriod
    achievement: Decimal
    multiplier: Decimal
    payout: Decimal
    currency: str
    lines: list[dict]
    final: bool  # stored when the period was closed; otherwise computed live
    closed_at: datetime | None = None
    forecast: engine.Computation | None = None  # the running period only
    forecast_achievement: Decimal | None = None
    # What was measured: the plan's now, or as stored when the period was closed.
    basis: str = ""
    measure: str = ""

    def __post_init__(self) -> None:
        self.basis = self.basis or self.plan.basis
        self.measure = self.measure or self.plan.measure


def _forecast(
    plan: BonusPlan, period: periods.PlanPeriod, computation: engine.Computation, now: datetime
) -> tuple[Decimal | None, engine.Computation | None]:
    """Linear run-rate to the period's end: achievement so far ÷ share elapsed."""
    if not period.contains(now):
        return None, None
    share = period.elapsed_share(now)
    if share <= 0:
        return None, None
    projected = engine.cents(computation.achievement / engine.to_decimal(round(share, 6)))
    return projected, compute_for(plan, achievement=projected, compliance=computation.compliance)


def live_statements(
    organization: Organization,
    plan: BonusPlan,
    period: periods.PlanPeriod,
    *,
    users: Iterable | None = None,
    now: datetime | None = None,
) -> list[StatementView]:
    """Statements computed now (an open period), with the forecast for a running one."""
    now = now or timezone.now()
    team = participants(plan)
    wanted = team if users is None else [u for u in team if u.pk in {x.pk for x in users}]
    measurer = Measurer(organization, plan, period, [member.pk for member in team])
    result = []
    for user in wanted:
        computation = compute_for(
            plan,
            achievement=measurer.achievement(user, team),
            compliance=measurer.compliance(user, team),
        )
        projected, forecast = _forecast(plan, period, computation, now)
        result.append(
            StatementView(
                plan=plan,
                user=user,
                period=period,
                achievement=computation.achievement,
                multiplier=computation.multiplier,
                payout=computation.payout,
                currency=organization.currency,
                lines=computation.lines,
                final=False,
                forecast=forecast,
                forecast_achievement=projected,
                basis=plan.basis,
                measure=plan.measure,
            )
        )
    return result


def _stored(
    plan: BonusPlan, period: periods.PlanPeriod, close: PeriodClose, users: Iterable | None
) -> list[StatementView]:
    rows = (
        Statement.objects.for_org(plan.organization_id).filter(close=close).select_related("user")
    )
    if users is not None:
        rows = rows.filter(user_id__in=[u.pk for u in users])
    return [
        StatementView(
            plan=plan,
            user=row.user,
            period=period,
            achievement=row.achievement,
            multiplier=row.multiplier,
            payout=row.payout,
            currency=row.currency,
            lines=row.lines,
            final=True,
            closed_at=close.closed_at,
            basis=row.basis,  # blank on rows frozen before it was stored: the plan's
            measure=row.measure,
        )
        for row in rows.order_by("user__full_name", "user__email")
    ]


def statements(
    organization: Organization,
    plan: BonusPlan,
    period: periods.PlanPeriod,
    *,
    users: Iterable | None = None,
    now: datetime | None = None,
) -> list[StatementView]:
    """Frozen statements of a closed period, else live ones."""
    close = period_close_of(plan, period)
    if close is not None:
        return _stored(plan, period, close, users)
    return live_statements(organization, plan, period, users=users, now=now)


def visible_statements(
    organization: Organization,
    membership,
    plan: BonusPlan,
    period: periods.PlanPeriod,
    *,
    now: datetime | None = None,
) -> list[StatementView]:
    """Everyone's for ``incentives.view_all``; otherwise the member's own (if any)."""
    if has_perm(membership, "incentives.view_all"):
        return statements(organization, plan, period, now=now)
    user = getattr(membership, "user", None)
    if user is None:
        return []
    return statements(organization, plan, period, users=[user], now=now)


def can_see_statement(membership, user) -> bool:
    if has_perm(membership, "incentives.view_all"):
        return True
    return getattr(membership, "user_id", None) == user.pk


# --- presentation ----------------------------------------------------------------------


def _number(value: Any, places: int = 2) -> str:
    return formats.number_format(Decimal(str(value)), places, use_l10n=True, force_grouping=True)


def _basis_of(plan_or_basis: Any) -> str:
    return plan_or_basis if isinstance(plan_or_basis, str) else plan_or_basis.basis


def basis_value(plan_or_basis: Any, value: Any, currency: str) -> str:
    """``value`` of the basis (a plan, or a basis code such as a statement's)."""
    if _basis_of(plan_or_basis) == Basis.SQLS:
        decimal = Decimal(str(value))
        places = 0 if decimal == decimal.to_integral() else 1
        return _number(value, places)
    return f"{_number(value)} {currency}"


def money(value: Any, currency: str) -> str:
    return f"{_number(value)} {currency}"


def rate_text(plan_or_basis: Any, rate: Any, currency: str) -> str:
    if _basis_of(plan_or_basis) == Basis.SQLS:
        return _("%(amount)s per SQL") % {"amount": money(rate, currency)}
    percent = (Decimal(str(rate)) * 100).normalize()
    places = min(max(-percent.as_tuple().exponent, 0), 2)
    return f"{_number(percent, places)} %"


def _choice(choices, code: str, fallback: str) -> str:
    try:
        return str(choices(code).label)
    except ValueError:
        return fallback


def describe_lines(
    plan: BonusPlan,
    lines: list[dict],
    currency: str,
    *,
    basis: str = "",
    measure: str = "",
) -> list[dict]:
    """Each stored line as ``{"label", "detail", "amount"}`` in the reader's language.
    ``basis`` and ``measure``: the statement's (a frozen one keeps those of its close);
    default: the plan's."""
    basis = basis or plan.basis
    measure = measure or plan.measure
    out = []
    for line in lines:
        code = line.get("code")
        if code == "achievement":
            out.append(
                {
                    "label": _("%(basis)s in the period") % {"basis": _choice(Basis, basis, basis)},
                    "detail": _choice(Measure, measure, measure),
                    "amount": basis_value(basis, line["value"], currency),
                }
            )
        elif code == "rate":
            out.append(
                {
                    "label": _("Rate"),
                    "detail": f"{basis_value(basis, line['base'], currency)} × "
                    f"{rate_text(basis, line['rate'], currency)}",
                    "amount": money(line["amount"], currency),
                }
            )
        elif code == "tier":
            if line["to"] is None:
                span = _("above %(start)s") % {"start": basis_value(basis, line["from"], currency)}
            else:
                span = _("%(start)s to %(end)s") % {
                    "start": basis_value(basis, line["from"], currency),
                    "end": basis_value(basis, line["to"], currency),
                }
            out.append(
                {
                    "label": _("Tier %(index)s (%(span)s)")
                    % {"index": line["index"], "span": span},
                    "detail": f"{basis_value(basis, line['portion'], currency)} × "
                    f"{rate_text(basis, line['rate'], currency)}",
                    "amount": money(line["amount"], currency),
                }
            )
        elif code == "subtotal":
            out.append(
                {"label": _("Subtotal"), "detail": "", "amount": money(line["amount"], currency)}
            )
        elif code == "multiplier":
            if line["compliance"] is None:
                detail = _("no SLA deadline due in the period: ×1")
            else:
                detail = _("SLA compliance %(rate)s %% → ×%(multiplier)s") % {
                    "rate": _number(line["compliance"], 1),
                    "multiplier": _number(line["multiplier"], 2),
                }
            out.append(
                {
                    "label": _("SLA multiplier"),
                    "detail": detail,
                    "amount": money(line["amount"], currency),
                }
            )
        elif code == "cap":
            out.append(
                {
                    "label": _("Cap"),
                    "detail": _("the payout cannot exceed the cap"),
                    "amount": money(line["amount"], currency),
                }
            )
        elif code == "payout":
            out.append(
                {
                    "label": _("Payout"),
                    "detail": "",
                    "amount": money(line["amount"], currency),
                    "total": True,
                }
            )
    return out
