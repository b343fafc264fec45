"""Writes of the meetings app: create a week's meeting and freeze its pack, run it
(start, notes, attendees, decisions, action items), close it (e-mail summary, signal);
and the rollout plan's records (funnel audit, scoring model approvals).

Keyword-only, atomic. A refusal is a ``MeetingError`` (4xx at the edge) or the tenancy
``PermissionDenied`` (403).

**The pack is frozen.** ``build_pack`` reads every number from the one KPI layer
(``dashboards.kpis.report``) and the SLA selectors once, and the result is stored as
JSON on the meeting; pages, exports and the API read the JSON, never the live data, so
later changes (a late deal, a reclassified lead) never alter a past meeting.

**The Monday schedule.** ``create_due_meeting`` is called by a beat task every few
minutes: once the organization's local time has passed Monday 08:00 of the current
week, it creates that week's meeting. The unique ``(organization, week_start)`` makes it
idempotent (two beats, a retry, a manager clicking "generate" at the same moment), and
the local-time comparison is done in the organization's zone, so DST changes move
nothing: 08:00 is 08:00 local, before and after the change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from smarketing.errors import NotFoundError, ServiceError
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import (
    CONTRIBUTORS,
    PermissionDenied,
    has_perm,
    require_perm,
)

from . import signals
from .models import ActionItem, Attendee, Meeting, MeetingDecision, RolloutEvent, ScoringApproval

User = get_user_model()

MEETING_HOUR = time(8, 0)
# 2: labels stored as codes and raw values (translated when shown), pacing on the
# reviewed week.
PACK_VERSION = 2
BREACHES_SHOWN = 20
REJECTIONS_SHOWN = 30


class MeetingError(ServiceError):
    pass


def week_start_at(organization: Organization, moment: datetime) -> date:
    """The Monday of the local week ``moment`` falls in."""
    local = moment.astimezone(organization.zone).date()
    return local - timedelta(days=local.weekday())


def scheduled_time(organization: Organization, week_start: date) -> datetime:
    """Monday 08:00 local, as an aware datetime (the zone resolves the UTC offset)."""
    return datetime.combine(week_start, MEETING_HOUR, tzinfo=organization.zone)


def _user_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


def _lead_label(lead) -> str:
    return f"{lead.first_name} {lead.last_name}".strip() or lead.email


# --- the pack ---------------------------------------------------------------------------


def _reviewed_period(organization: Organization, week_start: date):
    from dashboards import kpis

    return kpis.week_of(organization, week_start - timedelta(days=7))


def _breaches(organization: Organization, period) -> list[dict]:
    from sla import selectors as sla_selectors

    rows = []
    for clock in sla_selectors.breached_clocks(
        organization, start=period.start, end=period.end, limit=BREACHES_SHOWN
    ):
        lead = clock.lead
        rows.append(
            {
                "clock_id": clock.pk,
                "lead_id": lead.pk,
                "lead": _lead_label(lead),
                "lead_email": lead.email,
                "owner": _user_label(clock.owner),
                # Raw values, translated when shown (selectors.commitment_text): the
                # pack is read in each reader's language, not the beat's.
                "commitment_id": clock.commitment_id,
                "commitment_label": clock.commitment.label,
                "commitment_trigger": clock.commitment.trigger,
                "commitment_minutes": clock.commitment.response_minutes,
                "due_at": clock.due_at.isoformat(),
                "touched_at": clock.touched_at.isoformat() if clock.touched_at else None,
            }
        )
    return rows


def _rejected_leads(organization: Organization, period) -> list[dict]:
    from leads.models import Decision

    decisions = (
        Decision.objects.for_org(organization)
        .filter(kind=Decision.Kind.REJECT, at__gte=period.start, at__lt=period.end)
        .select_related("lead", "by")
        .order_by("-at", "-pk")[:REJECTIONS_SHOWN]
    )
    return [
        {
            "lead_id": d.lead_id,
            "lead": _lead_label(d.lead),
            "lead_email": d.lead.email,
            "source": d.lead.source,
            "reason": d.reason,  # a code: its label is translated when shown
            "comment": d.comment[:500],
            "by": _user_label(d.by),
            "at": d.at.isoformat(),
        }
        for d in decisions
    ]


def _pacing(organization: Organization, period) -> list[dict]:
    """Each marketing commitment paced at the end of the reviewed week (its last
    microsecond), not at the pack's generation (the week that just began)."""
    from sla import selectors as sla_selectors

    rows = []
    for pacing in sla_selectors.pacing(organization, at=period.end - timedelta(microseconds=1)):
        row = pacing.as_dict()
        # The label is built from metric/target/period when shown (reader's language).
        row.pop("label", None)
        row["grade"], row["source"] = pacing.commitment.grade, pacing.commitment.source
        rows.append(row)
    return rows


