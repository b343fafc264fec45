"""The dashboard pages under ``/o/<slug>/dashboard/``: the team dashboard (HTMX panels
that refresh themselves), the funnel audit (the guide's week 1: where do we lose
prospects?), attribution and content ROI, and the KPI targets.

Every figure comes from ``dashboards.kpis`` (and the SLA selectors for clocks): this
module only chooses what to show and formats it in the reader's language; it never
counts anything itself, so the dashboard, the TV, the API and the meeting pack agree.

Each view: check the role → read the filters (period and segment, in the URL query) →
call the KPI layer → render. A panel request (``dashboards-panel``) renders one
template partial of the dashboard page with only the figures that panel needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from leads.models import Campaign, Content, Lead, Stage
from smarketing.tenancy import permissions
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import has_perm

from . import charts, kpis
from .forms import PRESETS, FilterForm, Filters, TargetForm

VIEW, MANAGE = "dashboards.view", "dashboards.manage"
PAGE = "dashboards/home.html"
PANELS = ("kpis", "commitments", "funnel", "sla", "acceptance", "revenue", "hot-leads")
POLL_SECONDS = 30
HOT_LEADS = 8
CLOCKS = 6
REASONS = 5

# --- Formatting (the reader's language) ----------------------------------------------

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF", "CAD": "$ CA"}
NNBSP = "\u202f"  # the narrow no-break space French puts before % and €


def _french() -> bool:
    return (translation.get_language() or "").startswith("fr")


def number(value: Any, decimals: int = 0) -> str:
    if value is None:
        return "—"
    return formats.number_format(
        round(Decimal(str(value)), decimals), decimals, use_l10n=True, force_grouping=True
    )


def percent(rate: Any, decimals: int = 0) -> str:
    """A 0..1 rate as "42 %" (French) or "42%" (English); "—" when there is none."""
    if rate is None:
        return "—"
    text = number(Decimal(str(rate)) * 100, decimals)
    return f"{text}{NNBSP}%" if _french() else f"{text}%"


def money(value: Any, currency: str = "EUR") -> str:
    if value is None:
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "—"
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    text = number(amount, 0)
    if _french() or len(symbol) > 1:
        return f"{text}{NNBSP}{symbol}"
    return f"{symbol}{text}"


def duration(minutes: Any) -> str:
    """42 min, 3 h 20, 2 d 4 h."""
    if minutes is None:
        return "—"
    total = round(float(minutes))
    if total < 60:
        return _("%(m)s min") % {"m": total}
    hours, mins = divmod(total, 60)
    if hours < 24:
        if mins:
            return _("%(h)s h %(m)02d") % {"h": hours, "m": mins}
        return _("%(h)s h") % {"h": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    return _("%(d)s d") % {"d": days}


def kpi_value(current: dict[str, Any], name: str) -> Any:
    """One KPI of a report's ``current`` (or ``previous``) dict, by its report name."""
    if name == "sla_rate":
        return (current.get("sla") or {}).get("rate")
    if name == "mql_to_sql_rate":
        return (current.get("mql_cohort") or {}).get("rate")
    return current.get(name)


# --- Tiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TileSpec:
    name: str
    label: Any
    kind: str  # count | rate | money | minutes
    hint: Any = ""


TILES = (
    TileSpec("new_leads", gettext_lazy("New leads"), "count"),
    TileSpec("mqls", gettext_lazy("MQLs"), "count"),
    TileSpec("sals", gettext_lazy("SALs"), "count", gettext_lazy("accepted by sales")),
    TileSpec("sqls", gettext_lazy("SQLs"), "count"),
    TileSpec("acceptance_rate", gettext_lazy("Acceptance rate"), "rate"),
    TileSpec("mql_to_sql_rate", gettext_lazy("MQL → SQL"), "rate", gettext_lazy("cohort")),
    TileSpec("speed_to_lead_minutes", gettext_lazy("Speed to lead"), "minutes"),
    TileSpec("sla_rate", gettext_lazy("SLA compliance"), "rate"),
    TileSpec("pipeline_created", gettext_lazy("Pipeline created"), "money"),
    TileSpec("revenue_won", gettext_lazy("Revenue won"), "money"),
    TileSpec("marketing_sourced_share", gettext_lazy("Marketing-sourced"), "rate"),
    TileSpec("cac", gettext_lazy("CAC"), "money", gettext_lazy("spend / new customers")),
)
TV_TILES = ("new_leads", "mqls", "sals", "sqls", "acceptance_rate", "revenue_won")


