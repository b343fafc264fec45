"""Bonus plans indexed on revenue (the guide's pillar 5) and their statements.

- ``BonusPlan``: what is paid, to whom, per ``month`` or ``quarter``. The **basis** is a
  KPI of the one KPI layer (revenue won, marketing-sourced revenue, SQLs), measured on
  the participant's own deals/leads, on the team's, or on the whole organization's
  ("index the marketers' bonus on the revenue sales brought in"). The payout is a flat
  ``rate`` or marginal ``tiers`` (each tier's rate applies to the part of the
  achievement above its threshold: higher rates up the ladder are the accelerators),
  optionally multiplied by an SLA compliance tier, and capped.
- Participants: the members holding ``team_role`` and/or the explicit ``PlanMember``
  rows.
- ``PeriodClose`` and ``Statement``: while a period is open, statements are computed
  live; when a manager closes the period, each participant's computation is stored as
  a ``Statement`` (its lines frozen as JSON) and never recomputed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel
from smarketing.tenancy.permissions import Role


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")


class Basis(models.TextChoices):
    REVENUE_WON = "revenue_won", _("Revenue won")
    MARKETING_SOURCED_REVENUE = "marketing_sourced_revenue", _("Marketing-sourced revenue")
    SQLS = "sqls", _("SQLs")


class Measure(models.TextChoices):
    OWN = "own", _("Each participant's own results")
    TEAM = "team", _("The team's results (all participants together)")
    ORGANIZATION = "organization", _("The whole organization's results")


class BonusPlan(TenantModel):
    name = models.CharField(_("name"), max_length=150)
    period_kind = models.CharField(
        _("period"), max_length=8, choices=PeriodKind.choices, default=PeriodKind.MONTH
    )
    basis = models.CharField(_("basis"), max_length=32, choices=Basis.choices)
    measure = models.CharField(
        _("measured on"), max_length=16, choices=Measure.choices, default=Measure.OWN
    )
    # Everyone holding this role takes part (a role group); empty: explicit members only.
    team_role = models.CharField(_("team (role)"), max_length=24, choices=Role.choices, blank=True)
    # A flat rate: a share of revenue (0.02 = 2 %) or an amount per SQL. Empty: tiers.
    rate = models.DecimalField(_("rate"), max_digits=12, decimal_places=4, null=True, blank=True)
    # Marginal tiers [{"from": "0", "rate": "0.01"}, {"from": "50000", "rate": "0.02"}]
    tiers = models.JSONField(_("tiers"), default=list, blank=True)
    # SLA compliance multiplier [{"from": "0", "multiplier": "0.8"}, ...]; empty: none.
    sla_tiers = models.JSONField(_("SLA compliance multiplier"), default=list, blank=True)
    cap = models.DecimalField(
        _("cap per period"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("bonus plan")
        verbose_name_plural = _("bonus plans")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="bonus_plan_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_money(self) -> bool:
        return self.basis != Basis.SQLS


class PlanMember(TenantModel):
    plan = models.ForeignKey(BonusPlan, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("plan participant")
        verbose_name_plural = _("plan participants")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "plan", "user"], name="plan_member_unique"
            )
        ]


class PeriodClose(TenantModel):
    """A plan's period closed by a manager: its statements are stored and final."""

    plan = models.ForeignKey(BonusPlan, on_delete=models.CASCADE, related_name="closes")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (inclusive)"))
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), default=timezone.now)

    class Meta:
        verbose_name = _("closed period")
        verbose_name_plural = _("closed periods")
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "plan", "period_start"], name="period_close_unique"
            )
        ]


class Statement(TenantModel):
    """One participant's frozen computation for one closed period."""

    plan = models.ForeignKey(BonusPlan, on_delete=models.CASCADE, related_name="statements")
    close = models.ForeignKey(PeriodClose, on_delete=models.CASCADE, related_name="statements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (inclusive)"))
    # What was measured, as it was when the period closed (a plan's basis and measure
    # cannot change once it has a closed period; blank on rows frozen before this was
    # stored: their plan's values are shown).
    basis = models.CharField(_("basis"), max_length=32, choices=Basis.choices, blank=True)
    measure = models.CharField(_("measured on"), max_length=16, choices=Measure.choices, blank=True)
    achievement = models.DecimalField(_("achievement"), max_digits=16, decimal_places=2)
    multiplier = models.DecimalField(_("multiplier"), max_digits=6, decimal_places=3, default=1)
    payout = models.DecimalField(_("payout"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    lines = models.JSONField(_("computation"), default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-period_start", "user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "plan", "user", "period_start"],
                name="statement_unique",
            )
        ]
        indexes = [models.Index(fields=["organization", "user"], name="statement_user")]

    def __str__(self) -> str:
        return f"{self.plan} · {self.user_id} · {self.period_start}"