def _item_dict(item: ActionItem) -> dict:
    return {
        "id": item.pk,
        "title": item.title,
        "owner": _user_label(item.owner),
        "owner_id": item.owner_id,
        "due_on": item.due_on.isoformat() if item.due_on else None,
        "done": item.done,
        "meeting_week": item.meeting.week_start.isoformat(),
    }


def previous_meeting(organization: Organization, week_start: date) -> Meeting | None:
    return (
        Meeting.objects.for_org(organization)
        .filter(week_start__lt=week_start)
        .order_by("-week_start")
        .first()
    )


def _previous_items(organization: Organization, week_start: date) -> list[dict]:
    """The last meeting's action items (done or not) and every older one still open."""
    previous = previous_meeting(organization, week_start)
    if previous is None:
        return []
    items = ActionItem.objects.for_org(organization).filter(
        Q(meeting=previous) | Q(meeting__week_start__lt=previous.week_start, done=False)
    )
    return [
        _item_dict(item)
        for item in items.select_related("owner", "meeting").order_by("done", "due_on", "pk")
    ]


def build_pack(organization: Organization, *, week_start: date, now: datetime) -> dict[str, Any]:
    """The meeting pack of the week starting ``week_start``, JSON-ready (frozen by the
    caller). It reviews the previous Monday-to-Sunday week."""
    from dashboards import kpis

    period = _reviewed_period(organization, week_start)
    report = kpis.report(organization, period)
    next_week = kpis.week_of(organization, week_start)
    from dashboards.models import KpiTarget

    next_targets = {
        name: str(value)
        for name, value in KpiTarget.targets_for(organization, next_week, kpis.Segment()).items()
    }
    previous = previous_meeting(organization, week_start)
    return {
        "version": PACK_VERSION,
        "generated_at": now.isoformat(),
        "week_start": week_start.isoformat(),
        "currency": organization.currency,
        # The reviewed week, inclusive dates (our own key: stable whatever the KPI
        # layer's period format).
        "reviewed": {
            "first_day": period.first_day.isoformat(),
            "last_day": period.last_day.isoformat(),
        },
        "period": report["period"],
        "previous_period": report["previous_period"],
        "current": report["current"],
        "previous": report["previous"],
        "targets": report["targets"],
        "deltas": report["deltas"],
        "breaches": _breaches(organization, period),
        "rejected_leads": _rejected_leads(organization, period),
        "pacing": _pacing(organization, period),
        "previous_meeting": {"id": previous.pk, "week_start": previous.week_start.isoformat()}
        if previous
        else None,
        "action_items": _previous_items(organization, week_start),
        "next_week": next_week.as_dict(),
        "next_week_targets": next_targets,
    }


# --- creating a meeting -----------------------------------------------------------------


def _default_attendees(organization: Organization) -> list[int]:
    return list(
        Membership.objects.for_org(organization)
        .filter(role__in=[role.value for role in CONTRIBUTORS], user__is_active=True)
        .values_list("user_id", flat=True)
    )


