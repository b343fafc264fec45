"""The weekly Smarketing meeting (the guide's pillar 4) and the 30-day rollout plan.

- ``Meeting``: one per organization and week (``week_start`` is the Monday it is held),
  created by beat on Monday 08:00 in the organization's time zone, or on demand. Its
  ``snapshot`` is the pack: last week's KPIs (from the one KPI layer), compared with
  the week before and the targets, SLA breaches, rejected leads and their reasons,
  marketing commitment pacing and the previous meeting's action items — frozen as JSON
  when the pack is generated, so later changes never alter a past meeting.
- ``Attendee``, ``MeetingDecision``, ``ActionItem``: what happens in the room. An open
  action item is carried over: it shows on every later meeting until it is done.
- ``RolloutEvent``: a step of the 30-day plan the platform cannot see by itself (the
  funnel audit was opened), recorded once per organization and step.
- ``ScoringApproval``: the week-2 workshop's outcome, the marketing and the sales
  manager each approving the active scoring model version.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import TenantModel


class Meeting(TenantModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        OPEN = "open", _("In progress")
        CLOSED = "closed", _("Closed")

    week_start = models.DateField(_("week of"))  # the Monday the meeting is held
    scheduled_for = models.DateTimeField(_("scheduled for"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    # The pack, frozen: see services.build_pack for its shape.
    snapshot = models.JSONField(_("pack"), default=dict, blank=True)
    snapshot_at = models.DateTimeField(_("pack generated at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    goals = models.TextField(_("goals for the coming week"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    opened_at = models.DateTimeField(_("started at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-week_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "week_start"], name="meeting_one_per_week"
            )
        ]

    def __str__(self) -> str:
        return f"Smarketing meeting {self.week_start.isoformat()}"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class Attendee(TenantModel):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendees")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("attendee")
        verbose_name_plural = _("attendees")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "meeting", "user"], name="meeting_attendee_unique"
            )
        ]


class MeetingDecision(TenantModel):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="decisions")
    text = models.CharField(_("decision"), max_length=500)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["created_at", "pk"]


class ActionItem(TenantModel):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(_("action"), max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    due_on = models.DateField(_("due"), null=True, blank=True)
    done = models.BooleanField(_("done"), default=False)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["done", "due_on", "pk"]
        indexes = [
            models.Index(
                fields=["organization", "created_at"],
                condition=models.Q(done=False),
                name="action_item_open",
            )
        ]

    def __str__(self) -> str:
        return self.title


class RolloutEvent(TenantModel):
    class Step(models.TextChoices):
        FUNNEL_VIEWED = "funnel_viewed", _("Funnel audit opened")
        FUNNEL_AUDITED = "funnel_audited", _("Funnel audit done")

    step = models.CharField(max_length=32, choices=Step.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("rollout event")
        verbose_name_plural = _("rollout events")
        constraints = [
            models.UniqueConstraint(fields=["organization", "step"], name="rollout_event_once")
        ]


class ScoringApproval(TenantModel):
    class Side(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        SALES = "sales", _("Sales")

    scoring_model = models.ForeignKey(
        "scoring.ScoringModel", on_delete=models.CASCADE, related_name="+"
    )
    side = models.CharField(max_length=10, choices=Side.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("scoring model approval")
        verbose_name_plural = _("scoring model approvals")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "scoring_model", "side"], name="scoring_approval_once"
            )
        ]
