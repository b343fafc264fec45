"""Writes of the scoring app about scoring models: drafts, edits, activation, the
starting template. (Re-scoring leads lives in ``scoring.pipeline``.)

Versioning (SPEC.md §2): a model is a *draft* until activated; the *active* model is
the organization's one MQL definition; activating another archives it. Rules of a
model that has ever been active never change — editing one goes to a new draft
(``draft_for_edit``), so a lead's explanation always points at the rules that made
its score. Every write is keyword-only and atomic, and checks ``scoring.manage``.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.models import Lead
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm

from .models import BehaviourRule, FitRule, RescoreRun, ScoringModel
from .rules import (
    ScoringError,
    clean_behaviour_rule,
    clean_fit_rule,
    clean_model_settings,
)

MANAGE = "scoring.manage"
FIT_FIELDS = ("label", "attribute", "operator", "value", "points", "position")
BEHAVIOUR_FIELDS = (
    "label",
    "event_type",
    "match_field",
    "match_operator",
    "match_value",
    "mode",
    "points",
    "cap",
    "min_count",
    "window_days",
    "marks_hot",
    "position",
)


def _user(actor):
    return getattr(actor, "user", None)


def _same_org(actor, obj) -> None:
    """Views resolve ids with ``get_*_for_org``; this is the second wall: a model or rule
    of another organization is "not found", never acted upon."""
    if obj.organization_id != actor.organization_id:
        raise ScoringError(_("Not found."), status=404, code="not_found")


def _next_version(organization_id: int) -> int:
    top = ScoringModel.objects.for_org(organization_id).aggregate(top=Max("version"))["top"]
    return (top or 0) + 1


def _check_regex_in_database(data: dict[str, Any]) -> None:
    """PostgreSQL must accept the expression too (the set-based path runs it there)."""
    if data.get("match_operator") != "regex" or connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT '' ~* %s", [data["match_value"]])
    except DatabaseError:
        raise ScoringError(
            _("Check the highlighted fields."),
            fields={"match_value": [_("PostgreSQL cannot read this regular expression.")]},
        ) from None


# --- Drafts -----------------------------------------------------------------------------


def _copy(model: ScoringModel, *, created_by, name: str | None = None):
    """A new draft with the settings and rules of ``model``; returns the draft and the
    maps from the old rules' ids to their copies."""
    org_id = model.organization_id
    draft = ScoringModel.objects.create(
        organization_id=org_id,
        version=_next_version(org_id),
        name=model.name if name is None else name,
        status=ScoringModel.Status.DRAFT,
        mql_threshold=model.mql_threshold,
        min_fit_grade=model.min_fit_grade,
        grade_bands=dict(model.grade_bands or {}),
        decay_half_life_days=model.decay_half_life_days,
        created_by=created_by,
        based_on=model,
    )
    fit_map: dict[int, FitRule] = {}
    for rule in FitRule.objects.for_org(org_id).filter(model=model):
        old = rule.pk
        rule.pk = None
        rule.model = draft
        rule.save(force_insert=True)
        fit_map[old] = rule
    behaviour_map: dict[int, BehaviourRule] = {}
    for rule in BehaviourRule.objects.for_org(org_id).filter(model=model):
        old = rule.pk
        rule.pk = None
        rule.model = draft
        rule.save(force_insert=True)
        behaviour_map[old] = rule
    return draft, fit_map, behaviour_map


@transaction.atomic
def model_create_draft(
    *, actor, organization: Organization, based_on: ScoringModel | None = None, name: str = ""
) -> ScoringModel:
    """A new draft: a copy of ``based_on`` (default: the active model), else empty."""
    require_perm(actor, MANAGE)
    if based_on is None:
        based_on = ScoringModel.objects.for_org(organization).filter(status="active").first()
    if organization.pk != actor.organization_id:
        raise ScoringError(_("Not found."), status=404, code="not_found")
    if based_on is not None:
        _same_org(actor, based_on)
        draft, _fit, _behaviour = _copy(based_on, created_by=_user(actor), name=name or None)
        return draft
    return ScoringModel.objects.create(
        organization=organization,
        version=_next_version(organization.pk),
        name=name,
        created_by=_user(actor),
    )