@transaction.atomic
def meeting_for_week(
    *,
    organization: Organization,
    week_start: date,
    by=None,
    now: datetime | None = None,
) -> tuple[Meeting, bool]:
    """The week's meeting, created with its pack if it does not exist yet (idempotent:
    the unique ``(organization, week_start)`` settles a race)."""
    if week_start.weekday() != 0:
        raise MeetingError(_("A meeting week starts on a Monday."), code="not_monday")
    existing = Meeting.objects.for_org(organization).filter(week_start=week_start).first()
    if existing is not None:
        return existing, False
    now = now or timezone.now()
    pack = build_pack(organization, week_start=week_start, now=now)
    try:
        with transaction.atomic():
            meeting = Meeting.objects.create(
                organization=organization,
                week_start=week_start,
                scheduled_for=scheduled_time(organization, week_start),
                snapshot=pack,
                snapshot_at=now,
                created_by=by,
                created_at=now,
            )
    except IntegrityError:
        return Meeting.objects.for_org(organization).get(week_start=week_start), False
    Attendee.objects.bulk_create(
        [
            Attendee(organization=organization, meeting=meeting, user_id=user_id)
            for user_id in _default_attendees(organization)
        ]
    )
    return meeting, True


def create_due_meeting(
    *, organization: Organization, now: datetime | None = None
) -> Meeting | None:
    """The beat's work for one organization: this week's meeting once local Monday
    08:00 has passed, if it does not exist yet. Returns the meeting it created."""
    now = now or timezone.now()
    week_start = week_start_at(organization, now)
    if now < scheduled_time(organization, week_start):
        return None
    meeting, created = meeting_for_week(organization=organization, week_start=week_start, now=now)
    return meeting if created else None


@transaction.atomic
def meeting_generate(
    *,
    actor: Membership,
    organization: Organization,
    week_start: date | None = None,
    now: datetime | None = None,
) -> tuple[Meeting, bool]:
    """On demand (a manager): this week's meeting (or ``week_start``'s)."""
    require_perm(actor, "meetings.manage")
    now = now or timezone.now()
    return meeting_for_week(
        organization=organization,
        week_start=week_start or week_start_at(organization, now),
        by=getattr(actor, "user", None),
        now=now,
    )


@transaction.atomic
def meeting_refresh_pack(
    *, actor: Membership, meeting: Meeting, now: datetime | None = None
) -> Meeting:
    """Generate the pack again — only this week's meeting, before it starts: once it
    has started, the numbers it was run on are the record; and a past week's pack is
    frozen even if nobody started that meeting (a beat-created meeting stays
    "scheduled")."""
    require_perm(actor, "meetings.manage")
    now = now or timezone.now()
    locked = _locked(meeting)
    if locked.status != Meeting.Status.SCHEDULED:
        raise MeetingError(
            _("The pack is frozen once the meeting has started."), status=409, code="frozen"
        )
    locked.organization = meeting.organization
    if not can_refresh_pack(locked, now=now):
        raise MeetingError(
            _("The pack of a past week's meeting is frozen."), status=409, code="frozen"
        )
    pack = build_pack(meeting.organization, week_start=meeting.week_start, now=now)
    Meeting.objects.for_org(meeting.organization_id).filter(pk=meeting.pk).update(
        snapshot=pack, snapshot_at=now
    )
    meeting.refresh_from_db()
    return meeting


def can_refresh_pack(meeting: Meeting, *, now: datetime | None = None) -> bool:
    """This week's meeting, not started yet (the page shows the button only then)."""
    return meeting.status == Meeting.Status.SCHEDULED and meeting.week_start == week_start_at(
        meeting.organization, now or timezone.now()
    )


# --- running it ----------------------------------------------------------------------------


def _not_closed(meeting: Meeting) -> None:
    if meeting.is_closed:
        raise MeetingError(_("This meeting is closed."), status=409, code="closed")


