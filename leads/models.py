"""The one referential: companies, leads, their events, content, campaigns and deals,
and what sales did with each lead (activities, decisions, lifecycle transitions).

Every model is a tenant model under row-level security (migration 0002). Meanings are
fixed by SPEC.md §1 and §5.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel


class Stage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MQL = "mql", _("MQL")
    SAL = "sal", _("SAL")
    SQL = "sql", _("SQL")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    RECYCLED = "recycled", _("Recycled")
    DISQUALIFIED = "disqualified", _("Disqualified")


class RejectReason(models.TextChoices):
    BAD_FIT = "bad_fit", _("Bad fit")
    NO_BUDGET = "no_budget", _("No budget")
    NO_NEED = "no_need", _("No need")
    BAD_TIMING = "bad_timing", _("Bad timing")
    STUDENT = "student", _("Student")
    COMPETITOR = "competitor", _("Competitor")
    DUPLICATE = "duplicate", _("Duplicate")
    WRONG_CONTACT = "wrong_contact", _("Wrong contact")
    NO_RESPONSE = "no_response", _("No response")
    OTHER = "other", _("Other")


class EventType(models.TextChoices):
    PAGE_VIEW = "page_view", _("Page view")
    FORM_SUBMIT = "form_submit", _("Form submitted")
    CONTENT_DOWNLOAD = "content_download", _("Content downloaded")
    EMAIL_OPEN = "email_open", _("E-mail opened")
    EMAIL_CLICK = "email_click", _("E-mail clicked")
    WEBINAR_REGISTERED = "webinar_registered", _("Webinar registration")
    WEBINAR_ATTENDED = "webinar_attended", _("Webinar attended")
    DEMO_REQUEST = "demo_request", _("Demo request")
    MEETING_BOOKED = "meeting_booked", _("Meeting booked")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")


class Company(TenantModel):
    class RevenueBand(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        LT_1M = "lt_1m", _("< €1M")
        M1_10 = "1m_10m", _("€1M–10M")
        M10_50 = "10m_50m", _("€10M–50M")
        M50_250 = "50m_250m", _("€50M–250M")
        GT_250M = "gt_250m", _("> €250M")

    name = models.CharField(_("name"), max_length=200)
    domain = models.CharField(_("domain"), max_length=253, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    revenue_band = models.CharField(
        _("revenue band"), max_length=10, choices=RevenueBand.choices, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "domain"],
                condition=~models.Q(domain=""),
                name="company_domain_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(TenantModel):
    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        PAID_SEARCH = "paid_search", _("Paid search")
        PAID_SOCIAL = "paid_social", _("Paid social")
        ORGANIC_SOCIAL = "organic_social", _("Organic social")
        SEO = "seo", _("SEO / content")
        EVENT = "event", _("Event")
        WEBINAR = "webinar", _("Webinar")
        PARTNER = "partner", _("Partner")
        OTHER = "other", _("Other")

    key = models.SlugField(_("key"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    spend = models.DecimalField(_("spend"), max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_on", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="campaign_key_unique")
        ]
        indexes = [
            models.Index(fields=["organization", "utm_campaign"], name="campaign_utm"),
        ]

    def __str__(self) -> str:
        return self.name


class Content(TenantModel):
    class Type(models.TextChoices):
        WHITE_PAPER = "white_paper", _("White paper")
        GUIDE = "guide", _("Guide")
        EBOOK = "ebook", _("E-book")
        WEBINAR = "webinar", _("Webinar")
        CASE_STUDY = "case_study", _("Case study")
        VIDEO = "video", _("Video")
        BLOG_POST = "blog_post", _("Blog post")
        CHECKLIST = "checklist", _("Checklist")
        TEMPLATE = "template", _("Template")
        OTHER = "other", _("Other")

    class Level(models.TextChoices):
        BEGINNER = "beginner", _("Beginner")
        INTERMEDIATE = "intermediate", _("Intermediate")
        EXPERT = "expert", _("Expert")

    class FunnelStage(models.TextChoices):
        AWARENESS = "awareness", _("Awareness (top of funnel)")
        CONSIDERATION = "consideration", _("Consideration (middle)")
        DECISION = "decision", _("Decision (bottom)")

    key = models.SlugField(_("key"), max_length=100)
    title = models.CharField(_("title"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices)
    persona = models.CharField(_("persona"), max_length=100, blank=True)
    funnel_stage = models.CharField(
        _("funnel stage"), max_length=14, choices=FunnelStage.choices, blank=True
    )
    url = models.URLField(_("URL"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("content")
        verbose_name_plural = _("contents")
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="content_key_unique")
        ]

    def __str__(self) -> str:
        return self.title


class Lead(TenantModel):
    class Seniority(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        C_LEVEL = "c_level", _("C-level / founder")
        VP = "vp", _("VP")
        DIRECTOR = "director", _("Director")
        MANAGER = "manager", _("Manager")
        INDIVIDUAL = "individual", _("Individual contributor")
        STUDENT = "student", _("Student")

    class Source(models.TextChoices):
        WEBSITE = "website", _("Website")
        ORGANIC_SEARCH = "organic_search", _("Organic search")
        PAID_SEARCH = "paid_search", _("Paid search")
        SOCIAL = "social", _("Social")
        EMAIL = "email", _("E-mail")
        EVENT = "event", _("Event")
        WEBINAR = "webinar", _("Webinar")
        REFERRAL = "referral", _("Referral")
        PARTNER = "partner", _("Partner")
        OUTBOUND = "outbound", _("Outbound (sales)")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        OTHER = "other", _("Other")

    email = models.EmailField(_("e-mail"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    seniority = models.CharField(
        _("seniority"), max_length=12, choices=Seniority.choices, blank=True
    )
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    company = models.ForeignKey(
        Company,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("company"),
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("first campaign"),
    )
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)

    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices, default=Stage.LEAD)
    stage_changed_at = models.DateTimeField(_("stage changed at"), default=timezone.now)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    consent_email = models.BooleanField(_("consents to e-mail"), default=False)
    consent_tracking = models.BooleanField(_("consents to tracking"), default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    # Written by scoring; read everywhere (the sales queue sorts on them).
    score = models.PositiveSmallIntegerField(_("score"), default=0)
    fit = models.SmallIntegerField(_("fit"), default=0)
    grade = models.CharField(_("grade"), max_length=1, blank=True)
    hot = models.BooleanField(_("hot"), default=False)
    hot_since = models.DateTimeField(_("hot since"), null=True, blank=True)
    # Set by ingestion, cleared by scoring: the durable "re-score me" mark that the
    # sweeper picks up if the on-commit task never ran (worker or Redis down).
    rescore_requested_at = models.DateTimeField(null=True, blank=True)

    first_touch_at = models.DateTimeField(_("first sales touch"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint("organization", Lower("email"), name="lead_email_ci_unique"),
        ]
        indexes = [
            # The sales queue: hot first (newest hot first), then score. Scoring keeps
            # hot_since null on leads that are not hot, so no NULLS LAST is needed
            # (SQLite cannot index it).
            models.Index(
                models.F("organization"),
                models.F("hot").desc(),
                models.F("hot_since").desc(),
                models.F("score").desc(),
                name="lead_queue",
            ),
            models.Index(fields=["organization", "stage"], name="lead_stage"),
            models.Index(fields=["organization", "owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["organization", "created_at"], name="lead_created"),
            models.Index(
                fields=["rescore_requested_at"],
                name="lead_rescore_due",
                condition=models.Q(rescore_requested_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Visitor(TenantModel):
    """An anonymous browser (first-party cookie id), linked to a lead once identified."""

    anonymous_id = models.CharField(max_length=64)
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="visitors"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    identified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")
        constraints = [
            models.UniqueConstraint(fields=["organization", "anonymous_id"], name="visitor_unique")
        ]

    def __str__(self) -> str:
        return self.anonymous_id


class Event(TenantModel):
    """One thing a lead or an anonymous visitor did (SPEC.md §5)."""

    source = models.CharField(_("source"), max_length=64)
    external_id = models.CharField(_("id"), max_length=128)
    type = models.CharField(_("type"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    visitor = models.ForeignKey(
        Visitor, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    url = models.CharField(_("URL"), max_length=2000, blank=True)
    content = models.ForeignKey(
        Content, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    properties = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"], name="event_idempotency"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "lead", "occurred_at"], name="event_lead_time"),
            models.Index(
                fields=["organization", "visitor"],
                name="event_anonymous",
                condition=models.Q(lead__isnull=True),
            ),
            models.Index(fields=["organization", "occurred_at"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.occurred_at:%Y-%m-%d %H:%M}"


class Deal(TenantModel):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    stage = models.CharField(_("stage"), max_length=40, default="qualification")
    status = models.CharField(_("status"), max_length=4, choices=Status.choices, default="open")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    company = models.ForeignKey(
        Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Where the deal lives when a CRM owns it (integrations); empty when native.
    source = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="deal_external_unique",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="deal_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "closed_at"], name="deal_closed"),
            models.Index(fields=["organization", "created_at"], name="deal_created"),
        ]

    def __str__(self) -> str:
        return self.name


# Reasons the system records are stored as codes and translated when shown, so that
# each reader sees them in their own language; reasons people type are shown as typed.
SYSTEM_REASONS = {
    "created": _("Created"),
    "ingested": _("Created from its first event"),
    "imported": _("Imported from a CSV file"),
    "mql_threshold": _("Score above the MQL threshold"),
    "accepted": _("Accepted by sales"),
    "qualified": _("Qualified: need and budget confirmed"),
    "deal_created": _("Deal created"),
    "deal_won": _("Deal won"),
}


def reason_label(reason: str) -> str:
    if reason in SYSTEM_REASONS:
        return str(SYSTEM_REASONS[reason])
    if reason in RejectReason.values:
        return str(RejectReason(reason).label)
    return reason


class LifecycleTransition(TenantModel):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=12, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=12, choices=Stage.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("lifecycle transition")
        verbose_name_plural = _("lifecycle transitions")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["organization", "to_stage", "at"], name="transition_kpi"),
            models.Index(fields=["organization", "lead", "at"], name="transition_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage}"

    @property
    def reason_display(self) -> str:
        return reason_label(self.reason)


class Activity(TenantModel):
    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        EMAIL = "email", _("E-mail")
        MEETING = "meeting", _("Meeting")
        NOTE = "note", _("Note")

    # A note is not a touch: it does not stop an SLA clock (DESIGN.md glossary).
    TOUCH_KINDS = frozenset({Kind.CALL, Kind.EMAIL, Kind.MEETING})

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("notes"), blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["organization", "lead", "at"], name="activity_lead")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d}"


class Decision(TenantModel):
    """Sales' answer to an MQL: accepted (→ SAL) or rejected with a reason."""

    class Kind(models.TextChoices):
        ACCEPT = "accept", _("Accepted")
        REJECT = "reject", _("Rejected")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(_("decision"), max_length=6, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=16, choices=RejectReason.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["organization", "at"], name="decision_time")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="accept", reason="")
                | models.Q(kind="reject") & ~models.Q(reason=""),
                name="decision_reason_iff_reject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reason}".strip()