@transaction.atomic
def model_create_from_template(*, actor, organization: Organization) -> ScoringModel:
    """A draft holding the starting template (the editor's first step for an
    organization that has no model to copy)."""
    require_perm(actor, MANAGE)
    if organization.pk != actor.organization_id:
        raise ScoringError(_("Not found."), status=404, code="not_found")
    return create_starting_template(
        organization=organization, created_by=_user(actor), activate=False
    )


@transaction.atomic
def draft_for_edit(*, actor, model: ScoringModel) -> ScoringModel:
    """The model itself if it is a draft; else a new draft copied from it (the active
    or archived model stays as it was)."""
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    if model.is_editable:
        return model
    draft, _fit, _behaviour = _copy(model, created_by=_user(actor))
    return draft


@transaction.atomic
def model_update(*, actor, model: ScoringModel, data: dict[str, Any]) -> ScoringModel:
    """Change a model's settings (name, threshold, minimum grade, bands, decay).
    Editing an active or archived model makes a new draft; the draft is returned."""
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    clean = clean_model_settings(data)
    draft = draft_for_edit(actor=actor, model=model)
    for name, value in clean.items():
        setattr(draft, name, value)
    draft.save(update_fields=list(clean) or None)
    return draft


@transaction.atomic
def model_delete_draft(*, actor, model: ScoringModel) -> None:
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    if not model.is_editable:
        raise ScoringError(_("Only a draft can be deleted."), code="not_a_draft", status=409)
    ScoringModel.objects.for_org(model.organization_id).filter(pk=model.pk).delete()


def _next_position(rules) -> int:
    top = rules.aggregate(top=Max("position"))["top"]
    return 0 if top is None else top + 1


@transaction.atomic
def fit_rule_add(*, actor, model: ScoringModel, data: dict[str, Any]):
    """Add a fit rule; returns (draft, rule) — a new draft if ``model`` was not one."""
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    clean = clean_fit_rule(data)
    draft = draft_for_edit(actor=actor, model=model)
    rules = FitRule.objects.for_org(draft.organization_id).filter(model=draft)
    rule = FitRule.objects.create(
        organization_id=draft.organization_id,
        model=draft,
        position=_next_position(rules),
        **clean,
    )
    return draft, rule


@transaction.atomic
def fit_rule_update(*, actor, rule: FitRule, data: dict[str, Any]):
    """Edit a fit rule; returns (draft, rule), copying the model first if needed."""
    require_perm(actor, MANAGE)
    _same_org(actor, rule)
    clean = clean_fit_rule(data)
    model = rule.model
    if not model.is_editable:
        model, fit_map, _behaviour = _copy(model, created_by=_user(actor))
        rule = fit_map[rule.pk]
    for name, value in clean.items():
        setattr(rule, name, value)
    rule.save()
    return model, rule


@transaction.atomic
def fit_rule_delete(*, actor, rule: FitRule) -> ScoringModel:
    require_perm(actor, MANAGE)
    _same_org(actor, rule)
    model = rule.model
    if not model.is_editable:
        model, fit_map, _behaviour = _copy(model, created_by=_user(actor))
        rule = fit_map[rule.pk]
    FitRule.objects.for_org(model.organization_id).filter(pk=rule.pk).delete()
    return model


@transaction.atomic
def behaviour_rule_add(*, actor, model: ScoringModel, data: dict[str, Any]):
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    clean = clean_behaviour_rule(data)
    _check_regex_in_database(clean)
    draft = draft_for_edit(actor=actor, model=model)
    rules = BehaviourRule.objects.for_org(draft.organization_id).filter(model=draft)
    rule = BehaviourRule.objects.create(
        organization_id=draft.organization_id,
        model=draft,
        position=_next_position(rules),
        **clean,
    )
    return draft, rule


@transaction.atomic
def behaviour_rule_update(*, actor, rule: BehaviourRule, data: dict[str, Any]):
    require_perm(actor, MANAGE)
    _same_org(actor, rule)
    clean = clean_behaviour_rule(data)
    _check_regex_in_database(clean)
    model = rule.model
    if not model.is_editable:
        model, _fit, behaviour_map = _copy(model, created_by=_user(actor))
        rule = behaviour_map[rule.pk]
    for name, value in clean.items():
        setattr(rule, name, value)
    rule.save()
    return model, rule


