"""Writes of the incentives app: plans (managers only) and closing a period.

Keyword-only, atomic; a refusal is an ``IncentiveError`` (4xx at the edge) or the
tenancy ``PermissionDenied`` (403).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import require_perm

from . import engine, periods, selectors
from .models import Basis, BonusPlan, Measure, PeriodClose, PeriodKind, PlanMember, Statement

User = get_user_model()

PLAN_FIELDS = (
    "name",
    "period_kind",
    "basis",
    "measure",
    "team_role",
    "rate",
    "tiers",
    "sla_tiers",
    "cap",
    "active",
)


class IncentiveError(ServiceError):
    pass


# Bounds (a plan is typed by hand; beyond these a figure is a typo, and it would not
# fit the statements' columns or the Decimal context when a period is closed).
MAX_SHARE_RATE = Decimal("10")  # 1000 % of revenue
MAX_AMOUNT_RATE = Decimal("1000000")  # per SQL
MAX_THRESHOLD = Decimal("1e12")  # exclusive
MAX_MULTIPLIER = Decimal("10")
MULTIPLIER_PLACES = 3
MAX_COMPLIANCE = Decimal("100")
MIN_YEAR, MAX_YEAR = 2000, 2100
# Locked once the plan has a closed period: changing them would re-read the frozen
# statements under another meaning (a January close read as Q1, revenue read as SQLs).
LOCKED_WHEN_CLOSED = ("period_kind", "basis", "measure")


def _plain_decimal(value: Any) -> Decimal:
    """A finite decimal written without an exponent; ValueError otherwise (NaN,
    Infinity, ``1E+100000``)."""
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    if isinstance(value, Decimal):
        if not value.is_finite() or "E" in str(value).upper():
            raise ValueError("not a plain number")
        return value
    text = str(value).strip()
    if not engine.PLAIN_NUMBER.fullmatch(text):
        raise ValueError("not a plain number")
    return Decimal(text)


def _rate_limit(basis: Any) -> Decimal:
    return MAX_AMOUNT_RATE if basis == Basis.SQLS else MAX_SHARE_RATE


def _check_tiers(raw: Any, key: str, *, threshold_ok, value_max: Decimal, places=None) -> None:
    """ValueError unless every tier is ``{"from": plain, key: plain}`` within bounds."""
    if not isinstance(raw, list | tuple | type(None)):
        raise ValueError("tiers are a list")
    for item in raw or []:
        if not isinstance(item, dict) or "from" not in item or key not in item:
            raise ValueError("malformed tier")
        start, value = _plain_decimal(item["from"]), _plain_decimal(item[key])
        if not threshold_ok(start) or not (0 <= value <= value_max):
            raise ValueError("out of bounds")
        if places is not None and -value.normalize().as_tuple().exponent > places:
            raise ValueError("too many decimals")


def _validate(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not str(data.get("name") or "").strip():
        errors["name"] = [_("A plan needs a name.")]
    if data.get("period_kind") not in PeriodKind.values:
        errors["period_kind"] = [_("Choose a month or a quarter.")]
    if data.get("basis") not in Basis.values:
        errors["basis"] = [_("Choose what the bonus is based on.")]
    if data.get("measure") not in Measure.values:
        errors["measure"] = [_("Choose whose results count.")]
    rate_max = _rate_limit(data.get("basis"))
    try:
        _check_tiers(
            data.get("tiers"),
            "rate",
            threshold_ok=lambda start: 0 <= start < MAX_THRESHOLD,
            value_max=rate_max,
        )
        tiers = engine.parse_tiers(data.get("tiers"), "rate")
    except ValueError:
        errors["tiers"] = [
            _(
                "Each tier needs a threshold (0 to 999,999,999,999) and a rate (0 to "
                "%(max)s), written as plain numbers."
            )
            % {"max": rate_max}
        ]
        tiers = []
    rate = data.get("rate")
    if rate is not None:
        try:
            rate = _plain_decimal(rate)
        except ValueError:
            errors["rate"] = [_("The rate must be a plain number.")]
        else:
            if rate < 0:
                errors["rate"] = [_("The rate cannot be negative.")]
            elif rate > rate_max:
                errors["rate"] = [
                    _("The rate cannot exceed %(max)s.")
                    % {"max": "1000 %" if rate_max == MAX_SHARE_RATE else rate_max}
                ]
    if (rate is None) == (not tiers) and "tiers" not in errors and "rate" not in errors:
        errors["rate"] = [_("Give either a flat rate or tiers (not both).")]
    if tiers and tiers[0].start != 0 and "tiers" not in errors:
        errors["tiers"] = [_("The first tier starts at 0.")]
    try:
        _check_tiers(
            data.get("sla_tiers"),
            "multiplier",
            threshold_ok=lambda start: 0 <= start <= MAX_COMPLIANCE,
            value_max=MAX_MULTIPLIER,
            places=MULTIPLIER_PLACES,
        )
        engine.parse_tiers(data.get("sla_tiers"), "multiplier")
    except ValueError:
        errors["sla_tiers"] = [
            _(
                "Each SLA tier needs a compliance threshold (0 to 100 %) and a multiplier "
                "(0 to 10, at most 3 decimals)."
            )
        ]
    cap = data.get("cap")
    if cap is not None:
        try:
            cap = _plain_decimal(cap)
        except ValueError:
            errors["cap"] = [_("The cap must be a plain number.")]
        else:
            if cap < 0:
                errors["cap"] = [_("The cap cannot be negative.")]
            elif cap >= MAX_THRESHOLD:
                errors["cap"] = [_("The cap must be below 1,000,000,000,000.")]
    return errors


def _locked_changes(plan: BonusPlan | None, data: dict[str, Any]) -> dict[str, list[str]]:
    """Once a period of the plan is closed, its period, basis and measure stay."""
    if plan is None or plan.pk is None:
        return {}
    changed = [
        name for name in LOCKED_WHEN_CLOSED if name in data and data[name] != getattr(plan, name)
    ]
    closes = PeriodClose.objects.for_org(plan.organization_id).filter(plan=plan)
    if not changed or not closes.exists():
        return {}
    message = _(
        "A period of this plan is closed: this cannot change any more. Create a new plan instead."
    )
    return {name: [message] for name in changed}


def _set_members(plan: BonusPlan, user_ids: list[int]) -> None:
    org_id = plan.organization_id
    valid = set(
        Membership.objects.for_org(org_id)
        .filter(user_id__in=user_ids)
        .values_list("user_id", flat=True)
    )
    if valid != set(user_ids):
        raise IncentiveError(
            _("Participants must be members of the organization."),
            fields={"members": [_("Participants must be members of the organization.")]},
        )
    PlanMember.objects.for_org(org_id).filter(plan=plan).exclude(user_id__in=valid).delete()
    existing = set(
        PlanMember.objects.for_org(org_id).filter(plan=plan).values_list("user_id", flat=True)
    )
    PlanMember.objects.bulk_create(
        [PlanMember(organization_id=org_id, plan=plan, user_id=uid) for uid in valid - existing]
    )


@transaction.atomic
def plan_save(
    *,
    actor: Membership,
    organization: Organization,
    data: dict[str, Any],
    member_ids: list[int] | None = None,
    plan: BonusPlan | None = None,
) -> BonusPlan:
    """Create (``plan=None``) or update a bonus plan; ``member_ids`` replaces its
    explicit participants. Managers only (``incentives.manage``)."""
    require_perm(actor, "incentives.manage")
    data = {**{name: getattr(plan, name) for name in PLAN_FIELDS if plan}, **data}
    data.setdefault("measure", Measure.OWN)
    data.setdefault("tiers", [])
    data.setdefault("sla_tiers", [])
    data.setdefault("team_role", "")
    data.setdefault("active", True)
    errors = _validate(data)
    errors.update(_locked_changes(plan, data))
    if member_ids is not None:
        has_members = bool(member_ids)
    else:
        has_members = plan is not None and plan.members.exists()
    if not errors and not data.get("team_role") and not has_members:
        errors["members"] = [_("Choose a team (role) or at least one participant.")]
    if errors:
        raise IncentiveError(_("The plan is not valid."), fields=errors)
    if plan is None:
        plan = BonusPlan(organization=organization, created_by=getattr(actor, "user", None))
    for name in PLAN_FIELDS:
        if name in data:
            setattr(plan, name, data[name])
    plan.name = plan.name.strip()
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise IncentiveError(
            _("A plan with this name already exists."),
            fields={"name": [_("A plan with this name already exists.")]},
        ) from None
    if member_ids is not None:
        _set_members(plan, member_ids)
    return plan


@transaction.atomic
def period_close(
    *,
    actor: Membership,
    organization: Organization,
    plan: BonusPlan,
    first_day,
    now: datetime | None = None,
) -> PeriodClose:
    """Freeze a finished period: every participant's statement is computed one last
    time and stored; from then on it is read, never recomputed. Managers only."""
    require_perm(actor, "incentives.manage")
    now = now or timezone.now()
    period = selectors.plan_period(plan, organization, first_day)
    if now < period.end:
        raise IncentiveError(_("A period can be closed once it has ended."), code="period_running")
    if selectors.period_close_of(plan, period) is not None:
        raise IncentiveError(_("This period is already closed."), code="already_closed", status=409)
    live = selectors.live_statements(organization, plan, period, now=now)
    try:
        with transaction.atomic():
            close = PeriodClose.objects.create(
                organization=organization,
                plan=plan,
                period_start=period.first_day,
                period_end=period.last_day,
                closed_by=getattr(actor, "user", None),
                closed_at=now,
            )
    except IntegrityError:
        raise IncentiveError(
            _("This period is already closed."), code="already_closed", status=409
        ) from None
    Statement.objects.bulk_create(
        [
            Statement(
                organization=organization,
                plan=plan,
                close=close,
                user=view.user,
                period_start=period.first_day,
                period_end=period.last_day,
                basis=plan.basis,
                measure=plan.measure,
                achievement=view.achievement,
                multiplier=view.multiplier,
                payout=view.payout,
                currency=view.currency,
                lines=view.lines,
                created_at=now,
            )
            for view in live
        ]
    )
    return close


def plan_period_or_error(
    plan: BonusPlan, organization: Organization, raw: str | None
) -> periods.PlanPeriod:
    """``?period=YYYY-MM-DD`` (any day of it) → the plan's period; 400 if malformed."""
    from django.utils.dateparse import parse_date

    if not raw:
        return selectors.plan_period(plan, organization)
    try:
        day = parse_date(raw)
    except ValueError:  # well formed, not a day of the calendar
        day = None
    if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
        raise IncentiveError(
            _("Give a period between %(min)s and %(max)s.") % {"min": MIN_YEAR, "max": MAX_YEAR},
            fields={"period": [_("Give a period between 2000 and 2100.")]},
        )
    if day is None:
        raise IncentiveError(
            _("Give the period as a date (YYYY-MM-DD)."),
            fields={"period": [_("Give the period as a date (YYYY-MM-DD).")]},
        )
    return selectors.plan_period(plan, organization, day)
