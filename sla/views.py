"""The SLA pages under ``/o/<slug>/sla/`` (the guide's week 3: the contract is drafted
together and signed by both heads):

- the home: the contract in force (its signed text, both signatures, the commitments
  in plain language, the calendar), each sales commitment's compliance this week and
  this month, marketing's pacing gauges, links to the draft and the history;
- a version's page: the editor of the draft (terms, marketing and sales commitments,
  business calendar and holidays) or a signed version, read-only; its signature panel;
- the signing step for each head, showing the exact text being signed;
- the history (who signed what, when; what each version changed);
- compliance per rep, per commitment, per week or month, with speed to lead;
- one lead's countdown badge (htmx refreshes it; sla/badges.py renders it).

Everyone reads (``sla.view``); ``sla.manage`` edits the draft; only a marketing manager
signs for marketing and only a sales manager for sales. Each view: check the role →
resolve ids with ``get_*_for_org`` (404 for another organization's) → call one service
or selector → respond. HTMX edits answer with the card they target; a refused edit is
the same card with its field errors and status 422 (swapped, see base.html).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads.models import EventType, Lead
from leads.selectors import get_lead_for_org
from smarketing.tenancy import permissions
from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import has_perm

from . import badges, selectors, services
from .forms import (
    DAYS,
    CalendarForm,
    ComplianceFilterForm,
    HolidayForm,
    MarketingCommitmentForm,
    SalesCommitmentForm,
    SignForm,
    TermsForm,
    put_errors,
    spans_text,
)
from .models import (
    ContractVersion,
    MarketingCommitment,
    Metric,
    Period,
    SalesCommitment,
    Trigger,
)
from .templatetags.sla_tags import duration

VIEW = "sla.view"
MANAGE = "sla.manage"
SIGN = {"marketing": "sla.sign_marketing", "sales": "sla.sign_sales"}
HTMX_INVALID = 422
PAGE = "sla/version.html"
CARDS = ("terms-card", "marketing-card", "sales-card", "calendar-card")
SERIES_LENGTH = {"week": 12, "month": 6}


def _require(request: HttpRequest, perm: str) -> Membership:
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


@contextlib.contextmanager
def _refusals_as_http() -> Iterator[None]:
    """A service saying "your role may not" is a 403 (the view checked already)."""
    try:
        yield
    except permissions.PermissionDenied as error:
        raise PermissionDenied(str(error)) from error


def _version_url(request: HttpRequest, version: ContractVersion) -> str:
    return reverse(
        "sla-version",
        kwargs={"org_slug": request.organization.slug, "version_id": version.pk},  # type: ignore[attr-defined]
    )


def _to_version(request: HttpRequest, version: ContractVersion, message: str) -> HttpResponse:
    """After a write that made a new draft (or from a plain form): go to its page."""
    messages.success(request, message)
    url = _version_url(request, version)
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# --- Plain language -------------------------------------------------------------------


def event_label(event_type: str) -> str:
    if event_type in EventType.values:
        return str(EventType(event_type).label)
    return event_type.removeprefix("custom:").replace("_", " ")


def describe_marketing(commitment: MarketingCommitment) -> str:
    """ "Marketing delivers 40 MQLs per month (grade A, from Webinar)." """
    metric = Metric(commitment.metric).label if commitment.metric in Metric.values else ""
    period = Period(commitment.period).label if commitment.period in Period.values else ""
    text = _("Marketing delivers %(n)s %(metric)s %(period)s") % {
        "n": commitment.target,
        "metric": metric,
        "period": period,
    }
    segment = []
    if commitment.grade:
        segment.append(_("grade %(g)s") % {"g": commitment.grade})
    if commitment.source:
        label = (
            Lead.Source(commitment.source).label
            if commitment.source in Lead.Source.values
            else commitment.source
        )
        segment.append(_("from %(source)s") % {"source": label})
    if segment:
        text = f"{text} ({', '.join(segment)})"
    return f"{text}."


def trigger_text(commitment: SalesCommitment) -> str:
    if commitment.trigger == Trigger.BECAME_MQL:
        return _("every new MQL")
    if commitment.trigger == Trigger.BECAME_HOT:
        return _("every lead that becomes hot")
    return _("every “%(event)s”") % {"event": event_label(commitment.event_type)}


def describe_sales(commitment: SalesCommitment) -> str:
    """ "Sales responds to every “Demo request” within 2 h (business hours)." """
    words = {"trigger": trigger_text(commitment), "time": duration(commitment.response_minutes)}
    if commitment.business_time:
        return _("Sales responds to %(trigger)s within %(time)s (business hours).") % words
    return _("Sales responds to %(trigger)s within %(time)s (round the clock).") % words


def describe_sales_terms(commitment: SalesCommitment) -> str:
    """The warning and the escalation, in a second sentence."""
    words = {
        "percent": commitment.warn_percent,
        "time": duration(commitment.escalation_minutes),
    }
    if commitment.escalation_minutes:
        return (
            _(
                "The owner is warned at %(percent)s %% of the time; the sales managers are "
                "told %(time)s after a breach."
            )
            % words
        )
    return (
        _(
            "The owner is warned at %(percent)s %% of the time; the sales managers are "
            "told at once on a breach."
        )
        % words
    )


def week_summary(weekly_hours: dict) -> list[str]:
    """["Monday–Friday: 09:00–18:00", "Saturday, Sunday: closed"] — consecutive days
    with the same hours grouped."""
    groups: list[tuple[list[str], str]] = []
    for day, label in DAYS:
        text = spans_text((weekly_hours or {}).get(day, [])) or _("closed")
        if groups and groups[-1][1] == text:
            groups[-1][0].append(str(label))
        else:
            groups.append(([str(label)], text))
    lines = []
    for names, text in groups:
        days = f"{names[0]}–{names[-1]}" if len(names) > 2 else ", ".join(names)
        lines.append(f"{days}: {text}")
    return lines


@dataclass
class HolidayRow:
    day: date
    name: str


@dataclass
class CalendarView:
    time_zone: str
    weekly_hours: dict
    lines: list[str]
    holidays: list[HolidayRow]
    upcoming: list[HolidayRow]


def _calendar_view_of(value: services.VersionCalendar) -> CalendarView:
    days = [HolidayRow(date.fromisoformat(h["day"]), h.get("name") or "") for h in value.holidays]
    today = timezone.localdate()
    return CalendarView(
        time_zone=value.time_zone,
        weekly_hours=value.weekly_hours,
        lines=week_summary(value.weekly_hours),
        holidays=days,
        upcoming=[h for h in days if h.day >= today][:5],
    )


def _calendar_view(organization) -> CalendarView:
    """The live calendar (the one clocks count with), read-only on the home."""
    return _calendar_view_of(services.live_calendar_copy(organization))


def _version_calendar_view(version: ContractVersion) -> CalendarView:
    """A version's own calendar: what it says (a draft: what its signatures will cover)."""
    return _calendar_view_of(services.version_calendar(version))