def _locked(meeting: Meeting) -> Meeting:
    """The meeting's row, locked until the transaction ends (``SELECT … FOR UPDATE``):
    a write checks the status of this fresh copy, not of one loaded earlier, and a
    concurrent close waits for it (or it waits for the close, then sees it closed)."""
    return Meeting.objects.for_org(meeting.organization_id).select_for_update().get(pk=meeting.pk)


def _open_locked(meeting: Meeting) -> Meeting:
    locked = _locked(meeting)
    _not_closed(locked)
    meeting.status = locked.status
    return locked


def _is_manager(actor: Membership) -> bool:
    return has_perm(actor, "meetings.manage")


def _actor_user_id(actor) -> int | None:
    return getattr(actor, "user_id", None) or getattr(getattr(actor, "user", None), "pk", None)


@transaction.atomic
def meeting_open(*, actor: Membership, meeting: Meeting, now: datetime | None = None) -> Meeting:
    """Start the meeting: the 30-minute timebox counts from now."""
    require_perm(actor, "meetings.manage")
    _open_locked(meeting)
    now = now or timezone.now()
    Meeting.objects.for_org(meeting.organization_id).filter(
        pk=meeting.pk, status=Meeting.Status.SCHEDULED
    ).update(status=Meeting.Status.OPEN, opened_at=now)
    meeting.refresh_from_db()
    return meeting


@transaction.atomic
def meeting_update(
    *, actor: Membership, meeting: Meeting, notes: str | None = None, goals: str | None = None
) -> Meeting:
    require_perm(actor, "meetings.contribute")
    _open_locked(meeting)
    fields = []
    if notes is not None:
        meeting.notes, fields = notes[:20000], [*fields, "notes"]
    if goals is not None:
        meeting.goals, fields = goals[:5000], [*fields, "goals"]
    if fields:
        meeting.save(update_fields=fields)
    return meeting


@transaction.atomic
def attendees_set(*, actor: Membership, meeting: Meeting, user_ids: list[int]) -> None:
    require_perm(actor, "meetings.manage")
    _open_locked(meeting)
    org_id = meeting.organization_id
    members = set(
        Membership.objects.for_org(org_id)
        .filter(user_id__in=user_ids)
        .values_list("user_id", flat=True)
    )
    if members != set(user_ids):
        raise MeetingError(
            _("Attendees must be members of the organization."),
            fields={"attendees": [_("Attendees must be members.")]},
        )
    Attendee.objects.for_org(org_id).filter(meeting=meeting).exclude(user_id__in=members).delete()
    existing = set(
        Attendee.objects.for_org(org_id).filter(meeting=meeting).values_list("user_id", flat=True)
    )
    Attendee.objects.bulk_create(
        [
            Attendee(organization_id=org_id, meeting=meeting, user_id=uid)
            for uid in members - existing
        ]
    )


@transaction.atomic
def decision_add(*, actor: Membership, meeting: Meeting, text: str) -> MeetingDecision:
    require_perm(actor, "meetings.contribute")
    _open_locked(meeting)
    text = (text or "").strip()
    if not text:
        raise MeetingError(
            _("Write the decision."), fields={"text": [_("This field is required.")]}
        )
    return MeetingDecision.objects.create(
        organization_id=meeting.organization_id,
        meeting=meeting,
        text=text[:500],
        by=getattr(actor, "user", None),
    )


@transaction.atomic
def decision_delete(*, actor: Membership, decision: MeetingDecision) -> None:
    """Its author or a manager, while the meeting is not closed."""
    require_perm(actor, "meetings.contribute")
    if not (can_delete_decision(actor, decision)):
        raise PermissionDenied("meetings.manage")
    _open_locked(decision.meeting)
    decision.delete()


def can_delete_decision(actor: Membership, decision: MeetingDecision) -> bool:
    return _is_manager(actor) or (
        decision.by_id is not None and decision.by_id == _actor_user_id(actor)
    )


