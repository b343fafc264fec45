"""The pure engine (no database): decay, caps, negatives, frequency windows, hot,
grade bands, bounds — and its properties under hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.engine import (
    BehaviourSpec,
    EventData,
    FitSpec,
    ModelRules,
    grade_for,
    qualifies,
    score_lead,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BANDS = {"A": 40, "B": 25, "C": 10}


def behaviour(rule_id=1, **kw) -> BehaviourSpec:
    base = {
        "id": rule_id,
        "label": f"rule {rule_id}",
        "event_type": "page_view",
        "match_field": "",
        "match_operator": "",
        "match_value": "",
        "mode": "per_occurrence",
        "points": 10,
        "cap": None,
        "min_count": None,
        "window_days": None,
        "marks_hot": False,
    }
    base.update(kw)
    return BehaviourSpec(**base)


def fit(rule_id=1, **kw) -> FitSpec:
    base = {
        "id": rule_id,
        "label": f"fit {rule_id}",
        "attribute": "country",
        "operator": "equals",
        "value": "fr",
        "points": 10,
    }
    base.update(kw)
    return FitSpec(**base)


def rules(fit_rules=(), behaviour_rules=(), half_life=None, bands=None) -> ModelRules:
    return ModelRules(
        id=1,
        version=1,
        fit_rules=tuple(fit_rules),
        behaviour_rules=tuple(behaviour_rules),
        grade_bands=bands or BANDS,
        decay_half_life_days=half_life,
    )


def ev(type="page_view", days=0.0, url="", **fields) -> EventData:
    return EventData(
        type=type, occurred_at=NOW - timedelta(days=days), fields={"url": url, **fields}
    )


def score(model, events=(), lead=None, company=None, now=NOW):
    return score_lead(model, lead or {}, company, list(events), now)


PRICING = behaviour(
    1,
    label="Pricing page 3× in 7 days",
    match_field="url",
    match_operator="contains",
    match_value="/tarifs",
    mode="frequency",
    points=40,
    min_count=3,
    window_days=7,
    marks_hot=True,
)


def test_three_pricing_views_in_a_week_make_the_lead_hot_from_the_third():
    model = rules(behaviour_rules=[PRICING])
    views = [ev(days=d, url="https://x.fr/tarifs") for d in (6, 3, 0.5)]
    result = score(model, views)
    assert (result.score, result.hot) == (40, True)
    assert result.hot_since == NOW - timedelta(days=0.5)  # the third, most recent view
    [line] = result.contributions
    assert (line.label, line.points, line.events, line.hot) == (PRICING.label, 40, 3, True)


def test_two_views_or_three_spread_over_a_month_are_not_enough():
    model = rules(behaviour_rules=[PRICING])
    two = score(model, [ev(days=d, url="/tarifs") for d in (2, 1)])
    spread = score(model, [ev(days=d, url="/tarifs") for d in (25, 15, 1)])
    for result in (two, spread):
        assert (result.score, result.hot, result.hot_since, result.contributions) == (
            0,
            False,
            None,
            (),
        )


def test_the_frequency_window_closes_as_time_passes():
    model = rules(behaviour_rules=[PRICING])
    views = [ev(days=d, url="/tarifs") for d in (6, 3, 0)]
    assert score(model, views, now=NOW).hot
    later = score(model, views, now=NOW + timedelta(days=1, seconds=1))
    assert (later.score, later.hot) == (0, False)


def test_decay_halves_points_at_one_half_life():
    model = rules(behaviour_rules=[behaviour(points=40)], half_life=30)
    assert score(model, [ev(days=0)]).behaviour == 40
    assert score(model, [ev(days=30)]).behaviour == 20
    assert score(model, [ev(days=60)]).behaviour == 10
    assert score(model, [ev(days=15)]).behaviour == pytest.approx(28.284, abs=0.001)
    # No decay without a half-life.
    assert score(rules(behaviour_rules=[behaviour(points=40)]), [ev(days=300)]).behaviour == 40


def test_frequency_points_do_not_decay():
    model = rules(behaviour_rules=[PRICING], half_life=1)
    assert score(model, [ev(days=d, url="/tarifs") for d in (6, 5, 4)]).behaviour == 40


def test_an_event_in_the_near_future_counts_as_now():
    model = rules(behaviour_rules=[behaviour(points=10)], half_life=10)
    assert score(model, [ev(days=-0.01)]).behaviour == 10


def test_caps_bound_a_rule_on_the_decayed_sum():
    clicks = behaviour(event_type="email_click", points=3, cap=15)
    model = rules(behaviour_rules=[clicks])
    assert score(model, [ev("email_click")] * 4).score == 12
    result = score(model, [ev("email_click")] * 9)
    assert result.score == 15
    assert result.contributions[0].events == 9
    # With decay the cap applies to the decayed sum: old clicks make room for new ones.
    decaying = rules(behaviour_rules=[clicks], half_life=7)
    old = [ev("email_click", days=14)] * 9  # 9 × 0.75 = 6.75
    assert score(decaying, old).behaviour == pytest.approx(6.75)
    assert score(decaying, old + [ev("email_click")] * 2).behaviour == pytest.approx(12.75)
    assert score(decaying, old + [ev("email_click")] * 4).behaviour == 15


def test_negatives_fit_and_behaviour_and_the_zero_floor():
    model = rules(
        fit_rules=[
            fit(
                1,
                label="Free mail",
                attribute="email",
                operator="free_email",
                value=frozenset({"gmail.com"}),
                points=-10,
            ),
            fit(
                2,
                label="Student",
                attribute="title",
                operator="contains",
                value=("étudiant", "student"),
                points=-30,
            ),
        ],
        behaviour_rules=[
            behaviour(1, event_type="demo_request", points=50),
            behaviour(2, event_type="unsubscribe", points=-20, cap=20),
        ],
        half_life=30,
    )
    lead = {"email": "Zoe@GMAIL.com", "title": "Étudiante en master"}
    result = score(model, [ev("demo_request")], lead=lead)
    assert (result.fit, result.score, result.grade) == (-40, 10, "D")
    assert [c.points for c in result.contributions] == [50, -10, -30]
    # Negative behaviour points never decay, and their cap bounds the loss.
    unsub = [ev("unsubscribe", days=400)] * 3
    assert score(model, unsub).behaviour == -20
    # Never below 0, never above 100.
    assert score(model, unsub, lead=lead).score == 0
    big = rules(fit_rules=[fit(points=90)], behaviour_rules=[behaviour(points=50)])
    assert score(big, [ev()], lead={"country": "FR"}).score == 100


def test_score_rounds_half_up_on_thousandths():
    # 10 points at 1.5 half-lives = 3.5355… → 4; 2 × 1.25 = 2.5 → 3.
    model = rules(behaviour_rules=[behaviour(points=10)], half_life=2)
    assert score(model, [ev(days=3)]).score == 4
    model = rules(behaviour_rules=[behaviour(points=5)], half_life=1)
    assert score(model, [ev(days=1), ev(days=1)]).score == 5  # 2.5 + 2.5 = 5.0
    assert score(model, [ev(days=1)]).score == 3  # 2.5 → 3 (half up)


def test_grade_bands_and_the_mql_definition():
    assert [grade_for(f, BANDS) for f in (55, 40, 39, 25, 10, 9, -30)] == list("AABBCDD")
    assert qualifies(60, "D", 60, "")
    assert not qualifies(59, "A", 60, "")
    assert qualifies(70, "B", 60, "B") and qualifies(70, "A", 60, "B")
    assert not qualifies(70, "C", 60, "B")
    assert not qualifies(70, "", 60, "C")


def test_fit_operators():
    lead = {"email": "paul@acme.fr", "title": "Head of Growth", "seniority": "vp", "country": "FR"}
    company = {"employees": 250, "industry": "Software", "country": "BE", "revenue_band": ""}
    cases = [
        (fit(attribute="country", operator="equals", value="fr"), True),
        (fit(attribute="seniority", operator="in", value=("c_level", "vp")), True),
        (fit(attribute="title", operator="contains", value=("growth",)), True),
        (fit(attribute="title", operator="starts_with", value=("head",)), True),
        (fit(attribute="title", operator="starts_with", value=("growth",)), False),
        (fit(attribute="company.employees", operator="between", value=(50, 5000)), True),
        (fit(attribute="company.employees", operator="between", value=(None, 100)), False),
        (fit(attribute="company.employees", operator="equals", value=250), True),
        (fit(attribute="company.revenue_band", operator="is_set", value=None), False),
        (fit(attribute="company.industry", operator="is_set", value=None), True),
        (fit(attribute="email", operator="email_domain_in", value=frozenset({"acme.fr"})), True),
        (fit(attribute="email", operator="free_email", value=frozenset({"gmail.com"})), False),
    ]
    for rule, expected in cases:
        assert (score(rules(fit_rules=[rule]), lead=lead, company=company).fit == 10) is expected
    # No company: company attributes never match.
    rule = fit(attribute="company.employees", operator="is_set", value=None)
    assert score(rules(fit_rules=[rule]), lead=lead, company=None).fit == 0


def test_behaviour_matches_on_url_content_level_and_properties():
    expert = behaviour(
        event_type="content_download",
        match_field="content.level",
        match_operator="equals",
        match_value="Expert",
        points=15,
    )
    plan = behaviour(
        2,
        event_type="custom:trial",
        match_field="property:plan",
        match_operator="regex",
        match_value="^(pro|enterprise)$",
        points=20,
    )
    model = rules(behaviour_rules=[expert, plan])
    events = [
        ev("content_download", **{"content.level": "expert"}),
        ev("content_download", **{"content.level": "beginner"}),
        ev("content_download"),  # no content
        ev("custom:trial", **{"property:plan": "Enterprise"}),
        ev("custom:trial", **{"property:plan": "free"}),
    ]
    assert score(model, events).behaviour == 35


def test_per_occurrence_hot_lasts_its_window():
    demo = behaviour(event_type="demo_request", points=50, marks_hot=True, window_days=14)
    model = rules(behaviour_rules=[demo], half_life=30)
    assert score(model, [ev("demo_request", days=13)]).hot
    stale = score(model, [ev("demo_request", days=15)])
    assert not stale.hot and stale.hot_since is None and stale.behaviour > 0


def test_same_inputs_same_result():
    model = rules(fit_rules=[fit()], behaviour_rules=[PRICING, behaviour(2, points=7)], half_life=9)
    events = [ev(days=d, url="/tarifs") for d in (0.3, 1.7, 2.2, 8.9)]
    assert score(model, events, lead={"country": "fr"}) == score(
        model, list(reversed(events)), lead={"country": "fr"}
    )


# --- Properties -------------------------------------------------------------------------

EVENT_TYPES = ("page_view", "email_click", "demo_request")


@st.composite
def behaviour_rules(draw, positive_only=False):
    count = draw(st.integers(1, 5))
    specs = []
    for i in range(count):
        frequency = draw(st.booleans())
        lo = 0 if positive_only or frequency else -30
        points = draw(st.integers(lo, 50).filter(lambda p: p != 0))
        hot = points > 0 and draw(st.booleans())
        specs.append(
            behaviour(
                i + 1,
                event_type=draw(st.sampled_from(EVENT_TYPES)),
                match_field=draw(st.sampled_from(["", "url"])),
                match_operator="contains",
                match_value=draw(st.sampled_from(["/a", "/b"])),
                mode="frequency" if frequency else "per_occurrence",
                points=points,
                cap=None if frequency else draw(st.one_of(st.none(), st.integers(1, 60))),
                min_count=draw(st.integers(1, 4)) if frequency else None,
                window_days=draw(st.integers(1, 30)) if frequency or hot else None,
                marks_hot=hot,
            )
        )
    return specs


events_strategy = st.lists(
    st.builds(
        ev,
        type=st.sampled_from(EVENT_TYPES),
        days=st.floats(-0.04, 90, allow_nan=False),
        url=st.sampled_from(["", "/a", "/b", "/a/b"]),
    ),
    max_size=25,
)
half_lives = st.one_of(st.none(), st.integers(1, 60))
fit_points = st.integers(-60, 60)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(behaviour_rules(), events_strategy, half_lives, fit_points)
def test_bounds_hold(brules, events, half_life, fit_pts):
    model = rules(
        fit_rules=[fit(points=fit_pts)] if fit_pts else [],
        behaviour_rules=brules,
        half_life=half_life,
    )
    result = score(model, events, lead={"country": "FR"})
    assert 0 <= result.score <= 100
    assert result.hot == (result.hot_since is not None)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    behaviour_rules(),
    events_strategy,
    st.builds(
        ev,
        type=st.sampled_from(EVENT_TYPES),
        days=st.floats(-0.04, 90, allow_nan=False),
        url=st.sampled_from(["", "/a", "/b"]),
    ),
    half_lives,
    fit_points,
)
def test_an_extra_positive_event_never_lowers_the_score(brules, events, extra, half_life, fit_pts):
    model = rules(
        fit_rules=[fit(points=fit_pts)] if fit_pts else [],
        behaviour_rules=brules,
        half_life=half_life,
    )
    from scoring.engine import behaviour_matches

    if any(r.points < 0 and behaviour_matches(r, extra) for r in brules):
        return  # that event is a negative signal, not a positive one
    before = score(model, events, lead={"country": "FR"})
    after = score(model, [*events, extra], lead={"country": "FR"})
    assert after.score >= before.score
    assert after.behaviour >= before.behaviour


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    behaviour_rules(), events_strategy, half_lives, fit_points, st.floats(0, 120, allow_nan=False)
)
def test_with_no_new_events_a_score_never_rises(brules, events, half_life, fit_pts, days):
    model = rules(
        fit_rules=[fit(points=fit_pts)] if fit_pts else [],
        behaviour_rules=brules,
        half_life=half_life,
    )
    now = score(model, events, lead={"country": "FR"})
    later = score(model, events, lead={"country": "FR"}, now=NOW + timedelta(days=days))
    assert later.score <= now.score
    assert later.behaviour <= now.behaviour