@transaction.atomic
def behaviour_rule_delete(*, actor, rule: BehaviourRule) -> ScoringModel:
    require_perm(actor, MANAGE)
    _same_org(actor, rule)
    model = rule.model
    if not model.is_editable:
        model, _fit, behaviour_map = _copy(model, created_by=_user(actor))
        rule = behaviour_map[rule.pk]
    BehaviourRule.objects.for_org(model.organization_id).filter(pk=rule.pk).delete()
    return model


# --- Activation -------------------------------------------------------------------------


@transaction.atomic
def model_activate(*, actor, model: ScoringModel) -> RescoreRun:
    """Make ``model`` (a draft, or an archived version to roll back to) the active one,
    archive the previous one, and start the full re-score (returned, for its progress).

    Two activations at once: the active row is locked first, so the second waits and
    then archives the first one's model; the partial unique index is the last wall.
    """
    require_perm(actor, MANAGE)
    _same_org(actor, model)
    org_id = model.organization_id
    models = ScoringModel.objects.for_org(org_id)
    current = models.select_for_update().filter(status=ScoringModel.Status.ACTIVE).first()
    fresh = models.select_for_update().get(pk=model.pk)
    if fresh.status == ScoringModel.Status.ACTIVE:
        raise ScoringError(_("This version is already active."), code="already_active", status=409)
    now = timezone.now()
    if current is not None:
        models.filter(pk=current.pk, status=ScoringModel.Status.ACTIVE).update(
            status=ScoringModel.Status.ARCHIVED, archived_at=now
        )
    try:
        with transaction.atomic():
            models.filter(pk=model.pk).update(
                status=ScoringModel.Status.ACTIVE,
                activated_by=_user(actor),
                activated_at=now,
                archived_at=None,
            )
    except IntegrityError:
        raise ScoringError(
            _("Another version was activated at the same time; reload and try again."),
            code="conflict",
            status=409,
        ) from None
    model.refresh_from_db()
    return start_full_rescore(model=model, previous=current, created_by=_user(actor))


def start_full_rescore(
    *, model: ScoringModel, previous: ScoringModel | None = None, created_by=None
) -> RescoreRun:
    """Record a full re-score of the organization with ``model`` and dispatch it once
    the transaction commits (the sweeper re-dispatches it if the task is lost)."""
    org_id = model.organization_id
    # Older runs stop at their next chunk: they see their model is no longer active.
    RescoreRun.objects.for_org(org_id).filter(status__in=["queued", "running"]).exclude(
        model=model
    ).update(status=RescoreRun.Status.SUPERSEDED, finished_at=timezone.now())
    run = RescoreRun.objects.create(
        organization_id=org_id,
        model=model,
        previous_model=previous,
        total=Lead.objects.for_org(org_id).count(),
        created_by=created_by,
    )
    dispatch_run(run)
    return run


def dispatch_run(run: RescoreRun) -> None:
    from .tasks import rescore_organization

    org_id, run_id = run.organization_id, run.pk
    transaction.on_commit(lambda: rescore_organization.delay(org_id, run_id), robust=True)


# --- The starting template (issue 4, item 7) --------------------------------------------

