"""The scoring pages under ``/o/<slug>/scoring/`` (the guide's week-2 workshop, for the
marketing and sales managers): the active model and its history, the editor of a draft
(settings, fit and behaviour rules) with its live preview and what-if simulation,
activation with a confirmation step, and the progress of the re-score that follows.

Everyone with ``leads.view`` reads (the MQL definition is shared: sales must see it);
``scoring.manage`` edits, simulates and activates — checked here before the services
check it again. Each view: check the role → resolve ids with ``get_*_for_org`` (404
for another organization's) → call one service or selector → respond. HTMX requests
get the fragment they target (django-template-partials); a refused edit comes back as
the same fragment with its field errors and status 422, which htmx swaps (base.html).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads.models import Content, EventType, Lead
from leads.selectors import lead_list
from smarketing.tenancy import permissions
from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import has_perm

from . import predictive, selectors, services, whatif
from .engine import UNITS, ModelRules, Result
from .forms import (
    BehaviourRuleForm,
    FitRuleForm,
    ModelSettingsForm,
    PreviewForm,
    WhatIfForm,
    put_errors,
)
from .models import BehaviourRule, FitRule, RescoreRun, ScoringModel
from .pipeline import preview as engine_preview
from .rules import PROPERTY_PREFIX, ScoringError, compile_model

MANAGE = "scoring.manage"
HTMX_INVALID = 422
PREVIEW_SIZE = 10
PAGE = "scoring/model.html"
CARDS = ("settings-card", "fit-card", "behaviour-card", "preview", "whatif")
RULES_CHANGED = "rules-changed"  # HX-Trigger: the preview refreshes itself


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


def _model_url(request: HttpRequest, model: ScoringModel) -> str:
    return reverse(
        "scoring-model",
        kwargs={"org_slug": request.organization.slug, "model_id": model.pk},  # type: ignore[attr-defined]
    )


def _to_draft(request: HttpRequest, draft: ScoringModel, message: str) -> HttpResponse:
    """After a write that made a new draft (or from a plain form): go to its editor."""
    messages.success(request, message)
    url = reverse(
        "scoring-model",
        kwargs={"org_slug": request.organization.slug, "model_id": draft.pk},  # type: ignore[attr-defined]
    )
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# --- Plain language -------------------------------------------------------------------


def signed(points: Any) -> str:
    """+40, −10, +7.3 (decayed points keep one decimal; a true minus sign)."""
    value = Decimal(str(points))
    rounded = round(abs(value), 1)
    text = formats.number_format(rounded, 0 if rounded == rounded.to_integral() else 1)
    return ("−" if value < 0 else "+") + text


def _number(value: Any) -> str:
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def _lower_first(text: str) -> str:
    """ "Job title" → "job title", but "UTM source" stays as it is."""
    text = str(text)
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _fit_values(rule: FitRule, items: Sequence[Any]) -> str:
    if rule.attribute == "seniority":
        labels = dict(Lead.Seniority.choices)
        items = [str(labels.get(v, v)) for v in items]
    elif rule.attribute == "company.employees":
        items = [_number(v) for v in items]
    return ", ".join(str(v) for v in items)


def fit_condition(rule: FitRule) -> str:
    """What a fit rule checks, as a sentence ("seniority is one of VP, Director")."""
    attribute = _lower_first(
        FitRule.Attribute(rule.attribute).label
        if rule.attribute in FitRule.Attribute.values
        else rule.attribute
    )
    op, value = rule.operator, rule.value
    items = value if isinstance(value, list) else [value]
    words = {"attribute": attribute, "values": _fit_values(rule, items)}
    if op == "equals":
        return _("%(attribute)s is %(values)s") % words
    if op == "in":
        return _("%(attribute)s is one of %(values)s") % words
    if op == "contains":
        return _("%(attribute)s contains %(values)s") % words
    if op == "starts_with":
        return _("%(attribute)s starts with %(values)s") % words
    if op == "between":
        lo, hi = (value or [None, None])[:2]
        bounds = {"attribute": attribute, "lo": _number(lo or 0), "hi": _number(hi or 0)}
        if lo is not None and hi is not None:
            return _("%(attribute)s between %(lo)s and %(hi)s") % bounds
        if lo is not None:
            return _("%(attribute)s at least %(lo)s") % bounds
        return _("%(attribute)s at most %(hi)s") % bounds
    if op == "is_set":
        return _("%(attribute)s is known") % words
    if op == "email_domain_in":
        if not value:
            return _("e-mail domain is in a list that is still empty")
        return _("e-mail domain is one of %(values)s") % words
    if op == "free_email":
        return _("a free-mail address (Gmail, Orange, Yahoo…)")
    return f"{attribute} {op} {words['values']}"


def describe_fit(rule: FitRule) -> str:
    return _("%(points)s when %(condition)s") % {
        "points": signed(rule.points),
        "condition": fit_condition(rule),
    }


def event_label(event_type: str) -> str:
    if event_type in EventType.values:
        return str(EventType(event_type).label)
    return event_type.removeprefix("custom:").replace("_", " ")


def match_condition(rule: BehaviourRule) -> str:
    if not rule.match_field:
        return ""
    fields = {
        "url": _("URL"),
        "content.level": _("content level"),
        "content.type": _("content type"),
        "content.key": _("content key"),
    }
    name = fields.get(rule.match_field) or _("property %(name)s") % {
        "name": rule.match_field.removeprefix(PROPERTY_PREFIX)
    }
    value = rule.match_value
    if rule.match_field == "content.level" and value in Content.Level.values:
        value = str(Content.Level(value).label).lower()
    words = {"field": name, "value": value}
    if rule.match_operator == "equals":
        return _("%(field)s is “%(value)s”") % words
    if rule.match_operator == "contains":
        return _("%(field)s contains “%(value)s”") % words
    return _("%(field)s matches %(value)s") % words


def describe_behaviour(rule: BehaviourRule) -> str:
    """ "+40 once “Page view” where URL matches /(pricing…) happens 3× in 7 days · marks
    hot" — the rule as the workshop says it."""
    words = {"points": signed(rule.points), "event": event_label(rule.event_type)}
    frequency = rule.mode == BehaviourRule.Mode.FREQUENCY
    if frequency:
        text = _("%(points)s once “%(event)s”") % words
    else:
        text = _("%(points)s for each “%(event)s”") % words
    condition = match_condition(rule)
    if condition:
        text = _("%(text)s where %(condition)s") % {"text": text, "condition": condition}
    if frequency:
        text = _("%(text)s happens %(n)s× in %(days)s days") % {
            "text": text,
            "n": rule.min_count,
            "days": rule.window_days,
        }
    elif rule.cap:
        text = _("%(text)s, at most %(cap)s") % {"text": text, "cap": rule.cap}
    if rule.marks_hot:
        if frequency:
            text = _("%(text)s · marks hot") % {"text": text}
        else:
            text = _("%(text)s · marks hot for %(days)s days") % {
                "text": text,
                "days": rule.window_days,
            }
    return text