class Qualification(TenantModel):
    """What sales recorded when moving a lead to SQL (BANT)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="qualifications")
    budget = models.CharField(_("budget"), max_length=500)
    authority = models.CharField(_("authority"), max_length=500, blank=True)
    need = models.CharField(_("need"), max_length=500)
    timing = models.CharField(_("timing"), max_length=500, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.lead} · {self.at:%Y-%m-%d}"


class TrackingSettings(TenantModel):
    """The website tracker of one organization (one row per organization)."""

    public_key = models.CharField(_("public key"), max_length=40, db_index=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    # Origins allowed to send tracker events (CORS), e.g. ["www.exemple.fr", "exemple.fr"].
    allowed_domains = models.JSONField(_("allowed domains"), default=list, blank=True)
    # When set, no identifier is stored before the visitor consents (GDPR / CNIL).
    require_consent = models.BooleanField(_("require consent before tracking"), default=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        _("events per minute and visitor"), default=120
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("tracking settings")
        verbose_name_plural = _("tracking settings")
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="tracking_one_per_org"),
            models.UniqueConstraint(
                fields=["organization", "public_key"], name="tracking_public_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.public_key


class WebhookEndpoint(TenantModel):
    """An inbound generic webhook: ``/hooks/<token>/``, signed per Standard Webhooks."""

    name = models.CharField(_("name"), max_length=100)
    # Events from this endpoint carry source "hook:<key>" (idempotency is per source).
    key = models.SlugField(_("key"), max_length=50)
    token_prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, db_index=True)
    # The signing secret must be readable to verify HMACs: stored encrypted.
    secret_encrypted = models.TextField()
    # Where each event field is found in the payload, e.g. {"email": "contact.email"}.
    mapping = models.JSONField(_("field mapping"), default=dict, blank=True)
    default_type = models.CharField(_("default event type"), max_length=64, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("inbound webhook")
        verbose_name_plural = _("inbound webhooks")
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="webhook_key_unique"),
            models.UniqueConstraint(
                fields=["organization", "token_hash"], name="webhook_token_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookReceipt(TenantModel):
    """Message ids already received on an endpoint: a replay is rejected."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.PositiveSmallIntegerField(default=202)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("webhook receipt")
        verbose_name_plural = _("webhook receipts")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "endpoint", "message_id"], name="webhook_receipt_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "received_at"], name="receipt_time")]

    def __str__(self) -> str:
        return self.message_id