@dataclass
class Tile:
    name: str
    label: str
    value: str
    previous: str
    delta: str = ""
    trend: str = ""  # up | down | flat
    better: bool | None = None
    target: str = ""
    progress: float | None = None  # 0..100 of the target, for the bar
    hint: str = ""
    raw: Any = None


def _display(kind: str, value: Any, currency: str) -> str:
    if kind == "rate":
        return percent(value)
    if kind == "money":
        return money(value, currency)
    if kind == "minutes":
        return duration(value)
    return number(value)


def _delta_text(kind: str, delta: dict[str, Any], currency: str) -> str:
    change = delta.get("change")
    if change is None:
        return ""
    change = Decimal(str(change))
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if kind == "rate":
        points = number(abs(change) * 100, 0)
        return _("%(sign)s%(points)s pts") % {"sign": sign, "points": points}
    ratio = delta.get("ratio")
    if kind in ("count", "money") and ratio is not None:
        return f"{sign}{percent(abs(ratio))}"
    if kind == "minutes":
        return f"{sign}{duration(abs(change))}"
    if kind == "money":
        return f"{sign}{money(abs(change), currency)}"
    return f"{sign}{number(abs(change))}"


def tiles(report: dict[str, Any], names: tuple[str, ...] | None = None) -> list[Tile]:
    current, previous = report["current"], report["previous"]
    currency = current.get("currency") or "EUR"
    targets, deltas = report.get("targets") or {}, report.get("deltas") or {}
    out = []
    for spec in TILES:
        if names is not None and spec.name not in names:
            continue
        value = kpi_value(current, spec.name)
        tile = Tile(
            name=spec.name,
            label=str(spec.label),
            value=_display(spec.kind, value, currency),
            previous=_display(spec.kind, kpi_value(previous, spec.name), currency),
            hint=str(spec.hint),
            raw=value,
        )
        delta = deltas.get(spec.name)
        if delta:
            change = Decimal(str(delta.get("change") or 0))
            tile.trend = "up" if change > 0 else ("down" if change < 0 else "flat")
            tile.better = None if change == 0 else bool(delta.get("better"))
            tile.delta = _delta_text(spec.kind, delta, currency)
        target = targets.get(spec.name)
        if target not in (None, ""):
            tile.target = _display(spec.kind, target, currency)
            try:
                if value is not None and Decimal(str(target)) > 0:
                    share = Decimal(str(value)) / Decimal(str(target))
                    tile.progress = float(min(share, Decimal(1)) * 100)
            except InvalidOperation:
                tile.progress = None
        out.append(tile)
    return out


# --- Panels ---------------------------------------------------------------------------


STAGE_LABELS = dict(Stage.choices)
STATUS_LABELS = {
    "ahead": gettext_lazy("Ahead"),
    "on_track": gettext_lazy("On track"),
    "behind": gettext_lazy("Behind"),
}


@dataclass
class Gauge:
    label: str
    svg: str
    status: str
    status_label: str
    actual: str
    target: str
    period_end: datetime | None = None