@dataclass
class RuleRow:
    rule: FitRule | BehaviourRule
    text: str
    form: FitRuleForm | BehaviourRuleForm | None = None  # open for editing

    @property
    def points(self) -> str:
        return signed(self.rule.points)


def _fit_rows(model: ScoringModel, editing: FitRuleForm | None = None) -> list[RuleRow]:
    return [
        RuleRow(
            rule=rule,
            text=describe_fit(rule),
            form=editing if editing is not None and editing.rule_id == rule.pk else None,
        )
        for rule in model.fit_rules.all()
    ]


def _behaviour_rows(model: ScoringModel, editing: BehaviourRuleForm | None = None) -> list[RuleRow]:
    return [
        RuleRow(
            rule=rule,
            text=describe_behaviour(rule),
            form=editing if editing is not None and editing.rule_id == rule.pk else None,
        )
        for rule in model.behaviour_rules.all()
    ]


# --- Differences between two versions -------------------------------------------------


@dataclass
class Changes:
    """What a version changes from another (rules compared by label: copies keep it)."""

    settings: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.settings or self.added or self.removed or self.changed)


def _settings_text(model: ScoringModel) -> dict[str, str]:
    bands = model.grade_bands or {}
    return {
        _("MQL threshold"): str(model.mql_threshold),
        _("Minimum fit grade"): model.get_min_fit_grade_display(),
        _("Grade bands"): f"A ≥ {bands.get('A')} · B ≥ {bands.get('B')} · C ≥ {bands.get('C')}",
        _("Decay"): (
            _("half-life %(n)s days") % {"n": model.decay_half_life_days}
            if model.decay_half_life_days
            else _("none")
        ),
    }


