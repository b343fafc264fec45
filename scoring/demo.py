"""The demo's scoring: the starting template as the active model, and every demo lead
scored with it (called by ``manage.py load_demo`` after the leads app's step, inside
the organization's tenant; idempotent).

Leads that meet the MQL definition become MQLs routed to the demo's reps, without a
notification each: this is history being loaded, not news. From then on the live
traffic simulator's events go through the real pipeline (task, MQL, notification).
Then the predictive score is trained on the demo's decided leads (once).
"""

from __future__ import annotations

from leads.models import Lead

from . import pipeline, predictive
from .services import ensure_active_model


def load(demo) -> None:
    _rule_scores(demo)
    _predictive_score(demo)


def _rule_scores(demo) -> None:
    org = demo.organization
    model = ensure_active_model(org)
    if model is None:
        demo.stdout.write("  scoring: no active model (left as it is)")
        return
    unscored = Lead.objects.for_org(org).filter(grade="").exists()
    if (
        not unscored
        and not Lead.objects.for_org(org).filter(rescore_requested_at__isnull=False).exists()
    ):
        demo.stdout.write(f"  scoring: model v{model.version} active, leads already scored")
        return
    outcome = pipeline.rescore_everything_now(organization=org, history=True, now=demo.now)
    hot = Lead.objects.for_org(org).filter(hot=True).count()
    demo.stdout.write(
        f"  scoring: model v{model.version} active, {outcome.scored} leads scored, "
        f"{hot} hot, {len(outcome.mqls)} new MQLs"
    )


def _predictive_score(demo) -> None:
    org = demo.organization
    model = predictive.active_predictive_model(org)
    if model is None:
        result = predictive.train_model(organization=org, now=demo.now)
        model = result.model
        if model is None:
            demo.stdout.write(f"  scoring: predictive score not trained ({result.message})")
            return
    demo.stdout.write(
        f"  scoring: predictive score trained on {model.n_samples} decided leads, "
        f"held-out AUC {model.auc:.2f}"
    )