def gauges(commitments: list[dict[str, Any]], *, width: float = 220, css: str = "") -> list[Gauge]:
    out = []
    for row in commitments:
        target = row.get("target") or 0
        expected = row.get("expected")
        attainment = row.get("attainment")
        status = row.get("status") or ""
        label = str(row.get("label") or "")
        caption = _("%(actual)s of %(target)s") % {
            "actual": number(row.get("actual")),
            "target": number(target),
        }
        svg = charts.gauge(
            attainment,
            label=f"{label}: {percent(attainment)}",
            display=percent(attainment),
            caption=caption,
            expected=(float(expected) / target) if target and expected is not None else None,
            status=status,
            width=width,
            css=css,
        )
        out.append(
            Gauge(
                label=label,
                svg=svg,
                status=status,
                status_label=str(STATUS_LABELS.get(status, "")),
                actual=number(row.get("actual")),
                target=number(target),
                period_end=_parse(row.get("period_end")),
            )
        )
    return out


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def funnel_svg(stages: list[Any], *, label: str, width: float = 640, css: str = "", **kw) -> str:
    leak = kpis.biggest_leak(stages)
    steps = [
        charts.Step(
            label=str(s.label),
            value=s.entered,
            display=number(s.entered),
            conversion=("→ " + percent(s.conversion)) if s.conversion is not None else "",
            leak=leak is not None and s.stage == leak.stage,
        )
        for s in stages
    ]
    return charts.funnel_chart(
        steps, label=label, empty=_("No lead in this period."), width=width, css=css, **kw
    )


def sales_sentence(commitment: Any) -> str:
    """ "Sales responds to every new MQL within 4 h (business hours)." """
    minutes = duration(commitment.response_minutes)
    if commitment.label:
        what = commitment.label
    elif commitment.trigger == "became_mql":
        what = _("every new MQL")
    elif commitment.trigger == "became_hot":
        what = _("every lead that becomes hot")
    else:
        what = _("every “%(event)s”") % {"event": commitment.event_type}
    if commitment.business_time:
        return _("Sales responds to %(what)s within %(time)s of business hours.") % {
            "what": what,
            "time": minutes,
        }
    return _("Sales responds to %(what)s within %(time)s.") % {"what": what, "time": minutes}


@dataclass
class ClockRow:
    clock: Any
    lead_name: str
    owner: str
    commitment: str
    due_at: datetime
    when: str  # "in 42 min", "12 min late"
    late: bool


def clock_rows(clocks: list[Any], now: datetime) -> list[ClockRow]:
    rows = []
    for clock in clocks:
        gap = (clock.due_at - now).total_seconds() / 60
        late = gap < 0
        if clock.status == "breached" or late:
            reference = clock.breached_at or clock.due_at
            late_by = max((now - reference).total_seconds() / 60, abs(gap) if late else 0)
            when = _("%(time)s late") % {"time": duration(late_by)}
            late = True
        else:
            when = _("in %(time)s") % {"time": duration(gap)}
        owner = clock.owner.get_full_name() or clock.owner.email if clock.owner else _("Unassigned")
        rows.append(
            ClockRow(
                clock=clock,
                lead_name=str(clock.lead),
                owner=owner,
                commitment=str(clock.commitment),
                due_at=clock.due_at,
                when=when,
                late=late,
            )
        )
    return rows


@dataclass
class HotLead:
    lead: Lead
    name: str
    company: str
    score: int
    grade: str
    owner: str
    since: datetime | None


def hot_rows(leads: list[Lead]) -> list[HotLead]:
    return [
        HotLead(
            lead=lead,
            name=str(lead),
            company=lead.company.name if lead.company_id and lead.company else "",
            score=lead.score,
            grade=lead.grade,
            owner=(lead.owner.get_full_name() or lead.owner.email) if lead.owner_id else "",
            since=lead.hot_since,
        )
        for lead in leads
    ]