def _owner(organization_id: int, owner_id) -> Any:
    if owner_id in (None, ""):
        return None
    try:
        owner_id = int(owner_id)
    except (TypeError, ValueError):
        owner_id = 0
    if not Membership.objects.for_org(organization_id).filter(user_id=owner_id).exists():
        raise MeetingError(
            _("The owner must be a member of the organization."),
            fields={"owner": [_("The owner must be a member of the organization.")]},
        )
    return User.objects.get(pk=owner_id)


@transaction.atomic
def action_item_add(
    *, actor: Membership, meeting: Meeting, title: str, owner_id=None, due_on: date | None = None
) -> ActionItem:
    require_perm(actor, "meetings.contribute")
    _open_locked(meeting)
    title = (title or "").strip()
    if not title:
        raise MeetingError(
            _("Describe the action."), fields={"title": [_("This field is required.")]}
        )
    return ActionItem.objects.create(
        organization_id=meeting.organization_id,
        meeting=meeting,
        title=title[:300],
        owner=_owner(meeting.organization_id, owner_id),
        due_on=due_on,
        created_by=getattr(actor, "user", None),
    )


EDIT_FIELDS = ("title", "owner", "due_on")


def can_edit_item(actor: Membership, item: ActionItem) -> bool:
    """Rename, reassign, re-date: the item's owner, its creator or a manager."""
    if _is_manager(actor):
        return True
    user_id = _actor_user_id(actor)
    return user_id is not None and user_id in (item.owner_id, item.created_by_id)


def _carrying_meeting(item: ActionItem, meeting: Meeting | None) -> Meeting:
    """The meeting through which ``item`` is changed, locked: the one given (the item
    must be its own or carried over into it), else the item's own meeting while it is
    not closed, else the latest not-closed meeting that carries it over."""
    org_id = item.organization_id
    own = Meeting.objects.for_org(org_id).select_for_update().get(pk=item.meeting_id)
    if meeting is None or meeting.pk == own.pk:
        if meeting is not None or not own.is_closed:
            return own
        later = (
            Meeting.objects.for_org(org_id)
            .filter(week_start__gt=own.week_start, created_at__gt=item.created_at)
            .exclude(status=Meeting.Status.CLOSED)
        )
        if item.done:  # done since that meeting was created: carried over into it
            later = later.filter(created_at__lte=item.done_at)
        later = later.order_by("-week_start").first()
        return _locked(later) if later is not None else own
    locked = _locked(meeting)
    carried = (
        own.week_start < locked.week_start
        and item.created_at < locked.created_at
        and (not item.done or (item.done_at is not None and item.done_at >= locked.created_at))
    )
    if not carried:
        raise NotFoundError(_("This action item is not on this meeting."))
    return locked


@transaction.atomic
def action_item_update(
    *,
    actor: Membership,
    item: ActionItem,
    data: dict[str, Any],
    meeting: Meeting | None = None,
    now: datetime | None = None,
) -> ActionItem:
    """Tick (``done``), rename, reassign, re-date an action item, through ``meeting``
    (its own or one it is carried over into; ``None``: found as described in
    ``_carrying_meeting``).

    - ticking: any contributor; renaming, reassigning, re-dating: the item's owner,
      its creator or a manager (``can_edit_item``);
    - nothing changes through a closed meeting; an item of a closed meeting can only
      be ticked, in a later (not closed) meeting it is carried over into.
    """
    require_perm(actor, "meetings.contribute")
    item = ActionItem.objects.for_org(item.organization_id).select_for_update().get(pk=item.pk)
    through = _carrying_meeting(item, meeting)
    _not_closed(through)
    edits = [name for name in EDIT_FIELDS if name in data]
    if edits:
        if through.pk != item.meeting_id:
            raise MeetingError(
                _("An item carried over from a closed meeting can only be ticked."),
                status=409,
                code="closed",
            )
        if not can_edit_item(actor, item):
            raise PermissionDenied("meetings.manage")
    fields = []
    if "done" in data:
        done = bool(data["done"])
        if done != item.done:
            item.done, item.done_at = done, (now or timezone.now()) if done else None
            fields += ["done", "done_at"]
    if "title" in data:
        title = (data["title"] or "").strip()
        if not title:
            raise MeetingError(
                _("Describe the action."), fields={"title": [_("This field is required.")]}
            )
        item.title, fields = title[:300], [*fields, "title"]
    if "owner" in data:
        item.owner, fields = _owner(item.organization_id, data["owner"]), [*fields, "owner"]
    if "due_on" in data:
        item.due_on, fields = data["due_on"], [*fields, "due_on"]
    if fields:
        item.save(update_fields=fields)
    return item


