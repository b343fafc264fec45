"""Scoring models (versioned), their fit and behaviour rules, the per-lead explanation
of a score, and the progress of a full re-score. Meanings: SPEC.md §2 and
docs/scoring.md.

Every model is a tenant model under row-level security (migration 0002). A model's
rules never change once it has been active: editing an active model makes a new
draft (services.draft_for_edit), so the contributions that explain a score always
point at the rules that produced it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel

GRADES = ("A", "B", "C", "D")


def default_grade_bands() -> dict[str, int]:
    return {"A": 40, "B": 25, "C": 10}


class ScoringModel(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    class MinGrade(models.TextChoices):
        NONE = "", _("No minimum")
        A = "A", "A"
        B = "B", _("B or better")
        C = "C", _("C or better")
        D = "D", _("D or better")

    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=120, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.DRAFT
    )
    mql_threshold = models.PositiveSmallIntegerField(_("MQL threshold"), default=60)
    min_fit_grade = models.CharField(
        _("minimum fit grade for MQL"), max_length=1, choices=MinGrade.choices, blank=True
    )
    # Fit at or above a band gives that grade, else D: {"A": 40, "B": 25, "C": 10}.
    grade_bands = models.JSONField(_("grade bands"), default=default_grade_bands)
    # Behaviour points halve every this many days; null = no decay.
    decay_half_life_days = models.PositiveSmallIntegerField(
        _("decay half-life (days)"), null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    based_on = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("based on"),
    )

    class Meta:
        verbose_name = _("scoring model")
        verbose_name_plural = _("scoring models")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "version"], name="scoring_model_version_unique"
            ),
            # One active model per organization: the shared MQL definition.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="active"),
                name="scoring_model_one_active",
            ),
            models.CheckConstraint(
                condition=models.Q(mql_threshold__gte=1, mql_threshold__lte=100),
                name="scoring_model_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name}".strip()

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def grade_for(self, fit: int) -> str:
        from .engine import grade_for

        return grade_for(fit, self.grade_bands)

    def qualifies(self, score: int, grade: str) -> bool:
        """The MQL definition: score at or above the threshold, fit grade good enough."""
        from .engine import qualifies

        return qualifies(score, grade, self.mql_threshold, self.min_fit_grade)


class FitRule(TenantModel):
    """A condition on a lead or company attribute (the ICP), worth points."""

    class Attribute(models.TextChoices):
        EMAIL = "email", _("E-mail")
        TITLE = "title", _("Job title")
        SENIORITY = "seniority", _("Seniority")
        COUNTRY = "country", _("Country")
        SOURCE = "source", _("Source")
        UTM_SOURCE = "utm_source", _("UTM source")
        UTM_MEDIUM = "utm_medium", _("UTM medium")
        UTM_CAMPAIGN = "utm_campaign", _("UTM campaign")
        COMPANY_NAME = "company.name", _("Company name")
        COMPANY_DOMAIN = "company.domain", _("Company domain")
        COMPANY_INDUSTRY = "company.industry", _("Company industry")
        COMPANY_EMPLOYEES = "company.employees", _("Company employees")
        COMPANY_COUNTRY = "company.country", _("Company country")
        COMPANY_REVENUE_BAND = "company.revenue_band", _("Company revenue band")

    class Operator(models.TextChoices):
        EQUALS = "equals", _("equals")
        IN = "in", _("is one of")
        CONTAINS = "contains", _("contains")
        STARTS_WITH = "starts_with", _("starts with")
        BETWEEN = "between", _("is between")
        IS_SET = "is_set", _("is set")
        EMAIL_DOMAIN_IN = "email_domain_in", _("e-mail domain is one of")
        FREE_EMAIL = "free_email", _("is a free e-mail address")

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    label = models.CharField(_("label"), max_length=120)
    attribute = models.CharField(_("attribute"), max_length=24, choices=Attribute.choices)
    operator = models.CharField(_("operator"), max_length=16, choices=Operator.choices)
    # equals: "x" or 50; in: [..]; contains/starts_with: [..] (any); between: [lo, hi]
    # (either may be null); email_domain_in: [domains]; is_set/free_email: null.
    value = models.JSONField(_("value"), null=True, blank=True)
    points = models.SmallIntegerField(_("points"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("fit rule")
        verbose_name_plural = _("fit rules")
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["organization", "model"], name="fit_rule_model")]

    def __str__(self) -> str:
        return self.label


class BehaviourRule(TenantModel):
    """An event type (optionally narrowed by a URL, content or property match) worth
    points per occurrence (with an optional cap) or once at a frequency."""

    class Mode(models.TextChoices):
        PER_OCCURRENCE = "per_occurrence", _("Points for each occurrence")
        FREQUENCY = "frequency", _("Points once at a frequency")

    class MatchOperator(models.TextChoices):
        NONE = "", _("(any)")
        EQUALS = "equals", _("equals")
        CONTAINS = "contains", _("contains")
        REGEX = "regex", _("matches the regular expression")

    model = models.ForeignKey(
        ScoringModel, on_delete=models.CASCADE, related_name="behaviour_rules"
    )
    label = models.CharField(_("label"), max_length=120)
    event_type = models.CharField(_("event type"), max_length=64)
    # "" (no narrowing), "url", "content.level", "content.type", "content.key" or
    # "property:<name>" (a top-level key of the event's properties).
    match_field = models.CharField(_("match on"), max_length=80, blank=True)
    match_operator = models.CharField(
        _("match"), max_length=8, choices=MatchOperator.choices, blank=True
    )
    match_value = models.CharField(_("match value"), max_length=200, blank=True)
    mode = models.CharField(
        _("mode"), max_length=14, choices=Mode.choices, default=Mode.PER_OCCURRENCE
    )
    points = models.SmallIntegerField(_("points"))
    # per occurrence: the most this rule adds (or removes, for negative points).
    cap = models.PositiveSmallIntegerField(_("cap"), null=True, blank=True)
    # frequency: at least ``min_count`` matching events in the last ``window_days``.
    min_count = models.PositiveSmallIntegerField(_("at least (events)"), null=True, blank=True)
    # frequency: W; per occurrence with ``marks_hot``: how long the lead stays hot.
    window_days = models.PositiveSmallIntegerField(_("within (days)"), null=True, blank=True)
    marks_hot = models.BooleanField(_("marks the lead hot"), default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("behaviour rule")
        verbose_name_plural = _("behaviour rules")
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["organization", "model"], name="behaviour_rule_model")]

    def __str__(self) -> str:
        return self.label


class ScoreContribution(TenantModel):
    """One line of a lead's explanation: a rule that added or removed points.

    Replaced wholesale each time the lead is scored. Rules that matched nothing, or
    whose points have decayed to zero, have no line.

    Derived data, rewritten by the hundred thousand after an activation, so its
    references are not database constraints (no per-row foreign-key checks at commit)
    and the table has only two indexes (the primary key and the lead). Deletions still
    cascade through Django for leads and organizations; models and rules are never
    deleted once they have been active (only drafts are, and drafts have no lines),
    hence ``DO_NOTHING`` there.
    """

    class Kind(models.TextChoices):
        FIT = "fit", _("Fit")
        BEHAVIOUR = "behaviour", _("Behaviour")

    organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.CASCADE,
        related_name="score_contributions",
        db_constraint=False,
    )
    model = models.ForeignKey(
        ScoringModel,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=9, choices=Kind.choices)
    fit_rule = models.ForeignKey(
        FitRule,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    behaviour_rule = models.ForeignKey(
        BehaviourRule,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    label = models.CharField(max_length=120)
    # Decayed behaviour points are fractional: thousandths, as the engine sums them.
    points = models.DecimalField(max_digits=9, decimal_places=3)
    events = models.PositiveIntegerField(default=0)
    last_occurrence = models.DateTimeField(null=True, blank=True)
    hot = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("score contribution")
        verbose_name_plural = _("score contributions")
        ordering = ["-points", "kind", "pk"]

    def __str__(self) -> str:
        return f"{self.points:+} {self.label}"


class RescoreRun(TenantModel):
    """A full re-score of the organization's leads (after an activation): progress for
    the editor's progress bar, and a resume point if the worker dies."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SUPERSEDED = "superseded", _("Superseded by a newer activation")

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="runs")
    # The model active before: its MQL definition tells who qualified already.
    previous_model = models.ForeignKey(
        ScoringModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    new_mqls = models.PositiveIntegerField(default=0)
    # Leads are processed in id order; a resumed run starts after this id.
    last_lead_id = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("re-score run")
        verbose_name_plural = _("re-score runs")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["status", "created_at"],
                name="rescore_run_open",
                condition=models.Q(status__in=["queued", "running"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.done}/{self.total}"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class PredictiveModel(TenantModel):
    """A predictive score trained on the organization's decided leads (SPEC.md §2):
    the probability that a lead reaches SQL, beside the rule score, never instead of
    it. Parameters are plain JSON (``scoring.predictive``), never a pickle. Every
    training adds a row; the newest active one is used, older ones are archived."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.ACTIVE
    )
    algorithm = models.CharField(_("algorithm"), max_length=40, default="logistic_regression")
    trained_at = models.DateTimeField(_("trained at"), default=timezone.now)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    # Decided leads used (training + held-out), how many reached SQL, the held-out size.
    n_samples = models.PositiveIntegerField(_("decided leads"))
    n_positive = models.PositiveIntegerField(_("reached SQL"))
    n_test = models.PositiveIntegerField(_("held-out leads"))
    auc = models.FloatField(_("held-out AUC"))
    params = models.JSONField(_("parameters"))
    feature_names = models.JSONField(_("features"), default=list)

    class Meta:
        verbose_name = _("predictive model")
        verbose_name_plural = _("predictive models")
        ordering = ["-trained_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="active"),
                name="predictive_model_one_active",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "trained_at"], name="predictive_model_history")
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.trained_at:%Y-%m-%d} AUC {self.auc:.2f}"