@dataclass
class Board:
    """What one request shows: each figure fetched at most once, on first use, and
    shared by the panels that need it (the full page renders them all)."""

    organization: Organization
    filters: Filters
    now: datetime = field(default_factory=timezone.now)

    @cached_property
    def report(self) -> dict[str, Any]:
        return kpis.report(self.organization, self.filters.period, self.filters.segment)

    @cached_property
    def current(self) -> dict[str, Any]:
        """The period's KPIs: the report's when it was fetched already (the page), else
        just this period's (a panel without trends needs no previous period)."""
        if "report" in self.__dict__:
            return self.report["current"]
        return kpis.compute(self.organization, self.filters.period, self.filters.segment).as_dict()

    @cached_property
    def funnel(self) -> list[Any]:
        return kpis.funnel(self.organization, self.filters.period, self.filters.segment)

    @cached_property
    def hot_leads(self) -> list[Lead]:
        return kpis.hot_leads(self.organization, limit=HOT_LEADS, segment=self.filters.segment)

    @cached_property
    def at_risk(self) -> list[Any]:
        from sla import selectors as sla

        owner_id = self.filters.segment.owner_id
        if owner_id:  # the owner is a clock's own attribute: the one segment clocks take
            return list(
                sla.clocks(self.organization, owner_id=owner_id)
                .filter(status__in=sla.OPEN)
                .order_by("due_at", "pk")[:CLOCKS]
            )
        return sla.at_risk_clocks(self.organization, now=self.now, limit=CLOCKS)

    @cached_property
    def breached(self) -> list[Any]:
        from sla import selectors as sla

        period = self.filters.period
        owner_id = self.filters.segment.owner_id
        if owner_id:
            return list(
                sla.clocks(self.organization, status="breached", owner_id=owner_id)
                .filter(due_at__gte=period.start, due_at__lt=period.end)
                .order_by("-due_at", "-pk")[:CLOCKS]
            )
        return sla.breached_clocks(
            self.organization, start=period.start, end=period.end, limit=CLOCKS
        )

    @cached_property
    def contract(self) -> Any:
        from sla import selectors as sla

        return sla.active_version(self.organization)

    # --- panel contexts ---

    def panel_kpis(self) -> dict[str, Any]:
        return {"tiles": tiles(self.report)}

    def panel_commitments(self) -> dict[str, Any]:
        version = self.contract
        return {
            "gauges": gauges(self.current.get("commitments") or []),
            "sales_commitments": [sales_sentence(c) for c in version.sales_commitments.all()]
            if version is not None
            else [],
        }

    def panel_funnel(self) -> dict[str, Any]:
        stages = self.funnel
        leak = kpis.biggest_leak(stages)
        return {
            "funnel_svg": funnel_svg(stages, label=_("Funnel of the period")),
            "leak": leak,
            "leak_label": STAGE_LABELS.get(leak.next_stage, leak.next_stage) if leak else "",
            "leak_conversion": percent(leak.conversion) if leak else "",
        }

    def panel_sla(self) -> dict[str, Any]:
        sla = self.current.get("sla") or {}
        met, breached = sla.get("met") or 0, sla.get("breached") or 0
        return {
            "sla": sla,
            "sla_rate": percent(sla.get("rate")),
            "sla_speed": duration(sla.get("speed_to_lead_minutes")),
            "sla_donut": charts.donut(
                [
                    charts.Slice(_("Met"), met, number(met)),
                    charts.Slice(_("Breached"), breached, number(breached)),
                ],
                label=_("SLA compliance"),
                centre=percent(sla.get("rate")),
                centre_caption=_("met"),
                empty=_("No clock was due in this period."),
                colours=(charts.SUCCESS, charts.DANGER),
                size=130,
                legend_width=120,
            ),
            "at_risk": clock_rows(self.at_risk, self.now),
            "breached": clock_rows(self.breached, self.now),
        }

    def panel_acceptance(self) -> dict[str, Any]:
        current = self.current
        accepted, rejected = current.get("accepted") or 0, current.get("rejected") or 0
        reasons = (current.get("rejection_reasons") or [])[:REASONS]
        return {
            "acceptance_rate": percent(current.get("acceptance_rate")),
            "accepted": number(accepted),
            "rejected": number(rejected),
            "acceptance_donut": charts.donut(
                [
                    charts.Slice(_("Accepted"), accepted, number(accepted)),
                    charts.Slice(_("Rejected"), rejected, number(rejected)),
                ],
                label=_("Acceptance rate"),
                centre=percent(current.get("acceptance_rate")),
                centre_caption=_("accepted"),
                empty=_("No decision in this period."),
                colours=(charts.PRIMARY, "#f04438"),
                size=150,
                legend_width=170,
            ),
            "reasons_svg": charts.bar_chart(
                [charts.Bar(str(label), count, number(count)) for _code, label, count in reasons],
                label=_("Top rejection reasons"),
                empty=_("No rejection in this period."),
                width=420,
                label_width=150,
                value_width=50,
                bar_height=22,
                gap=10,
                size=13,
            )
            if reasons
            else "",
        }

    def panel_revenue(self) -> dict[str, Any]:
        current = self.current
        currency = current.get("currency") or "EUR"
        won = Decimal(str(current.get("revenue_won") or 0))
        sourced = Decimal(str(current.get("marketing_sourced_revenue") or 0))
        return {
            "revenue_won": money(won, currency),
            "deals_won": number(current.get("deals_won")),
            "deals_won_count": current.get("deals_won") or 0,
            "sourced": money(sourced, currency),
            "sourced_share": percent(current.get("marketing_sourced_share")),
            "pipeline": money(current.get("pipeline_created"), currency),
            "spend": money(current.get("spend"), currency),
            "cac": money(current.get("cac"), currency),
            "new_customers": number(current.get("new_customers")),
            "revenue_donut": charts.donut(
                [
                    charts.Slice(_("Marketing-sourced"), float(sourced), money(sourced, currency)),
                    charts.Slice(_("Other"), float(won - sourced), money(won - sourced, currency)),
                ],
                label=_("Marketing-sourced share of revenue won"),
                centre=percent(current.get("marketing_sourced_share")),
                centre_caption=_("marketing"),
                empty=_("No deal won in this period."),
                colours=(charts.PRIMARY, "#98a2b3"),
                size=150,
                legend_width=280,
            ),
        }

    def panel_hot_leads(self) -> dict[str, Any]:
        return {"hot_leads": hot_rows(self.hot_leads)}

    def context(self, name: str) -> dict[str, Any]:
        return getattr(self, "panel_" + name.replace("-", "_"))()