# --- Differences between two versions -------------------------------------------------


@dataclass
class Changes:
    terms: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.terms or self.added or self.removed)


def _sales_line(commitment: SalesCommitment) -> str:
    text = f"{describe_sales(commitment)} {describe_sales_terms(commitment)}"
    return f"{commitment.label}: {text}" if commitment.label else text


def version_lines(version: ContractVersion) -> list[str]:
    return [describe_marketing(c) for c in version.marketing_commitments.all()] + [
        _sales_line(c) for c in version.sales_commitments.all()
    ]


def changes_between(version: ContractVersion, base: ContractVersion | None) -> Changes:
    """What ``version`` says differently from ``base`` (commitments compared as the
    sentences both heads read: a changed target is one removed, one added)."""
    changes = Changes()
    if base is None or base.pk == version.pk:
        return changes
    if (version.title or "") != (base.title or ""):
        changes.terms.append(
            _("Title: %(old)s → %(new)s") % {"old": base.title or "—", "new": version.title or "—"}
        )
    if (version.preamble or "").strip() != (base.preamble or "").strip():
        changes.terms.append(_("The preamble changed."))
    mine, theirs = services.version_calendar(version), services.version_calendar(base)
    if mine.time_zone != theirs.time_zone:
        changes.terms.append(
            _("Time zone: %(old)s → %(new)s") % {"old": theirs.time_zone, "new": mine.time_zone}
        )
    if week_summary(mine.weekly_hours) != week_summary(theirs.weekly_hours):
        changes.terms.append(
            _("Business hours: %(new)s") % {"new": "; ".join(week_summary(mine.weekly_hours))}
        )
    if [h["day"] for h in mine.holidays] != [h["day"] for h in theirs.holidays]:
        changes.terms.append(_("The holidays changed."))
    before, after = version_lines(base), version_lines(version)
    changes.added = [line for line in after if line not in before]
    changes.removed = [line for line in before if line not in after]
    return changes


