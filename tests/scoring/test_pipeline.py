"""The pipeline on the real database: ingestion marks leads, the coalesced task scores
them, crossing the threshold makes an MQL that is routed and notified, hot leads go to
the top of the sales queue and notify once, the sweeper recovers lost tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leads.models import Lead, LifecycleTransition, Stage
from leads.selectors import lead_list
from scoring import pipeline, tasks
from scoring.models import ScoreContribution, ScoringModel
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

from .conftest import NOW, event, ingest, lead_of, pricing

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def rescore(org, emails, now=NOW):
    with tenant_context(org.pk):
        ids = list(Lead.objects.for_org(org).filter(email__in=emails).values_list("pk", flat=True))
        return pipeline.rescore_leads(organization=org, lead_ids=ids, now=now)


def notifications(org, **filters):
    with tenant_context(org.pk):
        return list(Notification.objects.for_org(org).filter(**filters).order_by("pk"))


# --- The guide's example ----------------------------------------------------------------


def test_three_pricing_views_in_a_week_put_the_lead_hot_at_the_top_of_the_queue(trio, template):
    # Three warm leads already in the queue, with higher scores than the pricing visitor.
    with tenant_context(trio.alpha.pk):
        for n, score in enumerate((90, 80, 70)):
            Lead.objects.create(
                organization=trio.alpha, email=f"warm{n}@b.fr", score=score, stage=Stage.MQL
            )
    ingest(trio.alpha, [pricing("claire@exemple.fr", ago) for ago in (6 * DAY, 3 * DAY, DAY)])
    ingest(trio.alpha, [pricing("two@exemple.fr", ago) for ago in (2 * DAY, DAY)])
    ingest(trio.alpha, [pricing("spread@exemple.fr", ago) for ago in (28 * DAY, 14 * DAY, DAY)])
    rescore(trio.alpha, ["claire@exemple.fr", "two@exemple.fr", "spread@exemple.fr"])

    claire = lead_of(trio.alpha, "claire@exemple.fr")
    assert (claire.score, claire.hot, claire.hot_since) == (40, True, NOW - DAY)
    assert claire.rescore_requested_at is None
    for email in ("two@exemple.fr", "spread@exemple.fr"):
        lead = lead_of(trio.alpha, email)
        assert (lead.hot, lead.hot_since, lead.score) == (False, None, 0)
    with tenant_context(trio.alpha.pk):
        queue = [lead.email for lead in lead_list(trio.alpha)]
    assert queue[0] == "claire@exemple.fr"
    assert queue[1:4] == ["warm0@b.fr", "warm1@b.fr", "warm2@b.fr"]


def test_the_newest_hot_lead_comes_first(trio, template):
    ingest(trio.alpha, [pricing("early@x.fr", ago) for ago in (5 * DAY, 4 * DAY, 3 * DAY)])
    ingest(trio.alpha, [pricing("late@x.fr", ago) for ago in (2 * DAY, DAY, timedelta(hours=1))])
    rescore(trio.alpha, ["early@x.fr", "late@x.fr"])
    with tenant_context(trio.alpha.pk):
        assert [lead.email for lead in lead_list(trio.alpha, hot=True)] == [
            "late@x.fr",
            "early@x.fr",
        ]


def test_ingestions_are_coalesced_into_one_task_per_organization(
    trio, template, django_capture_on_commit_callbacks, monkeypatch
):
    calls = []
    monkeypatch.setattr(tasks.rescore_pending, "delay", lambda *args: calls.append(args))
    tasks._redis().delete(tasks._pending_key(trio.alpha.pk))
    for n in range(3):  # three batches, three transactions, before any task starts
        with django_capture_on_commit_callbacks(execute=True):
            ingest(trio.alpha, [pricing(f"p{n}@x.fr", ago) for ago in (3 * DAY, 2 * DAY, DAY)])
    assert calls == [(trio.alpha.pk,)]

    # The task starts: it frees the key, then scores every marked lead of alpha.
    assert tasks.rescore_pending(trio.alpha.pk) == 3
    assert all(lead_of(trio.alpha, f"p{n}@x.fr").hot for n in range(3))
    with tenant_context(trio.alpha.pk):
        assert not Lead.objects.for_org(trio.alpha).filter(rescore_requested_at__isnull=False)
    # The next ingestion asks again.
    with django_capture_on_commit_callbacks(execute=True):
        ingest(trio.alpha, [pricing("p0@x.fr", timedelta(hours=1))])
    assert calls == [(trio.alpha.pk,), (trio.alpha.pk,)]
    tasks._redis().delete(tasks._pending_key(trio.alpha.pk))


def test_a_task_with_more_marked_leads_than_its_limit_asks_again(
    trio, template, django_capture_on_commit_callbacks, monkeypatch
):
    ingest(trio.alpha, [pricing(f"m{n}@x.fr", DAY) for n in range(5)])
    asked = []
    monkeypatch.setattr(tasks, "request_rescore", lambda org_id: asked.append(org_id))
    with tenant_context(trio.alpha.pk):
        outcome, more = pipeline.rescore_pending_leads(organization=trio.alpha, limit=3)
        assert (outcome.scored, more) == (3, True)
        marked = Lead.objects.for_org(trio.alpha).filter(rescore_requested_at__isnull=False)
        assert marked.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.rescore_pending(trio.alpha.pk) == 2
    assert asked == []  # two left, under the limit: done


# --- Explanation ------------------------------------------------------------------------


def test_contributions_explain_the_score_and_are_replaced_each_time(trio, template):
    ingest(
        trio.alpha,
        [
            event("email_click", email="zoe@gmail.com", ago=timedelta(hours=2)),
            event("email_click", email="zoe@gmail.com", ago=timedelta(hours=1)),
            *[pricing("zoe@gmail.com", ago) for ago in (3 * DAY, 2 * DAY, DAY)],
        ],
    )
    rescore(trio.alpha, ["zoe@gmail.com"])
    lead = lead_of(trio.alpha, "zoe@gmail.com")
    with tenant_context(trio.alpha.pk):
        lines = [
            (c.kind, c.label, float(c.points), c.events, c.hot)
            for c in ScoreContribution.objects.for_org(trio.alpha).filter(lead=lead)
        ]
    assert lines[0] == ("behaviour", "Pricing page 3× in 7 days", 40.0, 3, True)
    assert lines[-1] == ("fit", "Free-mail address", -10.0, 0, False)
    clicks = next(line for line in lines if line[1] == "E-mail click")
    assert clicks[3] == 2 and 5.99 < clicks[2] <= 6
    assert lead.score == 36  # 40 + ~6 (2 clicks, barely decayed) − 10

    ingest(trio.alpha, [event("email_click", email="zoe@gmail.com")])
    rescore(trio.alpha, ["zoe@gmail.com"])
    with tenant_context(trio.alpha.pk):
        contributions = ScoreContribution.objects.for_org(trio.alpha).filter(lead=lead)
        assert contributions.count() == 3
        assert contributions.get(label="E-mail click").events == 3


# --- MQL --------------------------------------------------------------------------------


def mql_events(email: str, **attrs) -> list[dict]:
    return [
        event("demo_request", email=email, ago=timedelta(hours=3), **attrs),
        *[pricing(email, ago) for ago in (2 * DAY, DAY, timedelta(hours=1))],
    ]


def test_crossing_the_threshold_makes_an_mql_routed_and_notified(trio, template):
    ingest(trio.alpha, mql_events("paul@acme.fr", first_name="Paul", country="FR"))
    outcome = rescore(trio.alpha, ["paul@acme.fr"])
    lead = lead_of(trio.alpha, "paul@acme.fr")
    assert lead.score == 100 and lead.stage == Stage.MQL
    assert outcome.mqls == [lead.pk]
    # bob is alpha's only sales rep: round-robin gives him the lead.
    assert lead.owner == trio.bob
    with tenant_context(trio.alpha.pk):
        transition = LifecycleTransition.objects.for_org(trio.alpha).get(
            lead=lead, to_stage=Stage.MQL
        )
    assert transition.by is None
    assert transition.reason.startswith("score 100 ≥ 60 (model v1)")
    [mql] = notifications(trio.alpha, kind="lead.mql")
    assert mql.recipient == trio.bob and "Paul" in mql.title
    assert mql.url == f"/o/alpha/leads/{lead.pk}/"
    [hot] = notifications(trio.alpha, kind="lead.hot")
    assert hot.recipient == trio.bob

    # Re-scoring the same state does nothing more.
    ingest(trio.alpha, [event("email_click", email="paul@acme.fr")])
    assert rescore(trio.alpha, ["paul@acme.fr"]).mqls == []
    assert len(notifications(trio.alpha)) == 2


def test_falling_under_the_threshold_does_not_demote(trio, template):
    ingest(trio.alpha, mql_events("paul@acme.fr"))
    rescore(trio.alpha, ["paul@acme.fr"])
    later = NOW + 40 * DAY  # windows closed, demo points faded
    ingest(trio.alpha, [event("email_click", email="paul@acme.fr", at=later)], now=later)
    rescore(trio.alpha, ["paul@acme.fr"], now=later)
    lead = lead_of(trio.alpha, "paul@acme.fr")
    assert lead.score < 60 and not lead.hot
    assert lead.stage == Stage.MQL


def test_the_minimum_fit_grade_blocks_the_mql(trio, template, as_org):
    with as_org(trio.alpha):
        ScoringModel.objects.for_org(trio.alpha).filter(pk=template.pk).update(min_fit_grade="C")
    ingest(trio.alpha, mql_events("nobody@gmail.com"))
    rescore(trio.alpha, ["nobody@gmail.com"])
    lead = lead_of(trio.alpha, "nobody@gmail.com")
    assert lead.score >= 60 and lead.grade == "D"
    assert lead.stage == Stage.LEAD and lead.owner is None
    assert notifications(trio.alpha, kind="lead.mql") == []
    # Hot still tells the team at once (nobody owns it: the routing managers hear it).
    [hot] = notifications(trio.alpha, kind="lead.hot")
    assert hot.recipient == trio.alice

    # The fit improves (a director in the territory at a mid-size company): now MQL.
    ingest(
        trio.alpha,
        [event("email_click", email="nobody@gmail.com", title="Director", country="FR")],
    )
    with tenant_context(trio.alpha.pk):
        Lead.objects.for_org(trio.alpha).filter(email="nobody@gmail.com").update(
            seniority="director"
        )
    rescore(trio.alpha, ["nobody@gmail.com"])
    lead = lead_of(trio.alpha, "nobody@gmail.com")
    assert lead.grade == "C" and lead.stage == Stage.MQL


def test_a_recycled_lead_must_cross_again(trio, template):
    ingest(trio.alpha, mql_events("paul@acme.fr"))
    rescore(trio.alpha, ["paul@acme.fr"])
    with tenant_context(trio.alpha.pk):
        Lead.objects.for_org(trio.alpha).filter(email="paul@acme.fr").update(stage=Stage.RECYCLED)
    ingest(trio.alpha, [event("email_click", email="paul@acme.fr")])
    rescore(trio.alpha, ["paul@acme.fr"])
    assert lead_of(trio.alpha, "paul@acme.fr").stage == Stage.RECYCLED

    # Two months later the score has faded under the threshold; new interest re-crosses.
    later = NOW + 60 * DAY
    ingest(trio.alpha, [event("email_click", email="paul@acme.fr", at=later)], now=later)
    rescore(trio.alpha, ["paul@acme.fr"], now=later)
    faded = lead_of(trio.alpha, "paul@acme.fr")
    assert faded.score < 60 and faded.stage == Stage.RECYCLED
    ingest(
        trio.alpha,
        [
            *[pricing("paul@acme.fr", timedelta(hours=h), now=later) for h in (3, 2, 1)],
            event("demo_request", email="paul@acme.fr", at=later - timedelta(hours=1)),
        ],
        now=later,
    )
    rescore(trio.alpha, ["paul@acme.fr"], now=later)
    assert lead_of(trio.alpha, "paul@acme.fr").stage == Stage.MQL


def test_hot_notifies_once_per_streak(trio, template):
    with tenant_context(trio.alpha.pk):
        Lead.objects.create(organization=trio.alpha, email="owned@x.fr", owner=trio.bob)
    ingest(trio.alpha, [pricing("owned@x.fr", ago) for ago in (3 * DAY, 2 * DAY, DAY)])
    rescore(trio.alpha, ["owned@x.fr"])
    ingest(trio.alpha, [pricing("owned@x.fr", timedelta(hours=1))])  # still hot
    rescore(trio.alpha, ["owned@x.fr"])
    assert [n.recipient for n in notifications(trio.alpha, kind="lead.hot")] == [trio.bob]

    # The window closes (not hot), then a new streak starts: a second notification.
    later = NOW + 10 * DAY
    ingest(trio.alpha, [event("email_click", email="owned@x.fr", at=later)], now=later)
    rescore(trio.alpha, ["owned@x.fr"], now=later)
    assert not lead_of(trio.alpha, "owned@x.fr").hot
    ingest(
        trio.alpha,
        [pricing("owned@x.fr", timedelta(hours=h), now=later) for h in (3, 2, 1)],
        now=later,
    )
    rescore(trio.alpha, ["owned@x.fr"], now=later)
    assert lead_of(trio.alpha, "owned@x.fr").hot
    assert len(notifications(trio.alpha, kind="lead.hot")) == 2


# --- Robustness -------------------------------------------------------------------------


def test_the_sweeper_recovers_leads_whose_task_was_lost(trio, template, eager):
    # Ingested, committed — and the on-commit task never ran (worker or Redis down).
    ingest(trio.alpha, [pricing("lost@x.fr", ago) for ago in (3 * DAY, 2 * DAY, DAY)])
    lead = lead_of(trio.alpha, "lost@x.fr")
    assert lead.rescore_requested_at is not None and not lead.hot
    # Too recent: the on-commit task may still be on its way.
    with tenant_context(trio.alpha.pk):
        assert pipeline.rescore_marked_leads(organization=trio.alpha, now=NOW).scored == 0
    with tenant_context(trio.alpha.pk):
        Lead.objects.for_org(trio.alpha).filter(pk=lead.pk).update(
            rescore_requested_at=NOW - timedelta(minutes=2)
        )
    assert tasks.sweep_marked_leads() == 1  # one organization had work
    lead = lead_of(trio.alpha, "lost@x.fr")
    assert lead.hot and lead.rescore_requested_at is None


def test_a_lead_marked_again_meanwhile_stays_marked(trio, template):
    ingest(trio.alpha, [pricing("busy@x.fr", DAY)])
    lead = lead_of(trio.alpha, "busy@x.fr")
    with tenant_context(trio.alpha.pk):
        model = ScoringModel.objects.for_org(trio.alpha).get(pk=template.pk)
        from scoring.rules import compile_model

        rules = compile_model(model)
        rows = pipeline._lock_rows(trio.alpha.pk, [lead.pk], "marked")
        results = pipeline.score_rows(trio.alpha.pk, rules, rows, NOW)
        # A new ingestion re-marks the lead between our read and our write.
        Lead.objects.for_org(trio.alpha).filter(pk=lead.pk).update(
            rescore_requested_at=NOW + timedelta(seconds=1)
        )
        pipeline._write(trio.alpha.pk, model.pk, rows, results)
    assert lead_of(trio.alpha, "busy@x.fr").rescore_requested_at == NOW + timedelta(seconds=1)


def test_unmarked_leads_are_not_rescored_by_the_task(trio, template):
    ingest(trio.alpha, [pricing("done@x.fr", ago) for ago in (3 * DAY, 2 * DAY, DAY)])
    rescore(trio.alpha, ["done@x.fr"])
    assert rescore(trio.alpha, ["done@x.fr"]).scored == 0  # a duplicate task: nothing to do


def test_an_organization_without_a_model_gets_the_starting_template(trio):
    ingest(trio.alpha, [event("demo_request", email="first@x.fr")])
    rescore(trio.alpha, ["first@x.fr"])
    with tenant_context(trio.alpha.pk):
        [model] = ScoringModel.objects.for_org(trio.alpha)
    assert (model.version, model.status, model.name) == (1, "active", "Starting template")
    lead = lead_of(trio.alpha, "first@x.fr")
    assert (lead.score, lead.hot) == (50, True)


def test_time_dependent_refresh_ends_hot_and_fades_points(trio, template, monkeypatch):
    ingest(trio.alpha, [pricing("fade@x.fr", ago) for ago in (3 * DAY, 2 * DAY, DAY)])
    ingest(trio.alpha, [event("demo_request", email="fade2@x.fr", ago=DAY)])
    rescore(trio.alpha, ["fade@x.fr", "fade2@x.fr"])
    later = NOW + 29 * DAY
    monkeypatch.setattr(pipeline.timezone, "now", lambda: later)
    with tenant_context(trio.alpha.pk):
        outcome = pipeline.refresh_scores(organization=trio.alpha, scope="decaying")
    assert outcome.scored == 2
    fade, fade2 = lead_of(trio.alpha, "fade@x.fr"), lead_of(trio.alpha, "fade2@x.fr")
    assert (fade.score, fade.hot, fade.hot_since) == (0, False, None)
    assert (fade2.score, fade2.hot) == (25, False)  # 50 points, one half-life later
