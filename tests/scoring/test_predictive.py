"""The predictive score (SPEC.md §2): nothing trained below 200 decided leads; a
feature that drives the outcome is learnt (held-out AUC, probabilities, factors);
features of a decided lead stop at sales' decision (no leakage); JSON parameters
predict exactly what scikit-learn predicts; one organization never reads another's
leads; the weekly task visits every organization; only managers train on demand."""

from __future__ import annotations

import io
import itertools
import json
import random
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from celery.schedules import crontab
from django.db import connection
from django.template.loader import render_to_string
from django.utils import translation

from leads.models import Company, Content, Decision, Event, Lead, LifecycleTransition, Stage
from scoring import demo, predictive
from scoring.models import PredictiveModel
from scoring.predictive_tasks import train_predictive_weekly
from scoring.rules import ScoringError
from smarketing.celery import app
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import PermissionDenied

from .conftest import NOW

pytestmark = pytest.mark.django_db

PRICING_URL = "https://www.exemple.fr/tarifs"
_events = itertools.count(1)


def _event(org, lead, type, at, url="") -> Event:
    return Event(
        organization=org,
        lead=lead,
        source="test",
        external_id=f"e{next(_events)}",
        type=type,
        occurred_at=at,
        url=url,
    )


def make_decided(org, n: int, *, seed: int = 7, prefix: str = "d", noise: float = 0.08):
    """``n`` decided leads whose outcome follows their intent: leads that meant it
    visited the pricing page 2 to 5 times in the week before sales decided, the others
    at most once; ``noise`` of the outcomes are flipped. Every lead also has random
    other page views, e-mail opens and fit attributes that say nothing."""
    rng = random.Random(seed)
    with tenant_context(org.pk):
        company = Company.objects.create(organization=org, name="Corp", employees=120)
        leads = Lead.objects.bulk_create(
            Lead(
                organization=org,
                email=f"{prefix}{i}@corp{i % 9}.fr",
                title=rng.choice(["Directeur commercial", "Chargée de marketing", "CEO", ""]),
                seniority=rng.choice(["director", "manager", "individual", ""]),
                country=rng.choice(["FR", "BE", "CH"]),
                source=rng.choice(["website", "webinar", "paid_search"]),
                company=company if rng.random() < 0.5 else None,
            )
            for i in range(n)
        )
        events, decisions, transitions, outcome = [], [], [], {}
        for lead in leads:
            decided_at = NOW - timedelta(days=rng.uniform(10, 60), minutes=rng.randint(0, 600))
            intent = rng.random() < 0.45
            pricing = rng.randint(2, 5) if intent else rng.randint(0, 1)
            for _ in range(pricing):
                at = decided_at - timedelta(days=rng.uniform(0.1, 6))
                events.append(_event(org, lead, "page_view", at, PRICING_URL))
            for _ in range(rng.randint(0, 6)):
                at = decided_at - timedelta(days=rng.uniform(0.1, 60))
                events.append(_event(org, lead, "page_view", at, "https://www.exemple.fr/blog"))
            for _ in range(rng.randint(0, 3)):
                at = decided_at - timedelta(days=rng.uniform(0.1, 60))
                events.append(_event(org, lead, "email_open", at))
            positive = intent != (rng.random() < noise)
            outcome[lead.pk] = (positive, decided_at)
            if positive:
                decisions.append(
                    Decision(organization=org, lead=lead, kind="accept", at=decided_at)
                )
                transitions += [
                    LifecycleTransition(
                        organization=org, lead=lead, from_stage="mql", to_stage="sal", at=decided_at
                    ),
                    LifecycleTransition(
                        organization=org,
                        lead=lead,
                        from_stage="sal",
                        to_stage="sql",
                        at=decided_at + timedelta(days=3),
                    ),
                ]
            else:
                decisions.append(
                    Decision(
                        organization=org, lead=lead, kind="reject", reason="no_need", at=decided_at
                    )
                )
                transitions.append(
                    LifecycleTransition(
                        organization=org,
                        lead=lead,
                        from_stage="mql",
                        to_stage="recycled",
                        at=decided_at,
                    )
                )
        Event.objects.bulk_create(events)
        Decision.objects.bulk_create(decisions)
        LifecycleTransition.objects.bulk_create(transitions)
    return leads, outcome