# --- Views ----------------------------------------------------------------------------


def _require(request: HttpRequest, perm: str) -> Membership:
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


def read_filters(
    request: HttpRequest, organization: Organization, *, segments: bool = True
) -> tuple[FilterForm, Filters]:
    form = FilterForm(request.GET, organization=organization, segments=segments)
    return form, form.filters(kpis.local_today(organization))


def _base_context(request: HttpRequest, form: FilterForm, filters: Filters) -> dict[str, Any]:
    org = request.organization  # type: ignore[attr-defined]
    return {
        "form": form,
        "filters": filters,
        "presets": [
            (key, label, filters.with_params(period=key, date_from="", date_to=""))
            for key, label in PRESETS
            if key != "custom"
        ],
        "poll_seconds": POLL_SECONDS,
        "targets_url": reverse("dashboards-targets", kwargs={"org_slug": org.slug}),
        "can_manage": has_perm(request.membership, MANAGE),  # type: ignore[attr-defined]
        "period_label": period_label(filters),
        "organization": org,
    }


def period_label(filters: Filters) -> str:
    first, last = filters.period.first_day, filters.period.last_day
    if first == last:
        return formats.date_format(first, "DATE_FORMAT")
    return _("%(first)s – %(last)s") % {
        "first": formats.date_format(first, "j M" if first.year == last.year else "j M Y"),
        "last": formats.date_format(last, "j M Y"),
    }


