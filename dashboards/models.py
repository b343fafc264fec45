"""KPI targets and the daily rollups behind fast reads of long periods.

- ``KpiTarget``: the value a team aims at for one KPI per week or month, optionally for
  one segment (source, campaign, owner, grade).
- ``DailyKpi``: additive facts of one local day (org time zone), one row per metric and
  segment key (the lead's source, first campaign, owner, grade at build time). Stage
  entries are distinct leads per day; a re-entry row (``prev_day`` set) says that the
  same lead had entered the same stage on an earlier day, so that a period counts each
  lead once per stage (see ``dashboards.rollups``).
- ``RollupState``: per organization, the last local day whose rollups are complete, the
  first day changed since (``dirty_from``), and the time zone and layout they were built in.

Every table is under row-level security (migration 0002).
"""

from __future__ import annotations

import calendar
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel

if TYPE_CHECKING:
    from .kpis import Period, Segment


class KpiTarget(TenantModel):
    class Kpi(models.TextChoices):
        NEW_LEADS = "new_leads", _("New leads")
        MQLS = "mqls", _("MQLs")
        SALS = "sals", _("SALs")
        SQLS = "sqls", _("SQLs")
        ACCEPTANCE_RATE = "acceptance_rate", _("Acceptance rate")
        MQL_TO_SQL_RATE = "mql_to_sql_rate", _("MQL → SQL conversion")
        SPEED_TO_LEAD = "speed_to_lead_minutes", _("Speed to lead (minutes)")
        SLA_RATE = "sla_rate", _("SLA compliance")
        PIPELINE_CREATED = "pipeline_created", _("Pipeline created")
        REVENUE_WON = "revenue_won", _("Revenue won")
        DEALS_WON = "deals_won", _("Deals won")
        MARKETING_SOURCED_REVENUE = "marketing_sourced_revenue", _("Marketing-sourced revenue")
        MARKETING_SOURCED_SHARE = "marketing_sourced_share", _("Marketing-sourced share")
        NEW_CUSTOMERS = "new_customers", _("New customers")
        CAC = "cac", _("CAC")

    class PeriodKind(models.TextChoices):
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")

    kpi = models.CharField(_("KPI"), max_length=32, choices=Kpi.choices)
    period_kind = models.CharField(_("period"), max_length=5, choices=PeriodKind.choices)
    # Rates and shares as 0..1, amounts in the organization's currency.
    value = models.DecimalField(_("target"), max_digits=14, decimal_places=4)
    source = models.CharField(_("source"), max_length=20, blank=True)
    campaign = models.ForeignKey(
        "leads.Campaign",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("campaign"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    grade = models.CharField(_("grade"), max_length=1, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        ordering = ["kpi", "period_kind"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                "kpi",
                "period_kind",
                "source",
                models.functions.Coalesce("campaign", 0),
                models.functions.Coalesce("owner", 0),
                "grade",
                name="kpi_target_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kpi_display()} / {self.get_period_kind_display()}: {self.value}"

    @classmethod
    def targets_for(cls, organization, period: Period, segment: Segment) -> dict[str, Decimal]:
        """The target of each KPI for ``period`` and exactly ``segment``: a week's or a
        month's target as set; for other lengths, volume targets prorated by days from
        the monthly target, month by month (10 days of a 31-day month and 5 of a 30-day
        one are 10/31 + 5/30 of it; else the weekly one by days / 7), rate targets as
        set."""
        from .kpis import VOLUME_KPIS

        rows = cls.objects.for_org(organization).filter(
            source=segment.source,
            campaign_id=segment.campaign_id,
            owner_id=segment.owner_id,
            grade=segment.grade,
        )
        by_kind: dict[str, dict[str, Decimal]] = {"week": {}, "month": {}}
        for kpi, kind, value in rows.values_list("kpi", "period_kind", "value"):
            by_kind[kind][kpi] = value
        kind = period.kind
        out: dict[str, Decimal] = {}
        for kpi in {*by_kind["week"], *by_kind["month"]}:
            if kind in by_kind and kpi in by_kind[kind]:
                value = by_kind[kind][kpi]
            elif kpi not in VOLUME_KPIS:
                value = by_kind["month"].get(kpi, by_kind["week"].get(kpi))
            elif kpi in by_kind["month"]:
                value = by_kind["month"][kpi] * _months_covered(period)
            else:
                value = by_kind["week"][kpi] * period.days / 7
            # Rates as written (0.5, not 0.5000), and never in exponent form (60, not 6E+1).
            out[kpi] = (
                value.quantize(Decimal("0.01"))
                if kpi in VOLUME_KPIS
                else Decimal(f"{value.normalize():f}")
            )
        return out


def _months_covered(period: Period) -> Decimal:
    """How many months the period's days make, each day counted as a fraction of its
    own month."""
    from datetime import timedelta

    total = Decimal(0)
    day, last = period.first_day, period.last_day
    while day <= last:
        month_days = calendar.monthrange(day.year, day.month)[1]
        month_last = day.replace(day=month_days)
        days = (min(month_last, last) - day).days + 1
        total += Decimal(days) / Decimal(month_days)
        day = month_last + timedelta(days=1)
    return total


class DailyKpi(TenantModel):
    day = models.DateField()
    metric = models.CharField(max_length=32)
    source = models.CharField(max_length=20, blank=True)
    campaign_id = models.BigIntegerField(null=True)
    owner_id = models.BigIntegerField(null=True)
    grade = models.CharField(max_length=1, blank=True)
    # Re-entry rows only: the local day of the same lead's previous entry to the stage.
    prev_day = models.DateField(null=True)
    count = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("daily KPI rollup")
        verbose_name_plural = _("daily KPI rollups")
        indexes = [models.Index(fields=["organization", "day", "metric"], name="dailykpi_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.count}"


class RollupState(TenantModel):
    # Rollups hold every local day up to this one (inclusive); later days are live.
    built_through = models.DateField(null=True, blank=True)
    built_at = models.DateTimeField(default=timezone.now)
    # When the whole history was last rebuilt.
    full_at = models.DateTimeField(null=True, blank=True)
    # The layout of the rows (``rollups.VERSION``): another one is rebuilt, never read.
    version = models.PositiveSmallIntegerField(default=0)
    # The first local day whose rows were changed after it was built (a backdated deal,
    # an edited decision, a late event): from it on, reads are live until ``refresh``
    # rebuilds it.
    dirty_from = models.DateField(null=True, blank=True)
    # The organization's time zone the days were cut in: another one is rebuilt.
    time_zone = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="rollup_state_one_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.built_through}"