def changes_between(model: ScoringModel, base: ScoringModel | None) -> Changes:
    changes = Changes()
    if base is None or base.pk == model.pk:
        return changes
    old, new = _settings_text(base), _settings_text(model)
    for name, value in new.items():
        if old[name] != value:
            changes.settings.append(f"{name}: {old[name]} → {value}")
    for kind, describe in (("fit_rules", describe_fit), ("behaviour_rules", describe_behaviour)):
        before = {r.label: describe(r) for r in getattr(base, kind).all()}
        after = {r.label: describe(r) for r in getattr(model, kind).all()}
        changes.added += [f"{label}: {after[label]}" for label in after if label not in before]
        changes.removed += [f"{label}: {before[label]}" for label in before if label not in after]
        changes.changed += [
            f"{label}: {after[label]}"
            for label in after
            if label in before and before[label] != after[label]
        ]
    return changes


# --- Preview and what-if --------------------------------------------------------------


@dataclass
class PreviewRow:
    lead: Lead
    draft: Result
    active: Result | None
    lines: list[str]  # the draft's explanation ("+40 Pricing page 3× in 7 days (hot)")
    deltas: list[str]  # how it differs from the active model's

    @property
    def delta(self) -> int | None:
        return None if self.active is None else self.draft.score - self.active.score


def explanation_line(label: str, points: Any, hot: bool) -> str:
    line = f"{signed(points)} {label}"
    return f"{line} ({_('hot')})" if hot else line


def _explanation_deltas(draft: Result, active: Result) -> list[str]:
    before = {(c.kind, c.label): c for c in active.contributions}
    after = {(c.kind, c.label): c for c in draft.contributions}
    lines = []
    for key, c in after.items():
        old = before.get(key)
        if old is None:
            lines.append(_("%(line)s (new)") % {"line": explanation_line(c.label, c.points, c.hot)})
        elif old.units != c.units or old.hot != c.hot:
            lines.append(
                _("%(label)s: %(old)s → %(new)s")
                % {"label": c.label, "old": signed(old.points), "new": signed(c.points)}
            )
    for key, c in before.items():
        if key not in after:
            lines.append(
                _("%(label)s: %(old)s → none") % {"label": c.label, "old": signed(c.points)}
            )
    return lines


def _compiled(model: ScoringModel) -> ModelRules:
    """The engine's view of a model whose rules are prefetched (no more queries)."""
    return compile_model(model, model.fit_rules.all(), model.behaviour_rules.all())


def _preview(org, model: ScoringModel, base: ScoringModel | None, q: str) -> list[PreviewRow]:
    leads = list(lead_list(org, q=q, ordering="-last_activity")[:PREVIEW_SIZE])
    if not leads:
        return []
    now = timezone.now()
    drafts = engine_preview(model, leads, now, rules=_compiled(model))
    actives = engine_preview(base, leads, now, rules=_compiled(base)) if base is not None else {}
    rows = []
    for lead in leads:
        draft, active = drafts[lead.pk], actives.get(lead.pk)
        rows.append(
            PreviewRow(
                lead=lead,
                draft=draft,
                active=active,
                lines=[
                    explanation_line(c.label, c.units / UNITS, c.hot) for c in draft.contributions
                ],
                deltas=_explanation_deltas(draft, active) if active is not None else [],
            )
        )
    return rows


