"""The leads pages under ``/o/<slug>/leads/``: the sales queue ("la pile") with its quick
actions, the lead page, the marketing view of sales decisions and the content library.

The tenant middleware has already resolved ``request.organization`` and
``request.membership`` (non-members got 404). Each view: check the role → resolve ids
with ``get_*_for_org`` (404 for another organization's ids) → call one service or
selector → respond. HTMX requests get a fragment (a django-template-partials partial);
a refused action comes back as the same fragment with its error and status 422, which
htmx swaps (see the htmx-config meta tag in base.html).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from scoring.views import lead_score_context
from smarketing.tenancy import permissions
from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import Role, has_perm

from . import reports, selectors, services, talk_track
from .extensions import badges_for, page_media
from .forms import (
    ANY_STAGE,
    AcceptForm,
    ActivityForm,
    ContentFilterForm,
    ContentForm,
    MoveForm,
    PeriodForm,
    QualifyForm,
    QueueFilterForm,
    RejectForm,
)
from .models import Activity, Content, Decision, EventType, Lead, RejectReason, Stage
from .services import LeadError

HTMX_INVALID = 422
QUEUE_PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 50
CONTENT_PAGE_SIZE = 50
QUEUE_STAGES = [Stage.MQL, Stage.SAL]


def _require(request: HttpRequest, perm: str) -> Membership:
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


@contextlib.contextmanager
def _refusals_as_http() -> Iterator[None]:
    """A service saying "your role may not" is a 403 (the view checked already; this
    is the second wall)."""
    try:
        yield
    except permissions.PermissionDenied as error:
        raise PermissionDenied(str(error)) from error


def _put_errors(form: django_forms.Form, error: LeadError) -> None:
    """A service's field errors go next to the form's fields (its message is shown
    above the form by the page or the row)."""
    for name, errors in error.fields.items():
        if name in form.fields:
            form.add_error(name, errors)


# --- The sales queue ----------------------------------------------------------------


@dataclass
class QueueRow:
    lead: Lead
    message: str = ""
    error: str = ""
    # Which quick form is shown open (with its errors) after a refused action.
    open_form: str = ""
    reject_form: RejectForm | None = None
    call_form: ActivityForm | None = None
    # Higher apps' badges for this lead (the SLA countdown): leads/extensions.py.
    badges: str = ""


def _default_tab(membership: Membership) -> str:
    return "mine" if membership.role == Role.SALES_REP else "all"


@require_GET
def lead_queue(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    form = QueueFilterForm(request.GET)
    status = 200
    tab = _default_tab(membership)
    if form.is_valid():
        data = form.cleaned_data
        tab = data["tab"] or tab
        stage: Any = {"": QUEUE_STAGES, ANY_STAGE: None}.get(data["stage"], data["stage"])
        leads = selectors.lead_list(
            org,
            stage=stage,
            owner_id=request.user.pk if tab == "mine" else None,
            unowned=tab == "unassigned",
            hot={"yes": True, "no": False}.get(data["hot"]),
            q=data["q"],
            source=data["source"],
        )
    else:
        status = 400
        leads = selectors.lead_list(org).none()
    page = Paginator(leads, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    badges = badges_for(org, page)  # once for the page's leads (no query per row)
    context = {
        "form": form,
        "tab": tab,
        "tabs": QueueFilterForm.TABS,
        "page": page,
        "rows": [QueueRow(lead=lead, badges=badges.get(lead.pk, "")) for lead in page],
        "reject_reasons": RejectReason.choices,
        "filtered": any(request.GET.get(name) for name in ("stage", "source", "hot", "q")),
        "next_url": request.get_full_path(),
        **page_media(),
    }
    template = "leads/queue.html#queue" if request.htmx else "leads/queue.html"
    return render(request, template, context, status=status)


def _safe_url(request: HttpRequest, target: str, default: str) -> str:
    """A local URL to go back to (``next``), never another site's."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _safe_next(request: HttpRequest, default: str) -> str:
    return _safe_url(request, request.POST.get("next", ""), default)


