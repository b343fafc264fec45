"""Scoring model versions: drafts, editing an active model, activation (one active,
the old one archived, every lead re-scored with progress), validation, permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError

from leads.models import Lead, Stage
from scoring import pipeline, services
from scoring.models import BehaviourRule, FitRule, RescoreRun, ScoringModel
from scoring.rules import ScoringError
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import PermissionDenied

from .conftest import NOW, event, ingest, lead_of, pricing

pytestmark = pytest.mark.django_db


def models_of(org):
    with tenant_context(org.pk):
        return {m.version: m.status for m in ScoringModel.objects.for_org(org)}


def test_the_starting_template(trio, template):
    with tenant_context(trio.alpha.pk):
        fit = {r.label: r for r in FitRule.objects.for_org(trio.alpha).filter(model=template)}
        behaviour = {
            r.label: r for r in BehaviourRule.objects.for_org(trio.alpha).filter(model=template)
        }
    assert template.status == "active" and template.mql_threshold == 60
    assert fit["Free-mail address"].points == -10
    assert fit["Student"].points == -30
    assert (fit["Competitor"].operator, fit["Competitor"].value) == ("email_domain_in", [])
    pricing_rule = behaviour["Pricing page 3× in 7 days"]
    assert (pricing_rule.mode, pricing_rule.min_count, pricing_rule.window_days) == (
        "frequency",
        3,
        7,
    )
    assert pricing_rule.points == 40 and pricing_rule.marks_hot
    assert behaviour["Demo request"].points == 50 and behaviour["Demo request"].marks_hot
    assert behaviour["E-mail click"].cap == 15
    assert {r.match_value for r in behaviour.values() if r.match_field == "content.level"} == {
        "beginner",
        "intermediate",
        "expert",
    }


def test_editing_the_active_model_makes_a_new_draft(trio, template):
    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        draft = services.model_update(actor=actor, model=template, data={"mql_threshold": 70})
        assert (draft.version, draft.status, draft.based_on_id) == (2, "draft", template.pk)
        assert draft.mql_threshold == 70
        template.refresh_from_db()
        assert template.mql_threshold == 60 and template.status == "active"
        # The draft carries copies of the rules; the active model's rules are untouched.
        competitor = FitRule.objects.for_org(trio.alpha).get(model=template, label="Competitor")
        model, rule = services.fit_rule_update(
            actor=actor,
            rule=competitor,
            data={
                "label": "Competitor",
                "attribute": "email",
                "operator": "email_domain_in",
                "value": "rival.io, @Concurrent.FR",
                "points": -50,
            },
        )
        assert model.status == "draft" and model.version == 3 and rule.model_id == model.pk
        assert rule.value == ["concurrent.fr", "rival.io"]
        competitor.refresh_from_db()
        assert competitor.value == []
        # A draft is edited in place.
        same, _added = services.behaviour_rule_add(
            actor=actor,
            model=draft,
            data={"label": "Case study", "event_type": "content_download", "points": 5},
        )
        assert same.pk == draft.pk
        assert FitRule.objects.for_org(trio.alpha).filter(model=draft).count() == 6
    assert models_of(trio.alpha) == {1: "active", 2: "draft", 3: "draft"}


def test_activation_archives_the_old_model_and_rescores_every_lead(trio, template):
    ingest(
        trio.alpha, [pricing("a@acme.fr", ago) for ago in (timedelta(days=d) for d in (3, 2, 1))]
    )
    ingest(trio.alpha, [event("email_click", email="b@acme.fr")])
    with tenant_context(trio.alpha.pk):
        ids = list(Lead.objects.for_org(trio.alpha).values_list("pk", flat=True))
        pipeline.rescore_leads(organization=trio.alpha, lead_ids=ids, now=NOW)
    assert lead_of(trio.alpha, "a@acme.fr").score == 40

    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        draft = services.model_update(actor=actor, model=template, data={"mql_threshold": 35})
        pricing_rule = BehaviourRule.objects.for_org(trio.alpha).get(
            model=draft, label="Pricing page 3× in 7 days"
        )
        services.behaviour_rule_update(
            actor=actor,
            rule=pricing_rule,
            data={
                "label": "Pricing page 3× in 7 days",
                "event_type": "page_view",
                "match_field": "url",
                "match_operator": "contains",
                "match_value": "/tarifs",
                "mode": "frequency",
                "points": 45,
                "min_count": 3,
                "window_days": 7,
                "marks_hot": True,
            },
        )
    with tenant_context(trio.alpha.pk):
        run = services.model_activate(actor=actor, model=draft)
    # The run is dispatched on commit; run it as the worker would.
    pipeline.run_full_rescore(organization=trio.alpha, run_id=run.pk)
    assert models_of(trio.alpha) == {1: "archived", 2: "active"}
    with tenant_context(trio.alpha.pk):
        run.refresh_from_db()
        draft.refresh_from_db()
    assert (run.status, run.done, run.total, run.progress) == ("done", 2, 2, 100)
    assert draft.activated_by == trio.alice and draft.activated_at is not None
    a = lead_of(trio.alpha, "a@acme.fr")
    assert a.score == 45
    # 45 ≥ 35 under the new definition, not under the old (40 < 60): a new MQL.
    assert a.stage == Stage.MQL and run.new_mqls == 1
    assert lead_of(trio.alpha, "b@acme.fr").stage == Stage.LEAD


def test_only_one_active_model(trio, template):
    with tenant_context(trio.alpha.pk), pytest.raises(IntegrityError):
        ScoringModel.objects.create(organization=trio.alpha, version=2, status="active")


def test_rolling_back_to_an_archived_version(trio, template):
    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        draft = services.model_update(actor=actor, model=template, data={"mql_threshold": 80})
        services.model_activate(actor=actor, model=draft)
        services.model_activate(actor=actor, model=template)
        with pytest.raises(ScoringError) as error:
            services.model_activate(actor=actor, model=template)
    assert error.value.code == "already_active"
    assert models_of(trio.alpha) == {1: "active", 2: "archived"}
    with tenant_context(trio.alpha.pk):
        runs = list(RescoreRun.objects.for_org(trio.alpha).order_by("pk"))
    assert [r.status for r in runs] == ["superseded", "queued"]


def test_a_superseded_run_stops(trio, template):
    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        Lead.objects.create(organization=trio.alpha, email="x@acme.fr")
        draft = services.model_update(actor=actor, model=template, data={"name": "v2"})
        run = services.model_activate(actor=actor, model=draft)
        ScoringModel.objects.for_org(trio.alpha).filter(pk=draft.pk).update(status="archived")
    assert pipeline.run_full_rescore(organization=trio.alpha, run_id=run.pk).status == (
        "superseded"
    )
    # A second worker given the same run does nothing.
    assert pipeline.run_full_rescore(organization=trio.alpha, run_id=run.pk) is None


def test_a_lost_run_is_dispatched_again(trio, template, eager):
    from scoring import tasks

    actor = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        Lead.objects.create(organization=trio.alpha, email="x@acme.fr")
        draft = services.model_update(actor=actor, model=template, data={"name": "v2"})
        run = services.model_activate(actor=actor, model=draft)
        RescoreRun.objects.for_org(trio.alpha).filter(pk=run.pk).update(
            created_at=NOW - timedelta(minutes=5)
        )
    tasks.sweep_marked_leads()
    with tenant_context(trio.alpha.pk):
        run.refresh_from_db()
    assert run.status == "done" and run.done == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"label": "", "attribute": "country", "operator": "equals", "value": "FR", "points": 5},
            "label",
        ),
        (
            {"label": "x", "attribute": "shoe_size", "operator": "equals", "value": 1, "points": 5},
            "attribute",
        ),
        (
            {
                "label": "x",
                "attribute": "title",
                "operator": "between",
                "value": [1, 2],
                "points": 5,
            },
            "operator",
        ),
        (
            {
                "label": "x",
                "attribute": "company.employees",
                "operator": "between",
                "value": [500, 50],
                "points": 5,
            },
            "value",
        ),
        (
            {"label": "x", "attribute": "country", "operator": "in", "value": [], "points": 5},
            "value",
        ),
        (
            {
                "label": "x",
                "attribute": "country",
                "operator": "equals",
                "value": "FR",
                "points": 0,
            },
            "points",
        ),
        (
            {
                "label": "x",
                "attribute": "country",
                "operator": "equals",
                "value": "FR",
                "points": 500,
            },
            "points",
        ),
        (
            {
                "label": "x",
                "attribute": "email",
                "operator": "email_domain_in",
                "value": ["not a domain"],
                "points": -5,
            },
            "value",
        ),
    ],
)
def test_bad_fit_rules_are_refused_with_field_errors(trio, template, data, field):
    with tenant_context(trio.alpha.pk), pytest.raises(ScoringError) as error:
        services.fit_rule_add(actor=trio.alice_membership, model=template, data=data)
    assert field in error.value.fields
    assert models_of(trio.alpha) == {1: "active"}  # nothing written, not even a draft


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"label": "x", "event_type": "nope", "points": 5}, "event_type"),
        (
            {"label": "x", "event_type": "page_view", "match_field": "url", "points": 5},
            "match_operator",
        ),
        (
            {
                "label": "x",
                "event_type": "page_view",
                "match_field": "url",
                "match_operator": "regex",
                "match_value": r"\bpricing",
                "points": 5,
            },
            "match_value",
        ),
        (
            {
                "label": "x",
                "event_type": "page_view",
                "match_field": "url",
                "match_operator": "regex",
                "match_value": "(unclosed",
                "points": 5,
            },
            "match_value",
        ),
        (
            {
                "label": "x",
                "event_type": "page_view",
                "match_field": "referrer",
                "match_operator": "equals",
                "match_value": "x",
                "points": 5,
            },
            "match_field",
        ),
        ({"label": "x", "event_type": "page_view", "mode": "frequency", "points": 5}, "min_count"),
        (
            {
                "label": "x",
                "event_type": "page_view",
                "mode": "frequency",
                "points": -5,
                "min_count": 2,
                "window_days": 7,
            },
            "points",
        ),
        ({"label": "x", "event_type": "unsubscribe", "points": -5, "marks_hot": True}, "marks_hot"),
    ],
)
def test_bad_behaviour_rules_are_refused_with_field_errors(trio, template, data, field):
    with tenant_context(trio.alpha.pk), pytest.raises(ScoringError) as error:
        services.behaviour_rule_add(actor=trio.alice_membership, model=template, data=data)
    assert field in error.value.fields


def test_bad_model_settings_are_refused(trio, template):
    with tenant_context(trio.alpha.pk), pytest.raises(ScoringError) as error:
        services.model_update(
            actor=trio.alice_membership,
            model=template,
            data={
                "mql_threshold": 0,
                "grade_bands": {"A": 10, "B": 20, "C": 5},
                "min_fit_grade": "E",
            },
        )
    assert set(error.value.fields) == {"mql_threshold", "grade_bands", "min_fit_grade"}


def test_a_sales_rep_cannot_change_the_model(trio, template):
    with tenant_context(trio.alpha.pk):
        with pytest.raises(PermissionDenied):
            services.model_update(actor=trio.bob_membership, model=template, data={"name": "x"})
        with pytest.raises(PermissionDenied):
            services.model_activate(actor=trio.bob_membership, model=template)


def test_another_organizations_model_is_not_found(trio, template):
    with tenant_context(trio.charlie_org.pk):
        theirs = services.create_starting_template(organization=trio.charlie_org)
        rule = FitRule.objects.for_org(trio.charlie_org).filter(model=theirs).first()
    with tenant_context(trio.alpha.pk):
        for call in (
            lambda: services.model_update(
                actor=trio.alice_membership, model=theirs, data={"name": "x"}
            ),
            lambda: services.model_activate(actor=trio.alice_membership, model=theirs),
            lambda: services.fit_rule_delete(actor=trio.alice_membership, rule=rule),
            lambda: services.model_create_draft(
                actor=trio.alice_membership, organization=trio.alpha, based_on=theirs
            ),
        ):
            with pytest.raises(ScoringError) as error:
                call()
            assert error.value.status == 404
    assert models_of(trio.charlie_org) == {1: "active"}
    assert models_of(trio.alpha) == {1: "active"}
