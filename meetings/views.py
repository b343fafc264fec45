"""Pages of the meetings app under ``/o/<slug>/meetings/``: the history with trends,
one meeting (its frozen pack as the agenda, the 30-minute timebox, attendees, notes,
decisions, action items), its Markdown export and printable page, and the 30-day
rollout plan.

Each view: check the role → resolve ids with ``get_*_for_org`` (404 for another
organization's) → one service or selector → respond. HTMX posts get back the section
they target (a template partial); plain posts redirect to the meeting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import has_perm
from smarketing.tenancy.selectors import members as org_members

from . import rollout, selectors, services
from .export import to_markdown
from .models import Meeting

PAGE = "meetings/detail.html"
HTMX_INVALID = 422


def _require(request: HttpRequest, perm: str):
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


@contextlib.contextmanager
def _refusals_as_http() -> Iterator[None]:
    try:
        yield
    except permissions.PermissionDenied as error:
        raise PermissionDenied(str(error)) from error


def _meeting(request: HttpRequest, meeting_id: int) -> Meeting:
    meeting = selectors.get_meeting_for_org(request.organization, meeting_id)  # type: ignore[attr-defined]
    meeting.organization = request.organization  # type: ignore[attr-defined]
    return meeting


def _meeting_url(request: HttpRequest, meeting: Meeting) -> str:
    return reverse(
        "meetings-detail",
        kwargs={"org_slug": request.organization.slug, "meeting_id": meeting.pk},  # type: ignore[attr-defined]
    )


def _context(request: HttpRequest, meeting: Meeting) -> dict:
    pack = meeting.snapshot or {}
    membership = request.membership  # type: ignore[attr-defined]
    decisions = selectors.decisions(meeting)
    return {
        "meeting": meeting,
        "pack": pack,
        "kpi_rows": selectors.kpi_rows(pack),
        "pacing_rows": selectors.pacing_rows(pack),
        "breach_rows": selectors.breach_rows(pack),
        "rejected_rows": selectors.rejected_rows(pack),
        "reasons": selectors.rejection_reasons(pack),
        "attendees": selectors.attendees(meeting),
        "decisions": decisions,
        "items": selectors.own_items(meeting),
        "carried": selectors.carried_items(meeting),
        "members": list(org_members(request.organization).select_related("user")),  # type: ignore[attr-defined]
        "can_manage": has_perm(membership, "meetings.manage"),
        "can_contribute": has_perm(membership, "meetings.contribute") and not meeting.is_closed,
        # Nothing changes on a closed meeting: its items are ticked in the next one.
        "can_tick": has_perm(membership, "meetings.contribute") and not meeting.is_closed,
        "can_refresh": has_perm(membership, "meetings.manage")
        and services.can_refresh_pack(meeting),
        "deletable_decisions": {
            d.pk for d in decisions if services.can_delete_decision(membership, d)
        }
        if has_perm(membership, "meetings.contribute") and not meeting.is_closed
        else set(),
        "current": "meetings-detail",
        "timebox_minutes": 30,
    }


def _section(
    request: HttpRequest, meeting: Meeting, name: str, *, status: int = 200, error: str = ""
) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        context = _context(request, meeting)
        context["error"] = error
        return render(request, f"{PAGE}#{name}", context, status=status)
    if error:
        messages.error(request, error)
    return redirect(_meeting_url(request, meeting))


@require_GET
def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "meetings.view")
    org = request.organization  # type: ignore[attr-defined]
    rows = selectors.history(org)
    this_week = services.week_start_at(org, timezone.now())
    return render(
        request,
        "meetings/home.html",
        {
            "history": list(reversed(rows)),
            "trends": selectors.trends(rows) if len(rows) > 1 else [],
            "this_week": this_week,
            "this_week_exists": selectors.meetings(org).filter(week_start=this_week).exists(),
            "can_manage": has_perm(membership, "meetings.manage"),
            "rollout": rollout.progress(org),
            "current": "meetings-list",
        },
    )


@require_POST
def generate(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "meetings.manage")
    with _refusals_as_http():
        meeting, created = services.meeting_generate(
            actor=membership,
            organization=request.organization,  # type: ignore[attr-defined]
        )
    messages.success(
        request, _("This week's pack is ready.") if created else _("This week's meeting exists.")
    )
    return redirect(_meeting_url(request, meeting))


@require_GET
def detail(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    _require(request, "meetings.view")
    meeting = _meeting(request, meeting_id)
    return render(request, PAGE, _context(request, meeting))


@require_POST
def open_meeting(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.manage")
    meeting = _meeting(request, meeting_id)
    try:
        services.meeting_open(actor=membership, meeting=meeting)
    except services.MeetingError as error:
        messages.error(request, error.message)
    return redirect(_meeting_url(request, meeting))


@require_POST
def close_meeting(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.manage")
    meeting = _meeting(request, meeting_id)
    try:
        services.meeting_close(actor=membership, meeting=meeting)
    except services.MeetingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Meeting closed: the summary was sent to the attendees."))
    return redirect(_meeting_url(request, meeting))


@require_POST
def refresh_pack(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.manage")
    meeting = _meeting(request, meeting_id)
    try:
        services.meeting_refresh_pack(actor=membership, meeting=meeting)
    except services.MeetingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The pack was generated again."))
    return redirect(_meeting_url(request, meeting))


@require_POST
def notes(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.contribute")
    meeting = _meeting(request, meeting_id)
    try:
        services.meeting_update(
            actor=membership,
            meeting=meeting,
            notes=request.POST.get("notes"),
            goals=request.POST.get("goals"),
        )
    except services.MeetingError as error:
        return _section(request, meeting, "notes", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "notes")


@require_POST
def attendees(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.manage")
    meeting = _meeting(request, meeting_id)
    try:
        ids = [int(v) for v in request.POST.getlist("attendees")]
    except ValueError:
        ids = [-1]
    try:
        services.attendees_set(actor=membership, meeting=meeting, user_ids=ids)
    except services.MeetingError as error:
        return _section(request, meeting, "attendees", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "attendees")


@require_POST
def decision_add(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.contribute")
    meeting = _meeting(request, meeting_id)
    try:
        services.decision_add(actor=membership, meeting=meeting, text=request.POST.get("text", ""))
    except services.MeetingError as error:
        return _section(request, meeting, "decisions", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "decisions")


@require_POST
def decision_delete(
    request: HttpRequest, org_slug: str, meeting_id: int, decision_id: int
) -> HttpResponse:
    membership = _require(request, "meetings.contribute")
    meeting = _meeting(request, meeting_id)
    decision = selectors.get_decision_for_org(request.organization, decision_id)  # type: ignore[attr-defined]
    if decision.meeting_id != meeting.pk:
        raise Http404
    decision.meeting = meeting
    try:
        with _refusals_as_http():
            services.decision_delete(actor=membership, decision=decision)
    except services.MeetingError as error:
        return _section(request, meeting, "decisions", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "decisions")


@require_POST
def item_add(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    membership = _require(request, "meetings.contribute")
    meeting = _meeting(request, meeting_id)
    raw_due = (request.POST.get("due_on") or "").strip()
    try:
        due_on = parse_date(raw_due) if raw_due else None
    except ValueError:  # well formed but not a day of the calendar (2026-02-30)
        due_on = None
    try:
        if raw_due and due_on is None:
            raise services.MeetingError(
                _("Give the due date as a date."),
                fields={"due_on": [_("Give the due date as a date.")]},
            )
        services.action_item_add(
            actor=membership,
            meeting=meeting,
            title=request.POST.get("title", ""),
            owner_id=request.POST.get("owner") or None,
            due_on=due_on,
        )
    except services.MeetingError as error:
        return _section(request, meeting, "items", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "items")


@require_POST
def item_toggle(request: HttpRequest, org_slug: str, meeting_id: int, item_id: int) -> HttpResponse:
    """Tick or untick an action item shown on this meeting (its own or carried over)."""
    membership = _require(request, "meetings.contribute")
    meeting = _meeting(request, meeting_id)
    item = selectors.get_action_item_for_org(request.organization, item_id)  # type: ignore[attr-defined]
    if not selectors.is_on_meeting(meeting, item):
        raise Http404
    try:
        with _refusals_as_http():
            services.action_item_update(
                actor=membership,
                item=item,
                meeting=meeting,
                data={"done": request.POST.get("done") == "1"},
            )
    except services.NotFoundError as error:
        raise Http404 from error
    except services.MeetingError as error:
        meeting.refresh_from_db()
        return _section(request, meeting, "items", status=HTMX_INVALID, error=error.message)
    return _section(request, meeting, "items")


@require_GET
def export_markdown(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    _require(request, "meetings.view")
    meeting = _meeting(request, meeting_id)
    response = HttpResponse(to_markdown(meeting), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="smarketing-meeting-{meeting.week_start.isoformat()}.md"'
    )
    return response


@require_GET
def printable(request: HttpRequest, org_slug: str, meeting_id: int) -> HttpResponse:
    _require(request, "meetings.view")
    meeting = _meeting(request, meeting_id)
    return render(request, "meetings/print.html", _context(request, meeting))


# --- the 30-day rollout plan ------------------------------------------------------------


@require_GET
def rollout_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "meetings.view")
    org = request.organization  # type: ignore[attr-defined]
    return render(
        request,
        "meetings/rollout.html",
        {
            "plan": rollout.progress(org),
            "approvals": rollout.scoring_approvals(org),
            "can_approve_marketing": has_perm(membership, "sla.sign_marketing"),
            "can_approve_sales": has_perm(membership, "sla.sign_sales"),
            "can_manage": has_perm(membership, "meetings.manage"),
            "current": "meetings-rollout",
        },
    )


@require_GET
def rollout_go(request: HttpRequest, org_slug: str, step: str) -> HttpResponse:
    """Open a step's page, recording that it was seen (the funnel audit of week 1)."""
    _require(request, "meetings.view")
    org = request.organization  # type: ignore[attr-defined]
    target = rollout.step_url(org, step)
    if target is None:
        raise Http404
    if step == "funnel_audit":
        services.rollout_record(organization=org, step="funnel_viewed", by=request.user)
    return redirect(target)


@require_POST
def rollout_mark(request: HttpRequest, org_slug: str) -> HttpResponse:
    """A manager ticks the funnel audit done (the platform cannot see a workshop)."""
    _require(request, "meetings.manage")
    services.rollout_record(
        organization=request.organization,
        step="funnel_audited",
        by=request.user,  # type: ignore[attr-defined]
    )
    return redirect("meetings-rollout", org_slug=org_slug)


@require_POST
def rollout_approve(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "meetings.view")
    try:
        with _refusals_as_http():
            services.scoring_approve(
                actor=membership,
                organization=request.organization,  # type: ignore[attr-defined]
                side=request.POST.get("side", ""),
            )
    except services.MeetingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Approval recorded."))
    return redirect("meetings-rollout", org_slug=org_slug)