def _respond(
    request: HttpRequest,
    lead: Lead,
    *,
    ok: str = "",
    error: str = "",
    action: str = "",
    form: django_forms.Form | None = None,
) -> HttpResponse:
    """After an action: the queue row or the lead page, re-rendered from the database
    with the result, or with the refused form open and its errors."""
    org = request.organization  # type: ignore[attr-defined]
    failed = bool(error)
    if request.POST.get("from") == "queue":
        queue_url = _safe_next(request, reverse("leads-queue", args=[org.slug]))
        if request.htmx:
            fresh = selectors.lead_list(org).get(pk=lead.pk)
            row = QueueRow(
                lead=fresh,
                badges=badges_for(org, [fresh]).get(fresh.pk, ""),
                message=ok,
                error=error,
                open_form=action if failed else "",
                **({f"{action}_form": form} if failed and action in ("reject", "call") else {}),
            )
            return render(
                request,
                "leads/queue.html#queue-row",
                {"row": row, "reject_reasons": RejectReason.choices, "next_url": queue_url},
                status=HTMX_INVALID if failed else 200,
            )
        (messages.error if failed else messages.success)(request, error or ok)
        return redirect(queue_url)
    if not failed and not request.htmx:
        messages.success(request, ok)
        return redirect("leads-detail", org_slug=org.slug, lead_id=lead.pk)
    context = _lead_context(
        request,
        reports.get_lead_page_for_org(org, lead.pk),
        message=ok,
        error=error,
        open_action=action if failed else "",
        forms={f"{action}_form": form} if failed and form is not None else {},
    )
    if request.htmx:
        return render(
            request,
            "leads/detail.html#lead-main",
            context,
            status=HTMX_INVALID if failed else 200,
        )
    return render(request, "leads/detail.html", context, status=400)