class ImportJob(TenantModel):
    """A CSV import: uploaded, mapped, validated, run by a Celery task with progress."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        VALIDATED = "validated", _("Validated")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    filename = models.CharField(_("file"), max_length=255)
    # The file itself, kept in the database so web and worker need no shared disk.
    content = models.TextField()
    delimiter = models.CharField(max_length=1, default=",")
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_leads = models.PositiveIntegerField(default=0)
    updated_leads = models.PositiveIntegerField(default=0)
    skipped_rows = models.PositiveIntegerField(default=0)
    # [{"row": 12, "column": "email", "error": "..."}]
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename

    @property
    def progress(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class RoutingSettings(TenantModel):
    """How MQLs get an owner (one row per organization)."""

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round-robin over available sales reps")
        MANUAL = "manual", _("Manual: a sales manager assigns")

    strategy = models.CharField(
        _("strategy"), max_length=12, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    by_territory = models.BooleanField(_("route by territory (country)"), default=False)
    by_segment = models.BooleanField(_("route by segment (grade)"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("routing settings")
        verbose_name_plural = _("routing settings")
        constraints = [models.UniqueConstraint(fields=["organization"], name="routing_one_per_org")]

    def __str__(self) -> str:
        return self.get_strategy_display()


class RepRouting(TenantModel):
    """One sales rep in the routing pool."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    active = models.BooleanField(_("receives leads"), default=True)
    away_until = models.DateTimeField(_("away until"), null=True, blank=True)
    countries = models.JSONField(_("territory (countries)"), default=list, blank=True)
    grades = models.JSONField(_("segment (grades)"), default=list, blank=True)
    # Round-robin: the next lead goes to the eligible rep served longest ago.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("rep routing")
        verbose_name_plural = _("rep routing")
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="rep_routing_unique")
        ]

    def __str__(self) -> str:
        return str(self.user)
