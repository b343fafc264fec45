"""Writes of the dashboards app: KPI targets and campaign spend (``dashboards.manage``).

Keyword-only and atomic; refused input raises ``DashboardError`` (a 400 at the edges).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from leads.models import Campaign, Lead
from smarketing.errors import ServiceError
from smarketing.tenancy.permissions import require_perm

from .models import KpiTarget

RATE_KPIS = frozenset({"acceptance_rate", "mql_to_sql_rate", "sla_rate", "marketing_sourced_share"})


class DashboardError(ServiceError):
    pass


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise DashboardError(_("Not a number."), fields={field: [_("Not a number.")]}) from None
    if not number.is_finite() or number < 0 or number >= Decimal("1e10"):
        raise DashboardError(_("A positive number."), fields={field: [_("A positive number.")]})
    return number


@transaction.atomic
def target_set(
    *,
    actor,
    kpi: str,
    period_kind: str,
    value,
    source: str = "",
    campaign: Campaign | None = None,
    owner=None,
    grade: str = "",
) -> KpiTarget | None:
    """Set the target of one KPI per week or month (for one segment if given); an
    empty ``value`` removes it. Rates and shares are 0..1 (0.75 for 75 %; the settings
    page converts the percent people type). Two managers saving the same target at
    once: one row, the last value."""
    require_perm(actor, "dashboards.manage")
    org = actor.organization
    errors = {}
    if kpi not in KpiTarget.Kpi.values:
        errors["kpi"] = [_("Unknown KPI.")]
    if period_kind not in KpiTarget.PeriodKind.values:
        errors["period_kind"] = [_("week or month")]
    if source and source not in Lead.Source.values:
        errors["source"] = [_("Unknown source.")]
    if grade and grade not in ("A", "B", "C", "D"):
        errors["grade"] = [_("A, B, C or D.")]
    if campaign is not None and campaign.organization_id != org.pk:
        errors["campaign"] = [_("Unknown campaign.")]
    if errors:
        raise DashboardError(_("Invalid target."), fields=errors)
    rows = KpiTarget.objects.for_org(org).filter(
        kpi=kpi,
        period_kind=period_kind,
        source=source,
        campaign=campaign,
        owner=owner,
        grade=grade,
    )
    if value in (None, ""):
        rows.delete()
        return None
    number = _decimal(value, "value")
    if kpi in RATE_KPIS and number > 1:
        raise DashboardError(
            _("A rate is between 0 and 1 (0.75 for 75 %)."),
            fields={"value": [_("A rate between 0 and 1.")]},
        )
    fields = {"value": number, "updated_by": getattr(actor, "user", None)}
    keys = {
        "kpi": kpi,
        "period_kind": period_kind,
        "source": source,
        "campaign": campaign,
        "owner": owner,
        "grade": grade,
    }
    for _attempt in range(2):
        try:
            with transaction.atomic():  # a savepoint: a concurrent insert is retried
                target, _created = KpiTarget.objects.for_org(org).update_or_create(
                    organization=org, **keys, defaults=fields
                )
            return target
        except IntegrityError:
            continue  # the other one inserted it: update it now
    raise DashboardError(_("The target kept changing; try again."), status=409, code="conflict")


@transaction.atomic
def campaign_spend_set(*, actor, campaign: Campaign, spend) -> Campaign:
    """A campaign's total spend (spread over its run days by the KPI layer)."""
    require_perm(actor, "dashboards.manage")
    if campaign.organization_id != actor.organization.pk:
        raise DashboardError(_("Unknown campaign."), status=404, code="not_found")
    amount = _decimal(spend, "spend")
    if amount.as_tuple().exponent < -2:
        raise DashboardError(_("At most 2 decimals."), fields={"spend": [_("At most 2 decimals.")]})
    Campaign.objects.for_org(actor.organization).filter(pk=campaign.pk).update(spend=amount)
    campaign.spend = amount
    return campaign


def targets(organization) -> list[KpiTarget]:
    """Every target of the organization, for the settings page."""
    return list(
        KpiTarget.objects.for_org(organization)
        .select_related("campaign", "owner")
        .order_by("kpi", "period_kind", "source", "grade", "pk")
    )