# --- Gauges and charts (server-side SVG) ----------------------------------------------


@dataclass
class Gauge:
    pacing: Any
    text: str
    status_label: str
    width: int
    actual_w: float
    expected_x: float
    target_x: float
    expected: str
    percent: str
    last_day: Any  # the period's last day (its end is exclusive)


def _gauge(p) -> Gauge:
    """A horizontal gauge: the bar is the actual count, the dashed tick the count
    expected by now, the solid line the period's target."""
    width = 360
    scale_max = max(p.target, p.actual, p.expected, 1) * 1.08
    x = lambda value: round(width * value / scale_max, 1)  # noqa: E731 - local scale
    status_label = str(
        {"ahead": _("Ahead"), "on_track": _("On track"), "behind": _("Behind")}.get(
            p.status, p.status
        )
    )
    return Gauge(
        pacing=p,
        text=describe_marketing(p.commitment),
        status_label=status_label,
        width=width,
        actual_w=max(x(p.actual), 0),
        expected_x=x(p.expected),
        target_x=x(p.target),
        expected=f"{p.expected:.1f}".removesuffix(".0"),
        percent="" if p.attainment is None else f"{round(p.attainment * 100)}",
        last_day=timezone.localtime(p.period_end - timedelta(seconds=1)).date(),
    )


def _series_chart(points: list) -> dict[str, Any] | None:
    """Vertical bars of compliance per week or month, 0–100 %, with a 100 % line."""
    if not points:
        return None
    height, top, bottom, left, bar, gap = 170, 16, 28, 46, 30, 14
    plot = height - top - bottom
    bars = []
    for i, point in enumerate(points):
        rate = point.compliance.rate
        h = 0 if rate is None else round(plot * rate, 1)
        x = left + i * (bar + gap)
        bars.append(
            {
                "x": x,
                "y": round(top + plot - h, 1),
                "h": max(h, 0),
                "empty": rate is None,
                "label": timezone.localtime(point.start).strftime("%d/%m"),
                "label_x": x + bar / 2,
                "value": "—" if rate is None else f"{round(rate * 100)} %",
                "value_y": round(top + plot - h - 4, 1),
                "tone": "none"
                if rate is None
                else ("good" if rate >= 0.9 else "warn" if rate >= 0.7 else "bad"),
                "total": point.compliance.total,
            }
        )
    return {
        "width": left + len(points) * (bar + gap),
        "height": height,
        "bar": bar,
        "bars": bars,
        "base": top + plot,
        "top": top,
        "mid": top + plot / 2,
        "left": left,
        "label_y": height - 8,
    }


# --- The home ---------------------------------------------------------------------------


@dataclass
class SalesRow:
    commitment: SalesCommitment
    text: str
    terms: str
    week: Any
    month: Any