@require_POST
def lead_accept(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    membership = _require(request, "leads.decide")
    lead = selectors.get_lead_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    form = AcceptForm(request.POST)
    if not form.is_valid():
        return _respond(request, lead, error=_("Check the comment."), action="accept", form=form)
    try:
        with _refusals_as_http():
            services.lead_accept(actor=membership, lead=lead, comment=form.cleaned_data["comment"])
    except LeadError as error:
        _put_errors(form, error)
        return _respond(request, lead, error=error.message, action="accept", form=form)
    return _respond(request, lead, ok=_("Accepted: the lead is now SAL."))


@require_POST
def lead_reject(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    membership = _require(request, "leads.decide")
    lead = selectors.get_lead_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _respond(
            request, lead, error=_("Choose a rejection reason."), action="reject", form=form
        )
    try:
        with _refusals_as_http():
            decision = services.lead_reject(
                actor=membership,
                lead=lead,
                reason=form.cleaned_data["reason"],
                comment=form.cleaned_data["comment"],
            )
    except LeadError as error:
        _put_errors(form, error)
        return _respond(request, lead, error=error.message, action="reject", form=form)
    return _respond(
        request,
        lead,
        ok=_("Rejected (%(reason)s): the lead is now %(stage)s.")
        % {"reason": decision.get_reason_display(), "stage": Stage(lead.stage).label},
    )


@require_POST
def lead_activity(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    membership = _require(request, "leads.edit")
    lead = selectors.get_lead_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    form = ActivityForm(request.POST)
    action = "call" if request.POST.get("from") == "queue" else "activity"
    if not form.is_valid():
        return _respond(request, lead, error=_("Check the activity."), action=action, form=form)
    data = form.cleaned_data
    try:
        with _refusals_as_http():
            activity = services.activity_log(
                actor=membership,
                lead=lead,
                kind=data["kind"],
                subject=data["subject"],
                body=data["body"],
                at=data["at"],
            )
    except LeadError as error:
        _put_errors(form, error)
        return _respond(request, lead, error=error.message, action=action, form=form)
    return _respond(
        request,
        lead,
        ok=_("%(kind)s logged.") % {"kind": Activity.Kind(activity.kind).label},
    )


@require_POST
def lead_qualify(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    membership = _require(request, "leads.decide")
    lead = selectors.get_lead_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    form = QualifyForm(request.POST)
    if not form.is_valid():
        return _respond(
            request,
            lead,
            error=_("Budget and need are both required to qualify."),
            action="qualify",
            form=form,
        )
    try:
        with _refusals_as_http():
            services.lead_qualify(actor=membership, lead=lead, **form.cleaned_data)
    except LeadError as error:
        _put_errors(form, error)
        return _respond(request, lead, error=error.message, action="qualify", form=form)
    return _respond(request, lead, ok=_("Qualified: the lead is now SQL."))


@require_POST
def lead_move(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    membership = _require(request, "leads.move_any")
    lead = selectors.get_lead_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    form = MoveForm(request.POST, current=lead.stage)
    if not form.is_valid():
        return _respond(
            request, lead, error=_("Choose a stage and give a reason."), action="move", form=form
        )
    try:
        with _refusals_as_http():
            services.lead_move(
                actor=membership,
                lead=lead,
                to_stage=form.cleaned_data["to_stage"],
                reason=form.cleaned_data["reason"],
            )
    except LeadError as error:
        _put_errors(form, error)
        return _respond(request, lead, error=error.message, action="move", form=form)
    return _respond(request, lead, ok=_("Moved to %(stage)s.") % {"stage": Stage(lead.stage).label})


# --- The lead page ------------------------------------------------------------------


@dataclass
class TimelineEntry:
    """A timeline item with its labels, for the template."""

    item: selectors.TimelineItem
    label: str
    level: str = ""
    level_label: str = ""
    content_type: str = ""

    def __getattr__(self, name: str) -> Any:  # at, kind, type, title, data
        return getattr(self.item, name)


KIND_LABELS = {
    "transition": gettext_lazy("Stage change"),
    "qualification": gettext_lazy("Qualified (BANT)"),
}


def _entry(item: selectors.TimelineItem) -> TimelineEntry:
    if item.kind == "event":
        label = (
            EventType(item.type).label
            if item.type in EventType.values
            else item.type.removeprefix("custom:").replace("_", " ").capitalize()
        )
    elif item.kind == "activity":
        label = Activity.Kind(item.type).label if item.type in Activity.Kind.values else item.type
    elif item.kind == "decision":
        label = Decision.Kind(item.type).label if item.type in Decision.Kind.values else item.type
    else:
        label = KIND_LABELS.get(item.kind, item.kind)
    entry = TimelineEntry(item=item, label=str(label))
    content = item.data.get("content") if item.kind == "event" else None
    if content:
        entry.level = content["level"] or ""
        entry.level_label = (
            str(Content.Level(entry.level).label) if entry.level else _("Unclassified")
        )
        entry.content_type = (
            str(Content.Type(content["type"]).label)
            if content["type"] in Content.Type.values
            else ""
        )
    return entry


def _timeline_context(lead: Lead, before=None) -> dict[str, Any]:
    items = selectors.lead_timeline(lead, limit=TIMELINE_PAGE_SIZE, before=before)
    return {
        "timeline_items": items,
        "timeline": [_entry(item) for item in items],
        # A full page may have older items; the cursor is the oldest shown.
        "timeline_before": items[-1].at.isoformat() if len(items) == TIMELINE_PAGE_SIZE else "",
    }


def _lead_context(
    request: HttpRequest,
    lead: Lead,
    *,
    message: str = "",
    error: str = "",
    open_action: str = "",
    forms: dict[str, django_forms.Form] | None = None,
) -> dict[str, Any]:
    org = request.organization  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    forms = forms or {}
    timeline = _timeline_context(lead)
    decide = has_perm(membership, "leads.decide")
    return {
        "lead": lead,
        **timeline,
        **lead_score_context(lead),  # the score's explanation (and the predictive score)
        "track": talk_track.talk_track(
            talk_track.consumed_from_timeline(timeline["timeline_items"])
        ),
        "transitions": reports.stage_history(lead),
        "decisions": reports.lead_decisions(lead),
        "deals": selectors.deal_list(org, lead_id=lead.pk),
        "badges": badges_for(org, [lead], single=True).get(lead.pk, ""),
        **page_media(),
        "can_accept": decide and lead.stage == Stage.MQL,
        "can_reject": decide and lead.stage == Stage.MQL,
        "can_qualify": decide and lead.stage == Stage.SAL,
        "can_log": has_perm(membership, "leads.edit"),
        "can_move": has_perm(membership, "leads.move_any"),
        "accept_form": forms.get("accept_form") or AcceptForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "qualify_form": forms.get("qualify_form") or QualifyForm(),
        "activity_form": forms.get("activity_form") or ActivityForm(initial={"kind": "call"}),
        "move_form": forms.get("move_form") or MoveForm(current=lead.stage),
        "message": message,
        "error": error,
        "open_action": open_action,
    }


@require_GET
def lead_detail(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    _require(request, "leads.view")
    lead = reports.get_lead_page_for_org(request.organization, lead_id)  # type: ignore[attr-defined]
    before_param = request.GET.get("before")
    if before_param is not None:
        # "Show older" on the timeline.
        try:
            before = parse_datetime(before_param)
        except ValueError:  # well-formed but impossible, e.g. 30 February
            before = None
        if before is None or timezone.is_naive(before):
            return HttpResponseBadRequest(_("Not a date and time with an offset."))
        context = {"lead": lead, **_timeline_context(lead, before=before)}
        if request.htmx:
            return render(request, "leads/detail.html#timeline-page", context)
    return render(request, "leads/detail.html", _lead_context(request, lead))


# --- The marketing view of sales decisions ------------------------------------------


def _reason_chart(rows: list[reports.ReasonRow]) -> dict[str, Any] | None:
    """Geometry of a horizontal bar chart (hand-written SVG in the template)."""
    if not rows:
        return None
    width, label_width, value_width, bar, gap = 720, 170, 90, 24, 12
    top = max(row.count for row in rows)
    span = width - label_width - value_width
    bars = [
        {
            "row": row,
            "y": i * (bar + gap),
            "text_y": i * (bar + gap) + bar / 2,
            "width": max(2.0, round(span * row.count / top, 1)),
            "value_x": label_width + max(2.0, round(span * row.count / top, 1)) + 8,
        }
        for i, row in enumerate(rows)
    ]
    return {
        "width": width,
        "height": len(rows) * (bar + gap) - gap,
        "label_width": label_width,
        "label_x": label_width - 10,
        "track_width": span,
        "bar": bar,
        "bars": bars,
    }


@require_GET
def decision_report(request: HttpRequest, org_slug: str) -> HttpResponse:
    _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    today = reports.period_for(org).last
    form = PeriodForm(
        {"first": request.GET.get("from", ""), "last": request.GET.get("to", "")}, today=today
    )
    if form.is_valid():
        period = reports.period_for(org, form.cleaned_data["first"], form.cleaned_data["last"])
        status = 200
    else:
        period = reports.period_for(org)
        status = 400
    report = reports.decision_report(org, period)
    presets = [
        (_("Last 7 days"), today - timedelta(days=6), today),
        (_("Last 30 days"), today - timedelta(days=29), today),
        (_("Last 90 days"), today - timedelta(days=89), today),
    ]
    context = {
        "form": form,
        "period": period,
        "report": report,
        "chart": _reason_chart(report.reasons),
        "presets": [
            {
                "label": label,
                "first": first,
                "last": last,
                "current": (first, last) == (period.first, period.last),
            }
            for label, first, last in presets
        ],
    }
    return render(request, "leads/decisions.html", context, status=status)


# --- The content library ------------------------------------------------------------


@require_GET
def content_library(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    form = ContentFilterForm(request.GET)
    if form.is_valid():
        contents = reports.content_library(org, **form.cleaned_data)
        status = 200
    else:
        contents = reports.content_library(org).none()
        status = 400
    page = Paginator(contents, CONTENT_PAGE_SIZE).get_page(request.GET.get("page"))
    level_counts = reports.content_level_counts(org)
    context = {
        "form": form,
        "page": page,
        "level_counts": level_counts,
        "unclassified_count": level_counts[""],
        "personas": reports.content_personas(org),
        "can_manage": has_perm(membership, "content.manage"),
        "level": form.cleaned_data.get("level", "") if form.is_valid() else "",
    }
    template = "leads/content.html#library" if request.htmx else "leads/content.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def content_edit(request: HttpRequest, org_slug: str, content_id: int) -> HttpResponse:
    _require(request, "content.manage")
    org = request.organization  # type: ignore[attr-defined]
    content = selectors.get_content_for_org(org, content_id)
    form = ContentForm(request.POST or None, instance=content)
    if request.method == "POST" and form.is_valid():
        # A plain edit of six fields with no rule beyond the form's: the ModelForm saves
        # (the permission was checked above).
        with transaction.atomic():
            form.save()
        messages.success(request, _("“%(title)s” saved.") % {"title": content.title})
        return redirect(_safe_next(request, reverse("leads-content", args=[org.slug])))
    status = 400 if request.method == "POST" else 200
    back = request.POST.get("next") or request.GET.get("next", "")
    context = {"form": form, "content": content, "next": _safe_url(request, back, "")}
    return render(request, "leads/content_edit.html", context, status=status)