def live_lead(org, email: str, *, pricing: int):
    """A lead of today: a blog visit yesterday and ``pricing`` visits of the pricing
    page in the last days."""
    with tenant_context(org.pk):
        lead = Lead.objects.create(organization=org, email=email, country="FR")
        Event.objects.bulk_create(
            [
                _event(org, lead, "page_view", NOW - timedelta(days=1), "https://x.fr/blog"),
                *(
                    _event(org, lead, "page_view", NOW - timedelta(hours=10 + 20 * i), PRICING_URL)
                    for i in range(pricing)
                ),
            ]
        )
    return lead


@pytest.fixture
def trained(trio):
    """Alpha with 320 decided leads and a trained model."""
    leads, outcome = make_decided(trio.alpha, 320)
    with tenant_context(trio.alpha.pk):
        result = predictive.train_model(organization=trio.alpha, now=NOW)
    assert result.trained, result.message
    return result, leads, outcome


# --- Not enough decided leads ----------------------------------------------------------


@pytest.fixture
def english():
    """Messages built outside a request speak the default language (French): these
    tests read the English source."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.mark.usefixtures("english")
def test_below_200_decided_leads_nothing_is_trained(trio):
    make_decided(trio.alpha, 150)
    with tenant_context(trio.alpha.pk):
        # Undecided leads (an MQL waiting, an accepted lead not qualified yet) do not count.
        waiting = Lead.objects.create(organization=trio.alpha, email="w@x.fr", stage=Stage.MQL)
        accepted = Lead.objects.create(organization=trio.alpha, email="a@x.fr", stage=Stage.SAL)
        Decision.objects.create(organization=trio.alpha, lead=accepted, kind="accept", at=NOW)
        result = predictive.train_model(organization=trio.alpha, now=NOW)
        status = predictive.predictive_status(trio.alpha)
        assert not PredictiveModel.objects.for_org(trio.alpha).exists()
        assert predictive.lead_prediction(waiting) is None
    assert not result.trained and result.decided == 150 and result.missing == 50
    assert "50 more decided leads" in result.message
    assert status["trained"] is False and status["model"] is None
    assert (status["decided"], status["missing"], status["required"]) == (150, 50, 200)
    assert status["positive"] + status["negative"] == 150 and not status["ready"]
    with translation.override("en"):
        html = render_to_string(
            "scoring/partials/predictive.html", {"prediction": None, "predictive_status": status}
        )
    assert "50 more decided leads are needed (150 of 200)" in html


def test_one_outcome_alone_is_not_enough(trio):
    make_decided(trio.alpha, 210, noise=0.0)
    with tenant_context(trio.alpha.pk):
        # Every lead rejected: nothing to learn what reaching SQL looks like.
        LifecycleTransition.objects.for_org(trio.alpha).filter(to_stage="sql").delete()
        Decision.objects.for_org(trio.alpha).update(kind="reject", reason="no_need")
        result = predictive.train_model(organization=trio.alpha, now=NOW)
        status = predictive.predictive_status(trio.alpha)
    assert not result.trained and result.missing == 0 and result.positive == 0
    assert status["missing"] == 0 and not status["ready"]


def test_outcomes_reached_sql_wins_and_disqualified_counts(trio):
    org = trio.alpha
    with tenant_context(org.pk):
        make = lambda email, **kw: Lead.objects.create(organization=org, email=email, **kw)  # noqa: E731
        back = make("back@x.fr", stage=Stage.SQL)  # rejected once, then reached SQL
        Decision.objects.create(
            organization=org,
            lead=back,
            kind="reject",
            reason="bad_timing",
            at=NOW - timedelta(days=30),
        )
        Decision.objects.create(
            organization=org, lead=back, kind="accept", at=NOW - timedelta(days=5)
        )
        LifecycleTransition.objects.create(
            organization=org, lead=back, to_stage="sql", at=NOW - timedelta(days=2)
        )
        gone = make("gone@x.fr", stage=Stage.DISQUALIFIED)
        LifecycleTransition.objects.create(
            organization=org, lead=gone, to_stage="disqualified", at=NOW - timedelta(days=1)
        )
        imported = make("imported@x.fr", stage=Stage.CUSTOMER, stage_changed_at=NOW)
        make("open@x.fr", stage=Stage.MQL)
        outcomes = predictive.decided_outcomes(org)
        counts = predictive.decided_counts(org)
    assert set(outcomes) == {back.pk, gone.pk, imported.pk}
    assert counts == (3, 2)  # the same definition, counted in the database
    assert outcomes[back.pk].positive and outcomes[back.pk].at == NOW - timedelta(days=2)
    # Seen as of the accept before the SQL, not the old rejection nor the SQL itself.
    assert outcomes[back.pk].as_of == NOW - timedelta(days=5)
    assert not outcomes[gone.pk].positive and outcomes[gone.pk].as_of == NOW - timedelta(days=1)
    assert outcomes[imported.pk].positive and outcomes[imported.pk].at == NOW


# --- Learning a feature that drives the outcome -------------------------------------


@pytest.mark.usefixtures("english")
def test_a_feature_that_drives_the_outcome_is_learnt(trio, trained):
    result, _leads, outcome = trained
    model = result.model
    assert model.status == "active" and model.algorithm == "logistic_regression"
    assert model.auc > 0.8, model.auc
    assert (model.n_samples, model.n_test) == (320, 80)
    assert model.n_positive == sum(1 for o in outcome.values() if o[0])
    assert model.feature_names == model.params["feature_names"]

    hot = live_lead(trio.alpha, "hot@x.fr", pricing=4)
    cold = live_lead(trio.alpha, "cold@x.fr", pricing=0)
    with tenant_context(trio.alpha.pk):
        hot_p = predictive.lead_prediction(hot, now=NOW)
        cold_p = predictive.lead_prediction(cold, now=NOW)
        data = predictive.training_set(trio.alpha)
    assert 0 <= cold_p["probability"] < 0.5 < hot_p["probability"] <= 1
    assert hot_p["percent"] == round(100 * hot_p["probability"])
    assert any(f["feature"].startswith("pricing:") for f in hot_p["up"]), hot_p["up"]
    assert any(f["feature"].startswith("pricing:") for f in cold_p["down"]), cold_p["down"]
    label = next(f["label"] for f in hot_p["up"] if f["feature"].startswith("pricing:"))
    assert label.startswith("Pricing page views: 4 in the last")
    assert all(f["impact"] > 0 for f in hot_p["up"]) and all(f["impact"] < 0 for f in hot_p["down"])
    assert hot_p["model"]["auc"] == model.auc and hot_p["model"]["n_samples"] == 320
    probabilities = [predictive.predict_proba(model.params, f.values) for f in data.features]
    assert all(0.0 <= p <= 1.0 for p in probabilities)

    with translation.override("en"):
        html = render_to_string(
            "scoring/partials/predictive.html",
            {
                "prediction": hot_p,
                "predictive_status": None,
                "predictive_train_url": "/train/",
                "can": {"scoring_manage": False},
            },
        )
    assert f"{hot_p['percent']} % chance to reach SQL" in html
    assert "Pricing page views: 4 in the last" in html and f"held-out AUC {model.auc:.2f}" in html
    assert "Learnt from 320 decided leads" in html
    assert "Retrain now" not in html  # only for scoring.manage
    # The lead page passes it as ``predictive`` (scoring.views.lead_score_context).
    with translation.override("en"):
        html = render_to_string("scoring/partials/predictive.html", {"predictive": hot_p})
    assert f"{hot_p['percent']} % chance to reach SQL" in html


def test_retraining_keeps_the_history_and_uses_the_latest(trio, trained):
    first = trained[0].model
    with tenant_context(trio.alpha.pk):
        second = predictive.train_model(organization=trio.alpha, now=NOW + timedelta(days=7))
        rows = list(PredictiveModel.objects.for_org(trio.alpha))
        latest = predictive.active_predictive_model(trio.alpha)
    assert [(r.pk, r.status) for r in rows] == [(second.model.pk, "active"), (first.pk, "archived")]
    assert latest == second.model and rows[1].archived_at == NOW + timedelta(days=7)


# --- No leakage ------------------------------------------------------------------------


def test_events_after_the_decision_do_not_change_a_decided_lead(trio):
    leads, outcome = make_decided(trio.alpha, 40)
    positive = next(lead for lead in leads if outcome[lead.pk][0])
    negative = next(lead for lead in leads if not outcome[lead.pk][0])
    with tenant_context(trio.alpha.pk):
        before = {f.lead_id: f for f in predictive.training_set(trio.alpha).features}
        later = []
        for lead in (positive, negative):
            decided_at = outcome[lead.pk][1]
            # Right at the decision, between the accept and the SQL, and long after.
            for delta in (timedelta(0), timedelta(days=1), timedelta(days=20)):
                later += [
                    _event(trio.alpha, lead, "page_view", decided_at + delta, PRICING_URL),
                    _event(trio.alpha, lead, "demo_request", decided_at + delta),
                    _event(trio.alpha, lead, "webinar_attended", decided_at + delta),
                ]
        Event.objects.bulk_create(later)
        after = {f.lead_id: f for f in predictive.training_set(trio.alpha).features}
        live = predictive.lead_features(positive, now=NOW)
    for lead in (positive, negative):
        assert after[lead.pk].values == before[lead.pk].values
        assert after[lead.pk].raw == before[lead.pk].raw
        assert "demo_request" not in after[lead.pk].values
    # As of now (a live view of the same lead), the later events do count.
    assert live.values["demo_request"] == 1 and live.values["webinar_attended"] == 1


def test_features_are_aggregated_by_window_as_of_the_instant(trio):
    org = trio.alpha
    with tenant_context(org.pk):
        guide = Content.objects.create(
            organization=org, key="guide", title="Guide", type="guide", level="expert"
        )
        lead = Lead.objects.create(organization=org, email="x@gmail.com", title="VP Sales")
        download = _event(org, lead, "content_download", NOW - timedelta(days=3))
        download.content = guide
        Event.objects.bulk_create(
            [
                download,
                _event(org, lead, "page_view", NOW - timedelta(days=2), PRICING_URL),
                _event(org, lead, "page_view", NOW - timedelta(days=20), "https://x.fr/prix"),
                _event(org, lead, "page_view", NOW - timedelta(days=80), "https://x.fr/blog"),
                _event(org, lead, "email_click", NOW - timedelta(days=100)),
            ]
        )
        features = predictive.lead_features(lead, now=NOW)
    raw = features.raw
    assert (raw["pricing:7d"], raw["pricing:30d"], raw["pricing:90d"]) == (1, 2, 2)
    assert (raw["events:page_view:7d"], raw["events:page_view:90d"]) == (1, 3)
    assert raw["events:email_click:90d"] == 0  # older than every window
    assert raw["content:expert"] == 1 and raw["content:beginner"] == 0
    assert raw["days_since_first"] == pytest.approx(100)
    assert raw["days_since_last"] == pytest.approx(2)
    values = features.values
    assert values["pricing:30d"] == pytest.approx(np.log1p(2))
    assert values["days_since_last"] == pytest.approx(np.log1p(2))
    assert values["free_mail"] == 1 and values["title:vp"] == 1 and values["title:sales"] == 1
    assert values["company"] == "none" and values["seniority"] == "unknown"
    assert "no_activity" not in values and "webinar_attended" not in values


# --- JSON parameters -------------------------------------------------------------------


def test_json_parameters_predict_what_scikit_learn_predicts(trio, trained):
    model = trained[0].model
    with tenant_context(trio.alpha.pk):
        stored = PredictiveModel.objects.for_org(trio.alpha).get(pk=model.pk)
        data = predictive.training_set(trio.alpha)
        lead = live_lead(trio.alpha, "live@x.fr", pricing=2)
        live = predictive.lead_features(lead, now=NOW)
        shown = predictive.lead_prediction(lead, now=NOW)
    # Stored as JSON in the database (no pickle, no bytes), read back as such.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'scoring_predictivemodel' AND column_name = 'params'"
        )
        assert cursor.fetchone()[0] == "jsonb"
    params = json.loads(json.dumps(stored.params))
    assert params == stored.params
    # Training is deterministic: the same decided leads give the same scikit-learn model.
    fitted = predictive.fit([f.values for f in data.features], data.labels)
    assert fitted.params["coefficients"] == pytest.approx(params["coefficients"], abs=1e-12)
    rows = [f.values for f in data.features] + [live.values, {"seniority": "never-seen"}, {}]
    expected = fitted.classifier.predict_proba(fitted.transform(rows))[:, 1]
    got = np.array([predictive.predict_proba(params, row) for row in rows])
    assert np.max(np.abs(got - expected)) < 1e-9
    assert shown["probability"] == pytest.approx(expected[len(data.features)], abs=1e-9)
    # The factors add up to the log-odds.
    logit = np.log(expected[0] / (1 - expected[0]))
    assert predictive.contributions(params, rows[0]).sum() + params["intercept"] == pytest.approx(
        logit, abs=1e-9
    )


# --- Tenancy ---------------------------------------------------------------------------


def test_training_one_organization_never_reads_another(trio):
    make_decided(trio.alpha, 230, prefix="a")
    # Charlie's leads say the opposite: if they leaked in, the counts would show it.
    make_decided(trio.charlie_org, 260, prefix="c", seed=11, noise=0.9)
    with tenant_context(trio.alpha.pk):
        result = predictive.train_model(organization=trio.alpha, now=NOW)
        # Row-level security, the second wall: even asking for Charlie by id inside
        # Alpha's tenant finds nothing.
        assert predictive.decided_outcomes(trio.charlie_org.pk) == {}
        assert predictive.training_set(trio.charlie_org.pk).labels == []
        assert predictive.predictive_status(trio.charlie_org)["decided"] == 0
    assert result.trained and result.model.n_samples == 230
    assert result.model.organization_id == trio.alpha.pk
    with tenant_context(trio.charlie_org.pk):
        assert not PredictiveModel.objects.for_org(trio.charlie_org).exists()
        assert predictive.active_predictive_model(trio.alpha) is None  # RLS hides Alpha's
        assert predictive.predictive_status(trio.charlie_org)["decided"] == 260
        charlie_lead = Lead.objects.for_org(trio.charlie_org).first()
        assert predictive.lead_prediction(charlie_lead) is None


# --- The weekly task and the on-demand service ------------------------------------------


def test_the_weekly_task_trains_every_organization(trio, eager):
    make_decided(trio.alpha, 220, prefix="a")
    make_decided(trio.charlie_org, 90, prefix="c")
    schedule = app.conf.beat_schedule["scoring-predictive-weekly"]
    assert schedule["task"] == "scoring.predictive_tasks.train_predictive_weekly"
    assert isinstance(schedule["schedule"], crontab)
    assert schedule["schedule"].day_of_week == {1}  # Monday
    assert train_predictive_weekly.delay().get() == 2  # both organizations visited
    with tenant_context(trio.alpha.pk):
        [model] = PredictiveModel.objects.for_org(trio.alpha)
    with tenant_context(trio.charlie_org.pk):
        assert not PredictiveModel.objects.for_org(trio.charlie_org).exists()  # 90 < 200
    assert model.n_samples == 220 and model.trained_by is None


def test_training_on_demand_needs_scoring_manage(trio):
    make_decided(trio.alpha, 210)
    with tenant_context(trio.alpha.pk):
        with pytest.raises(PermissionDenied):
            predictive.predictive_train(actor=trio.bob_membership, organization=trio.alpha)
        assert not PredictiveModel.objects.for_org(trio.alpha).exists()
        result = predictive.predictive_train(actor=trio.alice_membership, organization=trio.alpha)
    assert result.trained and result.model.trained_by == trio.alice
    # Charlie manages his own organization, not Alpha.
    with tenant_context(trio.charlie_org.pk), pytest.raises(ScoringError) as err:
        predictive.predictive_train(actor=trio.charlie_membership, organization=trio.alpha)
    assert err.value.status == 404


def test_the_demo_step_trains_the_predictive_score_once(trio):
    make_decided(trio.alpha, 205)
    out = io.StringIO()
    step = SimpleNamespace(organization=trio.alpha, stdout=out, now=NOW)
    with tenant_context(trio.alpha.pk):
        demo.load(step)
        demo.load(step)
        [model] = PredictiveModel.objects.for_org(trio.alpha)
    assert model.trained_at == NOW and model.n_samples == 205
    assert out.getvalue().count("predictive score trained on 205 decided leads") == 2