@require_GET
def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    now = timezone.now()
    active = selectors.active_version(org)
    draft = selectors.draft_version(org)
    sales_rows: list[SalesRow] = []
    gauges: list[Gauge] = []
    if active is not None:
        week = selectors.period_bounds(org, "week", now)
        month = selectors.period_bounds(org, "month", now)
        by_week = dict(
            (c.pk, value)
            for c, value in selectors.compliance_by_commitment(org, start=week[0], end=week[1])
        )
        by_month = dict(
            (c.pk, value)
            for c, value in selectors.compliance_by_commitment(org, start=month[0], end=month[1])
        )
        sales_rows = [
            SalesRow(
                commitment=c,
                text=describe_sales(c),
                terms=describe_sales_terms(c),
                week=by_week.get(c.pk, selectors.EMPTY),
                month=by_month.get(c.pk, selectors.EMPTY),
            )
            for c in active.sales_commitments.all()
        ]
        gauges = [_gauge(p) for p in selectors.pacing(org, at=now)]
    context = {
        "active": active,
        "draft": draft,
        "can_manage": has_perm(membership, MANAGE),
        # The head who may sign the draft now gets the link on the home too.
        "sign_side": next(
            (
                side
                for side in ("marketing", "sales")
                if draft is not None
                and getattr(draft, f"{side}_signed_at") is None
                and has_perm(membership, SIGN[side])
            ),
            "",
        ),
        "marketing_lines": [describe_marketing(c) for c in active.marketing_commitments.all()]
        if active
        else [],
        "sales_rows": sales_rows,
        "gauges": gauges,
        "calendar": _calendar_view(org),
        "at_risk": badges.clock_badges(
            org, selectors.at_risk_clocks(org, now=now, limit=5) if active else [], now=now
        ),
        "now": now,
    }
    return render(request, "sla/home.html", context)