TEMPLATE_FIT_RULES: list[dict[str, Any]] = [
    {
        "label": gettext_lazy("Decision maker (C-level, VP, director)"),
        "attribute": "seniority",
        "operator": "in",
        "value": ["c_level", "vp", "director"],
        "points": 15,
    },
    {
        "label": gettext_lazy("Company of 50 to 5,000 employees"),
        "attribute": "company.employees",
        "operator": "between",
        "value": [50, 5000],
        "points": 15,
    },
    {
        "label": gettext_lazy("In our territory (France, Belgium, Switzerland, Luxembourg)"),
        "attribute": "country",
        "operator": "in",
        "value": ["FR", "BE", "CH", "LU", "MC"],
        "points": 10,
    },
    {
        "label": gettext_lazy("Free-mail address"),
        "attribute": "email",
        "operator": "free_email",
        "points": -10,
    },
    {
        "label": gettext_lazy("Student"),
        "attribute": "title",
        "operator": "contains",
        "value": ["étudiant", "etudiant", "student", "stagiaire", "alternant"],
        "points": -30,
    },
    {
        # Empty on purpose: marketing lists the competitors' domains on day one.
        "label": gettext_lazy("Competitor"),
        "attribute": "email",
        "operator": "email_domain_in",
        "value": [],
        "points": -50,
    },
]
TEMPLATE_BEHAVIOUR_RULES: list[dict[str, Any]] = [
    {
        "label": gettext_lazy("Pricing page 3× in 7 days"),
        "event_type": "page_view",
        "match_field": "url",
        "match_operator": "regex",
        "match_value": "/(pricing|tarifs?|prix)",
        "mode": "frequency",
        "points": 40,
        "min_count": 3,
        "window_days": 7,
        "marks_hot": True,
    },
    {
        "label": gettext_lazy("Demo request"),
        "event_type": "demo_request",
        "mode": "per_occurrence",
        "points": 50,
        "cap": 50,
        "marks_hot": True,
        "window_days": 14,
    },
    {
        "label": gettext_lazy("Beginner content downloaded"),
        "event_type": "content_download",
        "match_field": "content.level",
        "match_operator": "equals",
        "match_value": "beginner",
        "points": 5,
        "cap": 15,
    },
    {
        "label": gettext_lazy("Intermediate content downloaded"),
        "event_type": "content_download",
        "match_field": "content.level",
        "match_operator": "equals",
        "match_value": "intermediate",
        "points": 10,
        "cap": 30,
    },
    {
        "label": gettext_lazy("Expert content downloaded"),
        "event_type": "content_download",
        "match_field": "content.level",
        "match_operator": "equals",
        "match_value": "expert",
        "points": 15,
        "cap": 45,
    },
    {
        "label": gettext_lazy("Webinar attended"),
        "event_type": "webinar_attended",
        "points": 15,
        "cap": 30,
    },
    {"label": gettext_lazy("E-mail click"), "event_type": "email_click", "points": 3, "cap": 15},
]
TEMPLATE_SETTINGS: dict[str, Any] = {
    "name": gettext_lazy("Starting template"),
    "mql_threshold": 60,
    "min_fit_grade": "",
    "grade_bands": {"A": 40, "B": 25, "C": 10},
    "decay_half_life_days": 30,
}


@transaction.atomic
def create_starting_template(
    *, organization: Organization, created_by=None, activate: bool = True
) -> ScoringModel:
    """The default model for a new organization: v-next, active unless told otherwise
    (no re-score is started: a new organization's leads are scored as they come).
    Labels are written in the organization's language: they are its rules now."""
    org_id = organization.pk
    with translation.override(organization.language):
        model = ScoringModel.objects.create(
            organization_id=org_id,
            version=_next_version(org_id),
            status=ScoringModel.Status.ACTIVE if activate else ScoringModel.Status.DRAFT,
            activated_at=timezone.now() if activate else None,
            created_by=created_by,
            **{**TEMPLATE_SETTINGS, "name": str(TEMPLATE_SETTINGS["name"])},
        )
        for position, data in enumerate(TEMPLATE_FIT_RULES):
            FitRule.objects.create(
                organization_id=org_id, model=model, position=position, **clean_fit_rule(data)
            )
        for position, data in enumerate(TEMPLATE_BEHAVIOUR_RULES):
            BehaviourRule.objects.create(
                organization_id=org_id,
                model=model,
                position=position,
                **clean_behaviour_rule(data),
            )
    return model


def ensure_active_model(organization: Organization) -> ScoringModel | None:
    """The active model; an organization that never had one gets the starting template.

    None when the organization has models but none active (nothing to score with)."""
    models = ScoringModel.objects.for_org(organization)
    active = models.filter(status=ScoringModel.Status.ACTIVE).first()
    if active is not None or models.exists():
        return active
    try:
        with transaction.atomic():
            return create_starting_template(organization=organization)
    except IntegrityError:
        # Created concurrently by another task: use theirs.
        return models.filter(status=ScoringModel.Status.ACTIVE).first()