@require_GET
def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The team dashboard: every panel, each refreshing itself by polling."""
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    form, filters = read_filters(request, org)
    board = Board(org, filters)
    context = _base_context(request, form, filters)
    for name in PANELS:
        context.update(board.context(name))
    context["updated_at"] = board.now
    return render(request, PAGE, context)


@require_GET
def panel(request: HttpRequest, org_slug: str, name: str) -> HttpResponse:
    """One panel of the dashboard (its HTMX poll), with only the figures it needs."""
    _require(request, VIEW)
    if name not in PANELS:
        raise Http404
    org = request.organization  # type: ignore[attr-defined]
    form, filters = read_filters(request, org)
    board = Board(org, filters)
    context = _base_context(request, form, filters)
    context.update(board.context(name))
    context["updated_at"] = board.now
    return render(request, f"{PAGE}#panel-{name}", context)


# --- Funnel audit ---------------------------------------------------------------------


@dataclass
class FunnelRow:
    s: Any  # kpis.FunnelStage
    conversion: str
    median_days: str
    bar: int  # conversion in whole percent, for the little bar
    leak: bool


def funnel_rows(stages: list[Any], leak: Any) -> list[FunnelRow]:
    return [
        FunnelRow(
            s=s,
            conversion=percent(s.conversion),
            median_days=number(s.median_days, 1) if s.median_days is not None else "—",
            bar=round((s.conversion or 0) * 100),
            leak=leak is not None and s.stage == leak.stage,
        )
        for s in stages
    ]


@dataclass
class FunnelGroup:
    key: str
    label: str
    rows: list[FunnelRow]
    leak: Any
    entered: int


def _groups(stages: list[Any]) -> list[FunnelGroup]:
    by: dict[str, list[Any]] = {}
    labels: dict[str, str] = {}
    for stage in stages:
        by.setdefault(stage.group, []).append(stage)
        labels[stage.group] = stage.group_label or stage.group
    groups = []
    for key, rows in by.items():
        leak = kpis.biggest_leak(rows)
        groups.append(
            FunnelGroup(
                key=key,
                label=labels[key] or _("(none)"),
                rows=funnel_rows(rows, leak),
                leak=leak,
                entered=rows[0].entered if rows else 0,
            )
        )
    groups.sort(key=lambda g: (-g.entered, g.label))
    return groups


@require_GET
def funnel_audit(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Where do we lose prospects? Stage-to-stage conversion, drop-off and time in
    stage, overall and by source and campaign, the biggest leak highlighted."""
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    form, filters = read_filters(request, org)
    period, segment = filters.period, filters.segment
    stages = kpis.funnel(org, period, segment)
    leak = kpis.biggest_leak(stages)
    by_source = _groups(kpis.funnel(org, period, segment, by="source"))
    by_campaign = _groups(kpis.funnel(org, period, segment, by="campaign"))
    columns = [s for s in stages if s.stage != Stage.CUSTOMER]
    context = _base_context(request, form, filters)
    context.update(
        {
            "stages": stages,
            "stage_rows": funnel_rows(stages, leak),
            "leak": leak,
            "leak_conversion": percent(leak.conversion) if leak else "",
            "breakdowns": [
                (
                    _("By source"),
                    by_source,
                    _export_url(request, "dashboards-funnel-export", filters, by="source"),
                ),
                (
                    _("By campaign"),
                    by_campaign,
                    _export_url(request, "dashboards-funnel-export", filters, by="campaign"),
                ),
            ],
            "leak_next": STAGE_LABELS.get(leak.next_stage, leak.next_stage) if leak else "",
            "funnel_svg": funnel_svg(stages, label=_("Funnel of the period"), width=720),
            "by_source": by_source,
            "by_campaign": by_campaign,
            "columns": columns,
            "export_url": _export_url(request, "dashboards-funnel-export", filters),
        }
    )
    return render(request, "dashboards/funnel.html", context)


def _export_url(request: HttpRequest, name: str, filters: Filters, **extra: str) -> str:
    try:
        url = reverse(name, kwargs={"org_slug": request.organization.slug})  # type: ignore[attr-defined]
    except NoReverseMatch:  # the export is not wired (yet): no link
        return ""
    query = filters.with_params(**extra)
    return f"{url}?{query}" if query else url


# --- Attribution ----------------------------------------------------------------------