@require_POST
def draft_new(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Start the draft (a copy of the version in force, or the starting terms); an
    existing draft is opened instead."""
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    with _refusals_as_http():
        draft = services.draft_create(actor=actor, organization=org)
    return _to_version(request, draft, _("Draft v%(v)s is open.") % {"v": draft.number})


@require_POST
def draft_discard(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    """Drop a draft nobody signed yet (the version in force stays as it is)."""
    actor = _require(request, MANAGE)
    version = _version(request, version_id)
    try:
        with _refusals_as_http():
            services.draft_discard(actor=actor, version=version)
    except services.SlaError as error:
        messages.error(request, str(getattr(error, "message", "") or error))
        return redirect(_version_url(request, version))
    messages.success(request, _("Draft v%(v)s discarded.") % {"v": version.number})
    return redirect("sla-home", org_slug=request.organization.slug)  # type: ignore[attr-defined]


# --- A version: the editor of the draft, or a signed version --------------------------


@dataclass
class CommitmentRow:
    commitment: Any
    text: str
    terms: str = ""
    form: Any = None  # open for editing


def _signatures(version: ContractVersion, membership: Membership) -> list[dict[str, Any]]:
    rows = []
    for side, label in (("marketing", _("Marketing")), ("sales", _("Sales"))):
        signed_by = getattr(version, f"{side}_signed_by")
        signed_at = getattr(version, f"{side}_signed_at")
        rows.append(
            {
                "side": side,
                "label": label,
                "by": signed_by,
                "at": signed_at,
                "can_sign": signed_at is None
                and version.status == ContractVersion.Status.DRAFT
                and has_perm(membership, SIGN[side]),
            }
        )
    return rows


def _page_context(
    request: HttpRequest,
    version: ContractVersion,
    *,
    terms_form: TermsForm | None = None,
    marketing_form: MarketingCommitmentForm | None = None,
    marketing_editing: MarketingCommitmentForm | None = None,
    sales_form: SalesCommitmentForm | None = None,
    sales_editing: SalesCommitmentForm | None = None,
    calendar_form: CalendarForm | None = None,
    holiday_form: HolidayForm | None = None,
    saved: str = "",
    card_error: str = "",
) -> dict[str, Any]:
    org = request.organization  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    manage = has_perm(membership, MANAGE)
    editable = manage and version.is_editable
    active = selectors.active_version(org)
    base = active if active is not None and active.pk != version.pk else None
    calendar = _version_calendar_view(version)
    return {
        "version": version,
        "active": active,
        "base": base,
        "editable": editable,
        "can_manage": manage,
        "changes": changes_between(version, base)
        if version.status == ContractVersion.Status.DRAFT
        else Changes(),
        "terms_form": terms_form or (TermsForm.for_version(version) if editable else None),
        "marketing_rows": [
            CommitmentRow(
                commitment=c,
                text=describe_marketing(c),
                form=marketing_editing
                if marketing_editing is not None and marketing_editing.commitment_id == c.pk
                else None,
            )
            for c in version.marketing_commitments.all()
        ],
        "marketing_form": marketing_form or (MarketingCommitmentForm() if editable else None),
        "sales_rows": [
            CommitmentRow(
                commitment=c,
                text=describe_sales(c),
                terms=describe_sales_terms(c),
                form=sales_editing
                if sales_editing is not None and sales_editing.commitment_id == c.pk
                else None,
            )
            for c in version.sales_commitments.all()
        ],
        "sales_form": sales_form or (SalesCommitmentForm() if editable else None),
        "calendar": calendar,
        "calendar_form": calendar_form
        or (
            CalendarForm.for_calendar(calendar.time_zone, calendar.weekly_hours)
            if editable
            else None
        ),
        "holiday_form": holiday_form or (HolidayForm() if editable else None),
        "signatures": _signatures(version, membership),
        "saved": saved,
        "card_error": card_error,
    }


def _render_page(
    request: HttpRequest, version: ContractVersion, *, part: str = "", status: int = 200, **context
) -> HttpResponse:
    template = f"{PAGE}#{part}" if part else PAGE
    return render(request, template, _page_context(request, version, **context), status=status)


def _target(request: HttpRequest) -> str:
    target = request.htmx.target if request.htmx else ""  # type: ignore[attr-defined]
    return target if target in CARDS else ""


def _version(request: HttpRequest, version_id) -> ContractVersion:
    return selectors.get_version_with_commitments_for_org(request.organization, version_id)  # type: ignore[attr-defined]


@require_GET
def version_page(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    _require(request, VIEW)
    version = _version(request, version_id)
    return _render_page(request, version, part=_target(request))


def _bound_post(request: HttpRequest, form, service, *, card: str, version: ContractVersion, **kw):
    """Shared by the edit endpoints: validate the form, call the service, answer with
    the card (htmx), the page (errors without htmx) or ``None`` (saved in place)."""
    error_status = HTMX_INVALID if request.htmx else 400  # type: ignore[attr-defined]
    part = card if request.htmx else ""  # type: ignore[attr-defined]
    if not form.is_valid():
        return _render_page(request, version, part=part, status=error_status, **kw)
    try:
        with _refusals_as_http():
            result = service(form.to_service())
    except services.SlaError as error:
        if getattr(error, "status", 400) == 404:
            raise Http404 from error
        put_errors(form, error, getattr(form, "ERROR_FIELDS", None))
        return _render_page(request, version, part=part, status=error_status, **kw)
    draft = result[0] if isinstance(result, tuple) else result
    if isinstance(draft, ContractVersion) and draft.pk != version.pk:
        return _to_version(request, draft, _("Draft v%(v)s created.") % {"v": draft.number})
    return None


def _saved(request: HttpRequest, version: ContractVersion, card: str, message: str) -> HttpResponse:
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, message)
        return redirect(_version_url(request, version))
    return _render_page(request, _version(request, version.pk), part=card, saved=message)


def _refused(
    request: HttpRequest, version: ContractVersion, card: str, error: Exception
) -> HttpResponse:
    """A refusal of a formless action (delete, prefill): the card with the message."""
    message = str(getattr(error, "message", "") or error)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.error(request, message)
        return redirect(_version_url(request, version))
    return _render_page(request, version, part=card, status=HTMX_INVALID, card_error=message)


@require_POST
def terms_update(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    version = _version(request, version_id)
    form = TermsForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.version_update(actor=actor, version=version, **data),
        card="terms-card",
        version=version,
        terms_form=form,
    )
    return refused or _saved(request, version, "terms-card", _("Terms saved."))


# Marketing commitments


@require_POST
def marketing_add(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    version = _version(request, version_id)
    form = MarketingCommitmentForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.marketing_commitment_add(actor=actor, version=version, data=data),
        card="marketing-card",
        version=version,
        marketing_form=form,
    )
    return refused or _saved(request, version, "marketing-card", _("Marketing commitment added."))


@require_http_methods(["GET", "POST"])
def marketing_edit(request: HttpRequest, org_slug: str, commitment_id: int) -> HttpResponse:
    """GET: the card with this commitment's form open. POST: save it."""
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    commitment = selectors.get_marketing_commitment_for_org(org, commitment_id)
    version = _version(request, commitment.version_id)
    part = "marketing-card" if request.htmx else ""  # type: ignore[attr-defined]
    if request.method == "GET":
        form = MarketingCommitmentForm.for_commitment(commitment)
        return _render_page(request, version, part=part, marketing_editing=form)
    form = MarketingCommitmentForm(request.POST, commitment_id=commitment.pk)
    refused = _bound_post(
        request,
        form,
        lambda data: services.marketing_commitment_update(
            actor=actor, commitment=commitment, data=data
        ),
        card="marketing-card",
        version=version,
        marketing_editing=form,
    )
    return refused or _saved(request, version, "marketing-card", _("Marketing commitment saved."))


@require_POST
def marketing_delete(request: HttpRequest, org_slug: str, commitment_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    commitment = selectors.get_marketing_commitment_for_org(org, commitment_id)
    version = _version(request, commitment.version_id)
    try:
        with _refusals_as_http():
            services.marketing_commitment_remove(actor=actor, commitment=commitment)
    except services.SlaError as error:
        return _refused(request, version, "marketing-card", error)
    return _saved(request, version, "marketing-card", _("Marketing commitment removed."))


# Sales commitments


@require_POST
def sales_add(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    version = _version(request, version_id)
    form = SalesCommitmentForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.sales_commitment_add(actor=actor, version=version, data=data),
        card="sales-card",
        version=version,
        sales_form=form,
    )
    return refused or _saved(request, version, "sales-card", _("Sales commitment added."))


@require_http_methods(["GET", "POST"])
def sales_edit(request: HttpRequest, org_slug: str, commitment_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    commitment = selectors.get_sales_commitment_for_org(org, commitment_id)
    version = _version(request, commitment.version_id)
    part = "sales-card" if request.htmx else ""  # type: ignore[attr-defined]
    if request.method == "GET":
        form = SalesCommitmentForm.for_commitment(commitment)
        return _render_page(request, version, part=part, sales_editing=form)
    form = SalesCommitmentForm(request.POST, commitment_id=commitment.pk)
    refused = _bound_post(
        request,
        form,
        lambda data: services.sales_commitment_update(
            actor=actor, commitment=commitment, data=data
        ),
        card="sales-card",
        version=version,
        sales_editing=form,
    )
    return refused or _saved(request, version, "sales-card", _("Sales commitment saved."))


@require_POST
def sales_delete(request: HttpRequest, org_slug: str, commitment_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    commitment = selectors.get_sales_commitment_for_org(org, commitment_id)
    version = _version(request, commitment.version_id)
    try:
        with _refusals_as_http():
            services.sales_commitment_remove(actor=actor, commitment=commitment)
    except services.SlaError as error:
        return _refused(request, version, "sales-card", error)
    return _saved(request, version, "sales-card", _("Sales commitment removed."))


# The business calendar (edited from the draft: its hours are part of what is signed)


def _editable_draft(request: HttpRequest, version_id) -> ContractVersion:
    version = _version(request, version_id)
    if not version.is_editable:
        # Signed terms never change; the calendar is edited with a draft.
        raise PermissionDenied(_("Only a draft nobody has signed yet can change."))
    return version


@require_POST
def calendar_update(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    version = _editable_draft(request, version_id)
    form = CalendarForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.calendar_update(actor=actor, version=version, **data),
        card="calendar-card",
        version=version,
        calendar_form=form,
    )
    return refused or _saved(request, version, "calendar-card", _("Working hours saved."))


@require_POST
def holiday_add(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    version = _editable_draft(request, version_id)
    form = HolidayForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.holiday_add(actor=actor, version=version, **data),
        card="calendar-card",
        version=version,
        holiday_form=form,
    )
    return refused or _saved(request, version, "calendar-card", _("Holiday added."))


@require_POST
def holiday_delete(request: HttpRequest, org_slug: str, version_id: int, day: str) -> HttpResponse:
    """Remove the draft's holiday of ``day`` (``YYYY-MM-DD``; another string: 404)."""
    actor = _require(request, MANAGE)
    version = _editable_draft(request, version_id)
    try:
        when = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        when = None
    if when is None:
        raise Http404
    try:
        with _refusals_as_http():
            services.holiday_remove(actor=actor, version=version, day=when)
    except services.SlaError as error:
        if getattr(error, "status", 400) == 404:
            raise Http404 from error
        return _refused(request, version, "calendar-card", error)
    return _saved(request, version, "calendar-card", _("Holiday removed."))


@require_POST
def holidays_prefill(request: HttpRequest, org_slug: str, version_id: int) -> HttpResponse:
    """Add France's public holidays of this year and the next (the ``holidays`` package)."""
    actor = _require(request, MANAGE)
    version = _editable_draft(request, version_id)
    year = timezone.localdate().year
    try:
        # All or nothing: a refusal (4xx) is not rolled back by the middleware.
        with _refusals_as_http(), transaction.atomic():
            added = services.holidays_add_public(
                actor=actor, version=version, country="FR", years=[year, year + 1]
            )
    except services.SlaError as error:
        return _refused(request, version, "calendar-card", error)
    count = added
    message = ngettext(
        "%(n)s French public holiday added.", "%(n)s French public holidays added.", count
    ) % {"n": count}
    return _saved(request, version, "calendar-card", message)


# --- Signing --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign(request: HttpRequest, org_slug: str, version_id: int, side: str) -> HttpResponse:
    """GET: the exact text being signed and what signing means (the confirmation step).
    POST: sign it — refused if the terms changed since the page showed them."""
    if side not in SIGN:
        raise Http404
    _require(request, SIGN[side])
    org = request.organization  # type: ignore[attr-defined]
    version = _version(request, version_id)
    if (
        getattr(version, f"{side}_signed_at") is not None
        or version.status != ContractVersion.Status.DRAFT
    ):
        messages.info(request, _("This side has already signed this version."))
        return redirect(_version_url(request, version))
    error = ""
    status = 200
    form = SignForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            error, status = _("The signature lacks the terms it covers. Reload the page."), 400
        else:
            try:
                # The service compares the hash with the terms under the row lock: an
                # edit landing between reading and signing refuses the signature (409).
                signed = services.sign(
                    version=version,
                    user=request.user,
                    side=side,
                    expected_hash=form.cleaned_data["terms_hash"],
                )
            except services.SlaError as refusal:
                if refusal.status == 404:
                    raise Http404 from refusal
                if refusal.status == 403:
                    raise PermissionDenied(refusal.message) from refusal
                error, status = refusal.message, refusal.status
                version = _version(request, version.pk)
            else:
                if signed.status == ContractVersion.Status.ACTIVE:
                    messages.success(
                        request,
                        _("Signed by both heads: version %(v)s is in force.")
                        % {"v": signed.number},
                    )
                else:
                    messages.success(
                        request,
                        _("Signed for %(side)s. The other head's signature is awaited.")
                        % {"side": _("marketing") if side == "marketing" else _("sales")},
                    )
                return redirect(_version_url(request, signed))
    # What is shown (again, after a refusal: as it is now) and its hash.
    terms = services.terms(version)
    current_hash = services.terms_hash(terms)
    context = {
        "version": version,
        "side": side,
        "side_label": _("marketing") if side == "marketing" else _("sales"),
        # The very text the signed version will keep (services._activate renders it so).
        "text": services.render_terms_text(version, terms, org.language or "fr"),
        "terms_hash": current_hash,
        "error": error,
        "active": selectors.active_version(org),
    }
    return render(request, "sla/sign.html", context, status=status)


# --- History --------------------------------------------------------------------------


@dataclass
class HistoryRow:
    version: ContractVersion
    changes: Changes
    previous: ContractVersion | None


@require_GET
def history(request: HttpRequest, org_slug: str) -> HttpResponse:
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    versions = list(
        selectors.versions(org).prefetch_related(
            Prefetch(
                "marketing_commitments",
                queryset=MarketingCommitment.unscoped.order_by("position", "id"),
            ),
            Prefetch(
                "sales_commitments", queryset=SalesCommitment.unscoped.order_by("position", "id")
            ),
        )
    )
    rows = []
    for i, version in enumerate(versions):  # newest first: the previous is the next one
        previous = versions[i + 1] if i + 1 < len(versions) else None
        rows.append(
            HistoryRow(
                version=version, changes=changes_between(version, previous), previous=previous
            )
        )
    return render(request, "sla/history.html", {"rows": rows})


# --- Compliance -----------------------------------------------------------------------


@require_GET
def compliance(request: HttpRequest, org_slug: str) -> HttpResponse:
    """``?period=week|month&at=YYYY-MM-DD&owner=<id>``: the period containing ``at``
    (this one by default); ``owner`` narrows the commitments and the chart to a rep."""
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    form = ComplianceFilterForm(request.GET)
    status = 200
    if not form.is_valid():
        status = 400
        form = ComplianceFilterForm({})
        form.is_valid()
    data = form.cleaned_data
    period = data.get("period") or "week"
    now = timezone.now()
    zone = org.zone
    at = datetime.combine(data["at"], datetime.min.time(), tzinfo=zone) if data.get("at") else now
    start, end = selectors.period_bounds(org, period, at)
    owner_id = data.get("owner")
    commitment_id = data.get("commitment")
    # The chart: the N periods up to this one.
    first = start
    for _i in range(SERIES_LENGTH[period] - 1):
        first = selectors.period_bounds(org, period, first - timedelta(seconds=1))[0]
    series = selectors.compliance_series(
        org, start=first, end=end, bucket=period, owner_id=owner_id, commitment_id=commitment_id
    )
    by_owner = selectors.compliance_by_owner(org, start=start, end=end)
    owner_label = (
        next((label for pk, label, _c in by_owner if pk == owner_id), "") if owner_id else ""
    )
    previous_start = selectors.period_bounds(org, period, start - timedelta(seconds=1))[0]
    context = {
        "form": form,
        "period": period,
        "start": start,
        "end": end,
        "last_day": timezone.localtime(end - timedelta(seconds=1)).date(),
        "previous_at": timezone.localtime(previous_start).date(),
        "next_at": timezone.localtime(end).date() if end <= now else None,
        "is_current": start <= now < end,
        "owner_id": owner_id,
        "owner_label": owner_label,
        "overall": selectors.compliance(
            org, start=start, end=end, owner_id=owner_id, commitment_id=commitment_id
        ),
        "commitment_id": commitment_id,
        "by_owner": by_owner,
        "by_commitment": [
            (c, describe_sales(c), value)
            for c, value in selectors.compliance_by_commitment(
                org, start=start, end=end, owner_id=owner_id
            )
        ],
        "chart": _series_chart(series),
        "breached": selectors.breached_clocks(org, start=start, end=end, limit=20),
        "at_risk": badges.clock_badges(
            org, selectors.at_risk_clocks(org, now=now, limit=20), now=now
        ),
        "now": now,
    }
    return render(request, "sla/compliance.html", context, status=status)


# --- One lead's countdown (the badge refreshes itself) ----------------------------------


@require_GET
def lead_clock(request: HttpRequest, org_slug: str, lead_id: int) -> HttpResponse:
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    lead = get_lead_for_org(org, lead_id)
    # ``?single=1``: the badge of the lead's own page (else a list's row).
    single = request.GET.get("single") == "1"
    html = badges.lead_badges(org, [lead], single=single).get(lead.pk, "")
    # No clock any more: an empty answer, so htmx removes the badge.
    return HttpResponse(html)