def _svg(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def _chart(result: whatif.WhatIf) -> dict[str, Any]:
    """Geometry of the side-by-side bar chart (hand-written SVG in the template)."""
    height, top, bar, gap, group_gap, left = 180, 24, 56, 10, 64, 20
    peak = max(result.active.mqls, result.draft.mqls, 1)
    groups = []
    for i, (name, side) in enumerate(
        ((_("Active model"), result.active), (_("Draft"), result.draft))
    ):
        x = left + i * (2 * bar + gap + group_gap)
        bars = []
        for j, (kind, value) in enumerate((("mql", side.mqls), ("sql", side.reached_sql))):
            h = round(height * value / peak, 1)
            # Numbers as SVG reads them, never localized ("24,5" is not a coordinate).
            bars.append(
                {
                    "kind": kind,
                    "x": _svg(x + j * (bar + gap)),
                    "y": _svg(top + height - h),
                    "h": _svg(max(h, 1)),
                    "value": value,
                    "label_x": _svg(x + j * (bar + gap) + bar / 2),
                    "label_y": _svg(top + height - h - 6),
                }
            )
        groups.append({"name": name, "bars": bars, "center": _svg(x + bar + gap / 2)})
    return {
        "width": left * 2 + 4 * bar + 2 * gap + group_gap,
        "height": top + height + 28,
        "base": top + height,
        "label_y": top + height + 22,
        "groups": groups,
        "bar": bar,
    }


# --- Pages ----------------------------------------------------------------------------


@require_GET
def scoring_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    versions = list(selectors.model_list(org))
    active = next((m for m in versions if m.status == ScoringModel.Status.ACTIVE), None)
    if active is not None:
        active = selectors.model_with_rules(org, active.pk)
    run = selectors.latest_run(org)
    context = {
        "active": active,
        "fit_rows": _fit_rows(active) if active else [],
        "behaviour_rows": _behaviour_rows(active) if active else [],
        "drafts": [m for m in versions if m.status == ScoringModel.Status.DRAFT],
        "history": [m for m in versions if m.status != ScoringModel.Status.DRAFT],
        "has_models": bool(versions),
        "run": run if run and run.status in (RescoreRun.Status.QUEUED, "running") else None,
        "can_manage": has_perm(membership, MANAGE),
        "predictive_status": predictive.predictive_status(org),
    }
    return render(request, "scoring/home.html", context)


@require_POST
def predictive_train_view(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Train the predictive score now (it is also retrained every Monday by beat)."""
    membership = _require(request, MANAGE)
    result = predictive.predictive_train(actor=membership, organization=request.organization)
    (messages.success if result.trained else messages.warning)(request, result.message)
    return redirect("scoring-home", org_slug=org_slug)


@require_POST
def draft_new(request: HttpRequest, org_slug: str) -> HttpResponse:
    """A new draft: a copy of the active model, or the starting template when the
    organization has no model yet."""
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    with _refusals_as_http():
        if selectors.active_model(org) is None and not selectors.model_list(org).exists():
            draft = services.model_create_from_template(actor=actor, organization=org)
        else:
            draft = services.model_create_draft(actor=actor, organization=org)
    return _to_draft(request, draft, _("Draft v%(v)s created.") % {"v": draft.version})


@require_POST
def model_edit(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    """ "Edit" on the active model, or "restore" an archived one: a new draft copied
    from it (the version itself never changes)."""
    actor = _require(request, MANAGE)
    model = selectors.get_scoring_model_for_org(request.organization, model_id)  # type: ignore[attr-defined]
    with _refusals_as_http():
        draft = services.draft_for_edit(actor=actor, model=model)
    if draft.pk == model.pk:
        return redirect(_model_url(request, model))
    return _to_draft(
        request,
        draft,
        _("Draft v%(v)s created from v%(from)s.") % {"v": draft.version, "from": model.version},
    )


@require_POST
def model_delete(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    model = selectors.get_scoring_model_for_org(org, model_id)
    try:
        with _refusals_as_http():
            services.model_delete_draft(actor=actor, model=model)
    except ScoringError as error:
        messages.error(request, error.message)
        return redirect(_model_url(request, model))
    messages.success(request, _("Draft v%(v)s deleted.") % {"v": model.version})
    return redirect("scoring-home", org_slug=org.slug)


def _page_context(
    request: HttpRequest,
    model: ScoringModel,
    *,
    settings_form: ModelSettingsForm | None = None,
    fit_form: FitRuleForm | None = None,
    fit_editing: FitRuleForm | None = None,
    behaviour_form: BehaviourRuleForm | None = None,
    behaviour_editing: BehaviourRuleForm | None = None,
    saved: str = "",
    preview_form: PreviewForm | None = None,
    whatif_form: WhatIfForm | None = None,
    whatif_result: whatif.WhatIf | None = None,
    with_preview: bool = True,
) -> dict[str, Any]:
    org = request.organization  # type: ignore[attr-defined]
    membership = request.membership  # type: ignore[attr-defined]
    manage = has_perm(membership, MANAGE)
    editable = manage and model.is_editable
    active = selectors.active_model(org)
    base = None
    if active is not None and active.pk != model.pk:
        base = selectors.model_with_rules(org, active.pk)
    q = ""
    if preview_form is not None and preview_form.is_valid():
        q = preview_form.cleaned_data["q"]
    elif preview_form is not None:
        with_preview = False
    preview_form = preview_form or PreviewForm()
    return {
        "model": model,
        "active": active,
        "base": base,
        "editable": editable,
        "can_manage": manage,
        "changes": changes_between(model, base),
        "settings_text": _settings_text(model),
        "settings_form": settings_form
        or (ModelSettingsForm.for_model(model) if editable else None),
        "fit_rows": _fit_rows(model, fit_editing),
        "fit_form": fit_form or (FitRuleForm() if editable else None),
        "behaviour_rows": _behaviour_rows(model, behaviour_editing),
        "behaviour_form": behaviour_form
        or (BehaviourRuleForm(initial={"mode": "per_occurrence"}) if editable else None),
        "saved": saved,
        "preview_form": preview_form,
        "preview_rows": _preview(org, model, base, q) if with_preview else [],
        "can_simulate": manage and model.status != ScoringModel.Status.ACTIVE,
        "whatif_form": whatif_form or WhatIfForm(),
        "whatif": whatif_result,
        "chart": _chart(whatif_result) if whatif_result and whatif_result.active.model else None,
        "periods": whatif.PERIODS,
    }


def _render_page(
    request: HttpRequest, model: ScoringModel, *, part: str = "", status: int = 200, **context
) -> HttpResponse:
    """The editor, or one of its cards when htmx asks for it."""
    if part:
        # A card alone needs neither the preview nor the comparison's queries.
        context.setdefault("with_preview", part == "preview")
    template = f"{PAGE}#{part}" if part else PAGE
    return render(request, template, _page_context(request, model, **context), status=status)


def _target(request: HttpRequest) -> str:
    target = request.htmx.target if request.htmx else ""  # type: ignore[attr-defined]
    return target if target in CARDS else ""


@require_GET
def model_page(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    """A version: its editor when it is a draft and the user manages scoring, else
    read-only. ``?q=`` searches the preview's leads; ``?days=`` runs the what-if."""
    membership = _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    model = selectors.model_with_rules(org, model_id)
    part = _target(request)
    preview_form = PreviewForm(request.GET) if "q" in request.GET else None
    if "days" in request.GET:
        if not has_perm(membership, MANAGE):
            raise PermissionDenied(MANAGE)
        form = WhatIfForm(request.GET)
        result = None
        if form.is_valid():
            result = whatif.simulate(
                organization=org,
                draft=model,
                active=selectors.active_model(org),
                days=form.cleaned_data["days"],
            )
        status = 200 if result else (HTMX_INVALID if request.htmx else 400)  # type: ignore[attr-defined]
        return _render_page(
            request,
            model,
            part="whatif" if request.htmx else "",  # type: ignore[attr-defined]
            status=status,
            whatif_form=form,
            whatif_result=result,
            preview_form=preview_form,
        )
    status = 200
    if preview_form is not None and not preview_form.is_valid():
        status = HTMX_INVALID if request.htmx else 400  # type: ignore[attr-defined]
    return _render_page(request, model, part=part, status=status, preview_form=preview_form)


def _bound_post(request: HttpRequest, form, service, *, card: str, model: ScoringModel, **kw):
    """Shared by the edit endpoints: validate the form, call the service, answer with
    the card (htmx), the editor (errors without htmx) or a redirect (success)."""
    error_status = HTMX_INVALID if request.htmx else 400  # type: ignore[attr-defined]
    part = card if request.htmx else ""  # type: ignore[attr-defined]
    if not form.is_valid():
        return _render_page(request, model, part=part, status=error_status, **kw)
    try:
        with _refusals_as_http():
            draft = service(form.to_service())
    except ScoringError as error:
        if error.status == 404:
            raise
        put_errors(form, error, getattr(form, "error_fields", None))
        return _render_page(request, model, part=part, status=error_status, **kw)
    if draft.pk != model.pk:
        return _to_draft(request, draft, _("Draft v%(v)s created.") % {"v": draft.version})
    return None


@require_POST
def model_settings(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    model = selectors.model_with_rules(org, model_id)
    form = ModelSettingsForm(request.POST)
    refused = _bound_post(
        request,
        form,
        lambda data: services.model_update(actor=actor, model=model, data=data),
        card="settings-card",
        model=model,
        settings_form=form,
    )
    if refused is not None:
        return refused
    return _saved(request, model, "settings-card", _("Settings saved."))


def _saved(request: HttpRequest, model: ScoringModel, card: str, message: str) -> HttpResponse:
    org = request.organization  # type: ignore[attr-defined]
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(request, message)
        return redirect(_model_url(request, model))
    fresh = selectors.model_with_rules(org, model.pk)
    response = _render_page(request, fresh, part=card, saved=message)
    response["HX-Trigger"] = RULES_CHANGED
    return response


@require_POST
def fit_rule_add(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    model = selectors.model_with_rules(request.organization, model_id)  # type: ignore[attr-defined]
    form = FitRuleForm(request.POST)

    def add(data):
        draft, _rule = services.fit_rule_add(actor=actor, model=model, data=data)
        return draft

    refused = _bound_post(request, form, add, card="fit-card", model=model, fit_form=form)
    if refused is not None:
        return refused
    return _saved(request, model, "fit-card", _("Fit rule added."))


@require_http_methods(["GET", "POST"])
def fit_rule(request: HttpRequest, org_slug: str, rule_id: int) -> HttpResponse:
    """GET: the card with this rule's form open. POST: save it."""
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    rule = selectors.get_fit_rule_for_org(org, rule_id)
    model = selectors.model_with_rules(org, rule.model_id)
    if request.method == "GET":
        part = "fit-card" if request.htmx else ""  # type: ignore[attr-defined]
        return _render_page(request, model, part=part, fit_editing=FitRuleForm.for_rule(rule))
    form = FitRuleForm(request.POST, rule_id=rule.pk)

    def update(data):
        draft, _rule = services.fit_rule_update(actor=actor, rule=rule, data=data)
        return draft

    refused = _bound_post(request, form, update, card="fit-card", model=model, fit_editing=form)
    if refused is not None:
        return refused
    return _saved(request, model, "fit-card", _("Fit rule saved."))


@require_POST
def fit_rule_delete(request: HttpRequest, org_slug: str, rule_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    rule = selectors.get_fit_rule_for_org(org, rule_id)
    model = rule.model
    with _refusals_as_http():
        draft = services.fit_rule_delete(actor=actor, rule=rule)
    if draft.pk != model.pk:
        return _to_draft(request, draft, _("Draft v%(v)s created.") % {"v": draft.version})
    return _saved(request, model, "fit-card", _("Fit rule deleted."))


@require_POST
def behaviour_rule_add(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    model = selectors.model_with_rules(request.organization, model_id)  # type: ignore[attr-defined]
    form = BehaviourRuleForm(request.POST)

    def add(data):
        draft, _rule = services.behaviour_rule_add(actor=actor, model=model, data=data)
        return draft

    refused = _bound_post(
        request, form, add, card="behaviour-card", model=model, behaviour_form=form
    )
    if refused is not None:
        return refused
    return _saved(request, model, "behaviour-card", _("Behaviour rule added."))


@require_http_methods(["GET", "POST"])
def behaviour_rule(request: HttpRequest, org_slug: str, rule_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    rule = selectors.get_behaviour_rule_for_org(org, rule_id)
    model = selectors.model_with_rules(org, rule.model_id)
    if request.method == "GET":
        part = "behaviour-card" if request.htmx else ""  # type: ignore[attr-defined]
        return _render_page(
            request, model, part=part, behaviour_editing=BehaviourRuleForm.for_rule(rule)
        )
    form = BehaviourRuleForm(request.POST, rule_id=rule.pk)

    def update(data):
        draft, _rule = services.behaviour_rule_update(actor=actor, rule=rule, data=data)
        return draft

    refused = _bound_post(
        request, form, update, card="behaviour-card", model=model, behaviour_editing=form
    )
    if refused is not None:
        return refused
    return _saved(request, model, "behaviour-card", _("Behaviour rule saved."))


@require_POST
def behaviour_rule_delete(request: HttpRequest, org_slug: str, rule_id: int) -> HttpResponse:
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    rule = selectors.get_behaviour_rule_for_org(org, rule_id)
    model = rule.model
    with _refusals_as_http():
        draft = services.behaviour_rule_delete(actor=actor, rule=rule)
    if draft.pk != model.pk:
        return _to_draft(request, draft, _("Draft v%(v)s created.") % {"v": draft.version})
    return _saved(request, model, "behaviour-card", _("Behaviour rule deleted."))


# --- Activation -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def model_activate(request: HttpRequest, org_slug: str, model_id: int) -> HttpResponse:
    """GET: what activating means (the confirmation step). POST: activate, then watch
    the re-score."""
    actor = _require(request, MANAGE)
    org = request.organization  # type: ignore[attr-defined]
    model = selectors.model_with_rules(org, model_id)
    error = ""
    status = 200
    if request.method == "GET" and model.status == ScoringModel.Status.ACTIVE:
        messages.info(request, _("This version is already active."))
        return redirect(_model_url(request, model))
    if request.method == "POST":
        try:
            with _refusals_as_http():
                run = services.model_activate(actor=actor, model=model)
        except ScoringError as refusal:
            if refusal.status == 404:
                raise
            error, status = refusal.message, refusal.status
        else:
            messages.success(request, _("Version %(v)s is active.") % {"v": model.version})
            return redirect("scoring-run", org_slug=org.slug, run_id=run.pk)
    active = selectors.active_model(org)
    base = selectors.model_with_rules(org, active.pk) if active and active.pk != model.pk else None
    context = {
        "model": model,
        "active": active,
        "changes": changes_between(model, base),
        "lead_count": Lead.objects.for_org(org).count(),
        "error": error,
    }
    return render(request, "scoring/activate.html", context, status=status)


@require_GET
def run_page(request: HttpRequest, org_slug: str, run_id: int) -> HttpResponse:
    """The re-score's progress (htmx polls the partial every second until it ends)."""
    _require(request, "leads.view")
    org = request.organization  # type: ignore[attr-defined]
    run = selectors.get_rescore_run_for_org(org, run_id)
    context = {
        "run": run,
        "polling": run.status in (RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING),
    }
    template = "scoring/run.html#progress" if request.htmx else "scoring/run.html"  # type: ignore[attr-defined]
    return render(request, template, context)


# --- The lead page's explanation (used by leads.views.lead_detail) --------------------


@dataclass
class ExplanationLine:
    label: str
    points: str  # "+40", "−10", "+7.3"
    negative: bool
    hot: bool
    kind: str
    events: int
    last_occurrence: Any


@dataclass
class LeadScore:
    """A lead's score and why, as the lead page shows it."""

    model: ScoringModel | None
    behaviour: str
    lines: list[ExplanationLine]


def _prediction(lead: Lead) -> Any:
    """The predictive score beside the rules, once its app has landed."""
    try:
        from .predictive import lead_prediction
    except ImportError:
        return None
    return lead_prediction(lead)


def lead_score_context(lead: Lead) -> dict[str, Any]:
    """``explanation`` and ``predictive`` for templates/leads/detail.html (two queries:
    the contributions with their model; the active model when nothing matched)."""
    explanation = selectors.lead_explanation(lead)
    lines = [
        ExplanationLine(
            label=c.label,
            points=signed(c.points),
            negative=c.points < 0,
            hot=c.hot,
            kind=c.kind,
            events=c.events,
            last_occurrence=c.last_occurrence,
        )
        for c in explanation.contributions
    ]
    return {
        "explanation": LeadScore(
            model=explanation.model, behaviour=signed(explanation.behaviour), lines=lines
        ),
        "predictive": _prediction(lead),
    }
