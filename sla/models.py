"""The SLA contract between marketing and sales (SPEC.md §3, the guide's week 3).

- ``Contract``: one per organization; its ``ContractVersion`` rows are its history. A
  version is a ``draft`` until one marketing manager and one sales manager have both
  signed it; it is then ``active`` and the previous active one ``superseded``. Signed
  terms never change: services refuse to edit a signed version (editing makes a new
  draft, a copy) and ``terms_hash`` records what was signed.
- ``MarketingCommitment``: what marketing delivers (a count of MQL, SAL or SQL per week
  or month, optionally for a grade or a source).
- ``SalesCommitment``: how fast sales responds to a trigger (became MQL, an event type
  such as ``demo_request``, became hot), in business or wall-clock minutes, with the
  warning share and the escalation delay after a breach.
- ``BusinessCalendar`` and ``Holiday``: the organization's live working hours and days
  off, the ones clocks count with (French public holidays prefilled for French
  organizations); ``sla.calendar`` does the arithmetic. They are part of the signed
  terms: each version carries its own copy (``calendar_*``), edited with the draft and
  written into the live calendar only when both heads have signed.
- ``Clock``: one response deadline for one lead and one sales commitment. Deadlines are
  rows swept by a periodic scan with compare-and-swap updates, never ETA tasks.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel

MONDAY_TO_FRIDAY_9_TO_18 = {str(day): [["09:00", "18:00"]] for day in range(5)} | {
    "5": [],
    "6": [],
}


def default_weekly_hours() -> dict:
    return {day: [list(span) for span in spans] for day, spans in MONDAY_TO_FRIDAY_9_TO_18.items()}


class BusinessCalendar(TenantModel):
    """When the sales team works: ``weekly_hours`` maps ISO weekday - 1 (``"0"`` = Monday)
    to a list of ``["HH:MM", "HH:MM"]`` spans in ``time_zone``; holidays are days off."""

    name = models.CharField(_("name"), max_length=100, default="")
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    weekly_hours = models.JSONField(_("weekly working hours"), default=default_weekly_hours)
    # ISO 3166 country whose public holidays were prefilled (``holidays`` package).
    holiday_country = models.CharField(_("public holidays of"), max_length=2, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="sla_one_calendar_per_org"),
        ]

    def __str__(self) -> str:
        return self.name or str(_("Business calendar"))


class Holiday(TenantModel):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    day = models.DateField(_("day"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "calendar", "day"], name="sla_holiday_once_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.name}"


class Contract(TenantModel):
    name = models.CharField(_("name"), max_length=150, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("SLA contract")
        verbose_name_plural = _("SLA contracts")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="sla_one_contract_per_org"),
        ]

    def __str__(self) -> str:
        return self.name or str(_("SLA contract"))


class ContractVersion(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        SUPERSEDED = "superseded", _("Superseded")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    title = models.CharField(_("title"), max_length=200, default="")
    # The agreed words around the commitments (purpose, scope, review cadence).
    preamble = models.TextField(_("preamble"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    marketing_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signed for marketing by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    marketing_signed_at = models.DateTimeField(_("signed for marketing at"), null=True, blank=True)
    sales_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signed for sales by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sales_signed_at = models.DateTimeField(_("signed for sales at"), null=True, blank=True)
    # The terms as signed: the rendered text both heads saw, and a SHA-256 of the
    # canonical terms (commitments, calendar) so any later change would show.
    signed_text = models.TextField(_("signed text"), blank=True)
    terms_hash = models.CharField(max_length=64, blank=True)
    # The version's own business calendar (part of the signed terms): copied from the
    # live ``BusinessCalendar`` when the draft is made, edited with the draft, copied
    # back into the live calendar (which clocks use) when the second signature
    # activates the version. ``calendar_hours`` is null only on versions made before
    # the calendar was versioned (they read the live calendar).
    calendar_time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    calendar_hours = models.JSONField(_("weekly working hours"), null=True, blank=True)
    # ``[{"day": "YYYY-MM-DD", "name": "…"}]``, sorted by day.
    calendar_holidays = models.JSONField(_("holidays"), default=list, blank=True)
    activated_at = models.DateTimeField(_("in force since"), null=True, blank=True)
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SLA contract version")
        verbose_name_plural = _("SLA contract versions")
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "contract", "number"], name="sla_version_number_unique"
            ),
            models.UniqueConstraint(
                fields=["organization", "contract"],
                condition=Q(status="active"),
                name="sla_one_active_version",
            ),
            models.UniqueConstraint(
                fields=["organization", "contract"],
                condition=Q(status="draft"),
                name="sla_one_draft_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract} v{self.number} ({self.get_status_display()})"

    @property
    def is_signed(self) -> bool:
        return self.status != self.Status.DRAFT

    @property
    def is_editable(self) -> bool:
        """Only a draft nobody has signed yet can change (a signature covers the terms)."""
        return (
            self.status == self.Status.DRAFT
            and self.marketing_signed_at is None
            and self.sales_signed_at is None
        )


class Metric(models.TextChoices):
    MQL = "mql", _("MQLs")
    SAL = "sal", _("SALs (accepted by sales)")
    SQL = "sql", _("SQLs")


class Period(models.TextChoices):
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")


class MarketingCommitment(TenantModel):
    version = models.ForeignKey(
        ContractVersion, on_delete=models.CASCADE, related_name="marketing_commitments"
    )
    metric = models.CharField(_("metric"), max_length=3, choices=Metric.choices)
    target = models.PositiveIntegerField(_("target"))
    period = models.CharField(_("period"), max_length=5, choices=Period.choices)
    # Optional segment: only leads of this grade / this source count.
    grade = models.CharField(_("grade"), max_length=1, blank=True)
    source = models.CharField(_("source"), max_length=20, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("marketing commitment")
        verbose_name_plural = _("marketing commitments")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.target} {self.get_metric_display()} {self.get_period_display()}"


class Trigger(models.TextChoices):
    BECAME_MQL = "became_mql", _("the lead becomes MQL")
    EVENT = "event", _("the lead does…")
    BECAME_HOT = "became_hot", _("the lead becomes hot")


class SalesCommitment(TenantModel):
    version = models.ForeignKey(
        ContractVersion, on_delete=models.CASCADE, related_name="sales_commitments"
    )
    label = models.CharField(_("label"), max_length=150, blank=True)
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    # For ``trigger == "event"``: the event type that starts the clock (``demo_request``).
    event_type = models.CharField(_("event type"), max_length=64, blank=True)
    response_minutes = models.PositiveIntegerField(_("respond within (minutes)"))
    business_time = models.BooleanField(_("counted in business hours"), default=True)
    warn_percent = models.PositiveSmallIntegerField(_("warn at (% of the time)"), default=75)
    escalation_minutes = models.PositiveIntegerField(
        _("escalate to the sales managers after the breach (minutes)"), default=60
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("sales commitment")
        verbose_name_plural = _("sales commitments")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label or f"{self.get_trigger_display()} → {self.response_minutes} min"


class Clock(TenantModel):
    """One response deadline. ``running`` → (``warned``) → ``met`` or ``breached``; a
    breached clock still records the touch that eventually came (``touched_at``)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        WARNED = "warned", _("At risk")
        MET = "met", _("Met")
        BREACHED = "breached", _("Breached")

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="sla_clocks")
    commitment = models.ForeignKey(SalesCommitment, on_delete=models.PROTECT, related_name="clocks")
    # The lead's owner when the clock started or when it was routed while running: the
    # rep whose compliance this clock counts in.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started at"))
    # What started it: "mql", "hot" or "event:<event id>" (for the audit trail).
    started_by = models.CharField(max_length=40, blank=True)
    warn_at = models.DateTimeField(_("warning at"))
    due_at = models.DateTimeField(_("due at"))
    warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached at"), null=True, blank=True)
    escalate_at = models.DateTimeField(_("escalation at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    touched_at = models.DateTimeField(_("first touch at"), null=True, blank=True)
    touch_kind = models.CharField(_("first touch"), max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "lead", "commitment"],
                condition=Q(status__in=["running", "warned"]),
                name="sla_one_running_clock",
            ),
        ]
        indexes = [
            # The scan's three queries, each on a small partial index.
            models.Index(
                fields=["warn_at"], condition=Q(status="running"), name="sla_clock_to_warn"
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["running", "warned"]),
                name="sla_clock_to_breach",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=Q(status="breached", escalated_at__isnull=True),
                name="sla_clock_to_escalate",
            ),
            models.Index(fields=["organization", "due_at"], name="sla_clock_due"),
            models.Index(fields=["organization", "lead", "status"], name="sla_clock_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.commitment} · {self.lead_id} · {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.RUNNING, self.Status.WARNED)