MODEL_LABELS = {
    "first_touch": gettext_lazy("First touch"),
    "last_touch": gettext_lazy("Last touch"),
    "linear": gettext_lazy("Linear"),
    "u_shaped": gettext_lazy("U-shaped"),
    "w_shaped": gettext_lazy("W-shaped"),
    "time_decay": gettext_lazy("Time decay"),
}
MODEL_HELP = {
    "first_touch": gettext_lazy("All the credit to the first touch."),
    "last_touch": gettext_lazy("All the credit to the last touch before the deal."),
    "linear": gettext_lazy("The credit shared equally between every touch."),
    "u_shaped": gettext_lazy("40% first touch, 40% last touch, 20% shared between the others."),
    "w_shaped": gettext_lazy(
        "30% first touch, 30% the touch that made the lead an MQL, 30% last touch, "
        "10% shared between the others."
    ),
    "time_decay": gettext_lazy("Recent touches count more (half-life: 7 days)."),
}
BY_LABELS = {"content": gettext_lazy("Content"), "campaign": gettext_lazy("Campaigns")}
CHART_ROWS = 10


@require_GET
def attribution(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Content and campaigns that produced revenue, not clicks: revenue won credited
    under the chosen model, with spend, ROI and CAC for campaigns."""
    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    form, filters = read_filters(request, org)
    model = request.GET.get("model") or "linear"
    if model not in kpis.ATTRIBUTION_MODELS:
        model = "linear"
    by = request.GET.get("by") or "content"
    if by not in kpis.ATTRIBUTION_BY:
        by = "content"
    rows = kpis.attribution(org, filters.period, model=model, by=by, segment=filters.segment)
    currency = org.currency
    kind_labels = dict(Content.Type.choices if by == "content" else Campaign.Channel.choices)
    level_labels = dict(Content.Level.choices)
    chart_rows = [r for r in rows if r.key and r.revenue > 0][:CHART_ROWS]
    context = _base_context(request, form, filters)
    context.update(
        {
            "model": model,
            "by": by,
            "models": [
                (key, MODEL_LABELS[key], filters.with_params(model=key, by=by))
                for key in kpis.ATTRIBUTION_MODELS
            ],
            "model_help": MODEL_HELP.get(model, ""),
            "dimensions": [
                (key, BY_LABELS[key], filters.with_params(model=model, by=key))
                for key in kpis.ATTRIBUTION_BY
            ],
            "extra_params": [("model", model), ("by", by)],
            "rows": [
                {
                    "row": r,
                    "label": r.label if r.key else _("No marketing touch"),
                    "kind": kind_labels.get(r.kind, r.kind),
                    "level": level_labels.get(r.level, r.level),
                    "revenue": money(r.revenue, currency),
                    "share": percent(r.share, 1),
                    "spend": money(r.spend, currency) if r.spend is not None else "—",
                    "roi": (number(r.roi, 1) + "×") if r.roi is not None else "—",
                    "cac": money(r.cac, currency) if r.cac is not None else "—",
                }
                for r in rows
            ],
            "chart": charts.bar_chart(
                [
                    charts.Bar(
                        r.label,
                        float(r.revenue),
                        money(r.revenue, currency),
                        note=_("%(n)s deals") % {"n": r.deals} if r.deals != 1 else _("1 deal"),
                    )
                    for r in chart_rows
                ],
                label=_("Revenue won by %(what)s") % {"what": str(BY_LABELS[by]).lower()},
                empty=_("No revenue won in this period."),
                width=880,
                label_width=300,
                value_width=190,
            ),
            "has_revenue": bool(chart_rows),
            "export_url": _export_url(
                request, "dashboards-attribution-export", filters, model=model, by=by
            ),
        }
    )
    return render(request, "dashboards/attribution.html", context)


# --- CSV exports ----------------------------------------------------------------------


def _csv(lines: Any, filename: str) -> HttpResponse:
    from . import exports

    # Materialised here, inside the request's tenant and language: a streamed body
    # would be read after the middleware has closed the transaction.
    response = exports.csv_response(iter(list(lines)), filename)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def funnel_export(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The funnel audit as CSV (``?by=source`` or ``campaign`` for the breakdowns)."""
    from . import exports

    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    _form, filters = read_filters(request, org)
    by = request.GET.get("by") or ""
    if by not in kpis.FUNNEL_BY:
        by = ""
    lines = exports.funnel_csv(org, filters.period, filters.segment, by=by)
    name = exports.export_filename("funnel", filters.period, suffix=by)
    return _csv(lines, name)


@require_GET
def attribution_export(request: HttpRequest, org_slug: str) -> HttpResponse:
    from . import exports

    _require(request, VIEW)
    org = request.organization  # type: ignore[attr-defined]
    _form, filters = read_filters(request, org)
    model = request.GET.get("model") or "linear"
    by = request.GET.get("by") or "content"
    if model not in kpis.ATTRIBUTION_MODELS or by not in kpis.ATTRIBUTION_BY:
        raise Http404
    lines = exports.attribution_csv(
        org, filters.period, model=model, by=by, segment=filters.segment
    )
    name = exports.export_filename("attribution", filters.period, suffix=f"{by}_{model}")
    return _csv(lines, name)


# --- KPI targets ----------------------------------------------------------------------

RATE_TARGETS = frozenset(
    {"acceptance_rate", "mql_to_sql_rate", "sla_rate", "marketing_sourced_share"}
)
MONEY_TARGETS = frozenset({"pipeline_created", "revenue_won", "marketing_sourced_revenue", "cac"})


def _target_display(target: Any, currency: str) -> str:
    if target.kpi in RATE_TARGETS:
        return percent(target.value, 1).replace(",0", "").replace(".0", "")
    if target.kpi in MONEY_TARGETS:
        return money(target.value, currency)
    if target.kpi == "speed_to_lead_minutes":
        return duration(target.value)
    return number(target.value, 0 if target.value == target.value.to_integral() else 2)


@require_http_methods(["GET", "POST"])
def targets(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The KPI targets the tiles compare against (a week's or a month's; other periods
    are prorated by the KPI layer). Rates are typed in percent."""
    from . import services
    from .models import KpiTarget

    membership = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    choices = list(KpiTarget.Kpi.choices)
    status = 200
    form = TargetForm(None, kpi_choices=choices)
    if request.method == "POST":
        remove = bool(request.POST.get("remove"))
        form = TargetForm(request.POST, kpi_choices=choices, value_required=not remove)
        if form.is_valid():
            data = form.cleaned_data
            value = "" if remove else data["value"]
            if value != "" and data["kpi"] in RATE_TARGETS:
                value = value / 100  # typed in percent, stored as 0..1
            try:
                services.target_set(
                    actor=membership,
                    kpi=data["kpi"],
                    period_kind=data["period_kind"],
                    value=value,
                )
            except services.DashboardError as error:
                fields = error.fields or {"value": [error.message]}
                if data["kpi"] in RATE_TARGETS and "value" in fields:
                    fields = {**fields, "value": [_("A rate between 0 and 100 %.")]}
                for name, errors in fields.items():
                    form.add_error(name if name in form.fields else None, errors)
            except permissions.PermissionDenied as error:
                raise PermissionDenied(str(error)) from error
            else:
                messages.success(request, _("Target removed.") if remove else _("Target saved."))
                return redirect("dashboards-targets", org_slug=org.slug)
        status = 422
    labels = dict(choices)
    rows = [
        {
            "target": t,
            "label": labels.get(t.kpi, t.kpi),
            "value": _target_display(t, org.currency),
            "segmented": bool(t.source or t.campaign_id or t.owner_id or t.grade),
        }
        for t in services.targets(org)
    ]
    context = {"form": form, "rows": rows, "rate_kpis": sorted(RATE_TARGETS)}
    return render(request, "dashboards/targets.html", context, status=status)