@transaction.atomic
def meeting_close(*, actor: Membership, meeting: Meeting, now: datetime | None = None) -> Meeting:
    """Close the meeting: its record is final, its open action items carry over to the
    next one, the attendees get the summary by e-mail, ``meeting_published`` is sent."""
    require_perm(actor, "meetings.manage")
    now = now or timezone.now()
    _open_locked(meeting)  # a write in progress finishes first (and is in the summary)
    changed = (
        Meeting.objects.for_org(meeting.organization_id)
        .filter(pk=meeting.pk)
        .exclude(status=Meeting.Status.CLOSED)
        .update(
            status=Meeting.Status.CLOSED,
            closed_at=now,
            closed_by=getattr(actor, "user", None),
            opened_at=meeting.opened_at or now,
        )
    )
    if not changed:
        raise MeetingError(_("This meeting is closed."), status=409, code="closed")
    meeting.refresh_from_db()
    _send_summary(meeting)
    signals.meeting_published.send(
        sender=Meeting, organization=meeting.organization, meeting=meeting
    )
    return meeting


def _send_summary(meeting: Meeting) -> None:
    from smarketing.notifications.services import notify

    from .export import to_markdown

    organization = meeting.organization
    recipients = list(
        Attendee.objects.for_org(organization)
        .filter(meeting=meeting)
        .values_list("user_id", flat=True)
    )
    if not recipients:
        return
    with translation.override(organization.language):
        body = to_markdown(meeting)
        title = _("Smarketing meeting of %(day)s: summary") % {
            "day": meeting.week_start.strftime("%d/%m/%Y")
        }
    notify(
        organization=organization,
        recipients=recipients,
        kind="meeting.published",
        title=title,
        body=body,
        url=reverse(
            "meetings-detail", kwargs={"org_slug": organization.slug, "meeting_id": meeting.pk}
        ),
        dedupe_key=f"meeting.published:{meeting.pk}",
        email=True,
    )


# --- the rollout plan -------------------------------------------------------------------------


def rollout_record(
    *, organization: Organization, step: str, by=None, now: datetime | None = None
) -> bool:
    """Record that a step happened (once per organization). True if it is new."""
    if step not in RolloutEvent.Step.values:
        raise MeetingError(_("Unknown step."), code="unknown_step")
    try:
        with transaction.atomic():
            RolloutEvent.objects.create(
                organization=organization, step=step, by=by, at=now or timezone.now()
            )
    except IntegrityError:
        return False
    return True


@transaction.atomic
def scoring_approve(*, actor: Membership, organization: Organization, side: str) -> ScoringApproval:
    """The head of marketing or of sales approves the active scoring model version (the
    guide's week-2 workshop). The same two roles that sign the SLA."""
    from scoring.models import ScoringModel

    perm = {"marketing": "sla.sign_marketing", "sales": "sla.sign_sales"}.get(side)
    if perm is None:
        raise MeetingError(_("Unknown side."), fields={"side": [_("marketing or sales")]})
    require_perm(actor, perm)
    model = (
        ScoringModel.objects.for_org(organization).filter(status=ScoringModel.Status.ACTIVE).first()
    )
    if model is None:
        raise MeetingError(_("There is no active scoring model to approve."), code="no_model")
    approval, _created = ScoringApproval.objects.for_org(organization).get_or_create(
        scoring_model=model,
        side=side,
        defaults={"by": getattr(actor, "user", None), "organization": organization},
    )
    return approval
