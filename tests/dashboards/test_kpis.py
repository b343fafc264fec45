"""Every KPI against the hand-computed world of conftest.py (Europe/Paris, the week of
the spring DST change), live and from the rollups."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from dashboards import kpis, rollups
from dashboards.kpis import Period, Segment, period_from_dates
from dashboards.models import DailyKpi, RollupState
from smarketing.tenancy.db import tenant_context

from .conftest import utc

pytestmark = pytest.mark.django_db

AFTER = utc(2026, 4, 10, 12)  # well after the week: every day is closed


def week(world) -> Period:
    return period_from_dates(world.org, world.week_first, world.week_last)


# --- Periods ------------------------------------------------------------------------


def test_period_edges_are_paris_midnights_across_dst(trio):
    p = period_from_dates(trio.alpha, date(2026, 3, 23), date(2026, 3, 29))
    assert p.start == utc(2026, 3, 22, 23) and p.end == utc(2026, 3, 29, 22)
    assert (p.end.timestamp() - p.start.timestamp()) / 3600 == 167
    assert p.days == 7 and p.kind == "week" and p.is_whole_days
    previous = p.previous()
    assert previous.start == utc(2026, 3, 15, 23) and previous.end == p.start
    assert previous.days == 7
    autumn = kpis.week_of(trio.alpha, date(2026, 10, 25))  # Sunday: CEST → CET
    assert (autumn.end.timestamp() - autumn.start.timestamp()) / 3600 == 169
    march = kpis.month_of(trio.alpha, date(2026, 3, 10))
    assert march.kind == "month" and march.days == 31
    assert march.previous() == kpis.month_of(trio.alpha, date(2026, 2, 1))
    assert kpis.month_of(trio.alpha, date(2026, 2, 1)).days == 28
    custom = period_from_dates(trio.alpha, date(2026, 3, 1), date(2026, 3, 10))
    assert custom.kind == "custom" and custom.previous().days == 10
    with pytest.raises(ValueError):
        period_from_dates(trio.alpha, date(2026, 3, 2), date(2026, 3, 1))


def test_not_whole_days_previous_is_same_duration():
    p = Period(utc(2026, 3, 1, 10), utc(2026, 3, 1, 12))
    assert not p.is_whole_days
    assert p.previous() == Period(utc(2026, 3, 1, 8), utc(2026, 3, 1, 10))


# --- compute() ----------------------------------------------------------------------

EXPECTED = {
    "new_leads": 3,  # L1, L2 (23:30 on the 29th), L5 (00:00 on the 23rd)
    "mqls": 4,  # L1 (twice: once), L5, L4 (23:59 on the 29th), L6 (28th and 29th: once)
    "sals": 2,
    "sqls": 1,
    "accepted": 2,
    "rejected": 1,  # L4's rejection is at 00:01 on the 30th
    "acceptance_rate": 0.6667,
    "rejection_reasons": [["no_budget", "No budget", 1]],
    "pipeline_created": "1500.00",  # D1 + D2
    "deals_created": 2,
    "revenue_won": "1300.00",  # D1 + D3 (won 23:00 on the 29th)
    "deals_won": 2,
    "marketing_sourced_revenue": "1000.00",  # D1; D3 has no lead
    "marketing_sourced_share": 0.7692,
    "new_customers": 1,
    "spend": "700.00",
    "cac": "700.00",
    "speed_to_lead_minutes": 120.0,  # L1 180 min, L5 60 min; L4 touched on the 30th
    "currency": "EUR",
}


def _check(data: dict, expected: dict) -> None:
    for name, value in expected.items():
        assert data[name] == value, name


@time_machine.travel(AFTER, tick=False)
def test_compute_live(world):
    with tenant_context(world.org.pk):
        data = kpis.compute(world.org, week(world)).as_dict()
    _check(data, EXPECTED)
    assert data["mql_cohort"] == {"size": 4, "reached_sql": 1, "rate": 0.25, "age_days": 11}
    assert data["sla"] == {"met": 0, "breached": 0, "rate": None, "speed_to_lead_minutes": None}
    assert data["commitments"] == []


@time_machine.travel(AFTER, tick=False)
def test_compute_from_rollups_equals_live(world):
    with tenant_context(world.org.pk):
        live = {p: kpis.compute(world.org, p).as_dict() for p in _periods(world)}
        assert rollups.refresh(world.org) is not None
        assert RollupState.objects.for_org(world.org).get().built_through == date(2026, 4, 9)
        assert DailyKpi.objects.for_org(world.org).exists()
        for p, expected in live.items():
            assert kpis.compute(world.org, p).as_dict() == expected, p
        _check(kpis.compute(world.org, week(world)).as_dict(), EXPECTED)
        # Idempotent: building again writes the same rows.
        before = sorted(
            DailyKpi.objects.for_org(world.org).values_list("day", "metric", "count", "amount")
        )
        rollups.refresh(world.org, full=True)
        after = sorted(
            DailyKpi.objects.for_org(world.org).values_list("day", "metric", "count", "amount")
        )
        assert before == after


def _periods(world):
    org = world.org
    return [
        week(world),
        period_from_dates(org, date(2026, 3, 25), date(2026, 3, 29)),  # L1's re-entry only
        period_from_dates(org, date(2026, 3, 29), date(2026, 3, 29)),  # the DST day, 23 h
        period_from_dates(org, date(2026, 3, 1), date(2026, 4, 15)),  # ends after today
        kpis.month_of(org, date(2026, 3, 1)),
    ]


def test_today_is_live_and_a_lead_counts_once_across_the_edge(world):
    """At 23:45 on the 29th the rollups hold up to the 28th; the 29th is live; L6's MQL
    of the 28th (rollup) and of the 29th (live) count once."""
    moment = utc(2026, 3, 29, 21, 45)
    with time_machine.travel(moment, tick=False), tenant_context(world.org.pk):
        rollups.refresh(world.org)
        state = RollupState.objects.for_org(world.org).get()
        assert state.built_through == date(2026, 3, 28)
        data = kpis.compute(world.org, week(world)).as_dict()
    assert data["mqls"] == 4 and data["new_leads"] == 3 and data["revenue_won"] == "1300.00"


@time_machine.travel(AFTER, tick=False)
@pytest.mark.parametrize("built", [False, True])
def test_segments(world, built):
    org = world.org
    with tenant_context(org.pk):
        if built:
            rollups.refresh(org)
        p = week(world)
        website = kpis.compute(org, p, Segment(source="website")).as_dict()
        assert (website["new_leads"], website["mqls"], website["sals"]) == (2, 3, 2)
        assert website["revenue_won"] == "1000.00" and website["spend"] is None
        bob = kpis.compute(org, p, Segment(owner_id=world.trio.bob.pk)).as_dict()
        assert (bob["new_leads"], bob["mqls"], bob["accepted"], bob["rejected"]) == (2, 2, 2, 1)
        c1 = kpis.compute(org, p, Segment(campaign_id=world.c1.pk)).as_dict()
        assert (c1["new_leads"], c1["new_customers"], c1["spend"], c1["cac"]) == (
            2,
            1,
            "700.00",
            "700.00",
        )
        grade_b = kpis.compute(org, p, Segment(grade="B")).as_dict()
        assert (grade_b["new_leads"], grade_b["mqls"], grade_b["revenue_won"]) == (1, 0, "0.00")


@time_machine.travel(AFTER, tick=False)
def test_report_previous_targets_deltas(world):
    from dashboards import services

    org = world.org
    alice = world.trio.alice_membership
    with tenant_context(org.pk):
        services.target_set(actor=alice, kpi="mqls", period_kind="week", value="10")
        services.target_set(actor=alice, kpi="mqls", period_kind="month", value="31")
        services.target_set(actor=alice, kpi="acceptance_rate", period_kind="month", value="0.5")
        services.target_set(
            actor=alice, kpi="speed_to_lead_minutes", period_kind="week", value="60"
        )
        data = kpis.report(org, week(world))
        custom = kpis.report(org, period_from_dates(org, date(2026, 3, 1), date(2026, 3, 10)))
        # 28 February … 5 March: 1/28 of February's target and 5/31 of March's.
        across = kpis.report(org, period_from_dates(org, date(2026, 2, 28), date(2026, 3, 5)))
    assert data["period"]["kind"] == "week"
    assert data["previous_period"]["from"] == "2026-03-16"
    assert data["previous_period"]["to"] == "2026-03-23"
    assert data["current"]["mqls"] == 4 and data["previous"]["mqls"] == 0
    assert data["targets"] == {
        "mqls": "10.00",
        "acceptance_rate": "0.5",
        "speed_to_lead_minutes": "60",
    }
    assert data["deltas"]["mqls"]["change"] == 4.0 and data["deltas"]["mqls"]["ratio"] is None
    assert data["deltas"]["acceptance_rate"] is None  # nothing decided the week before
    assert custom["targets"]["mqls"] == "10.00"  # 31 a month, prorated to 10 days
    assert across["targets"]["mqls"] == "6.11"  # 31 x (1/28 + 5/31), not 31 x 6/28


# --- Funnel -------------------------------------------------------------------------


@time_machine.travel(AFTER, tick=False)
def test_funnel(world):
    with tenant_context(world.org.pk):
        stages = kpis.funnel(world.org, week(world))
        by_source = kpis.funnel(world.org, week(world), by="source")
    got = {s.stage: (s.entered, s.moved_on, s.dropped, s.conversion) for s in stages}
    assert got == {
        "lead": (3, 2, 1, 0.6667),
        "mql": (4, 2, 2, 0.5),
        "sal": (2, 1, 1, 0.5),
        "sql": (1, 1, 0, 1.0),
        "opportunity": (1, 1, 0, 1.0),
        "customer": (1, 0, 0, None),
    }
    medians = {s.stage: s.median_days for s in stages}
    # lead: L1 1 h, L5 34 h → 17.5 h; mql: L1 3 h, L5 1 h, L4 2 min, L6 1 h → 1 h.
    assert medians["lead"] == round(17.5 / 24, 1) and medians["mql"] == 0.0
    assert medians["sal"] == 1.0  # L1: 25th 11:00 → 26th 10:00 = 23 h; L5 never left
    leak = kpis.biggest_leak(stages)
    assert leak.stage == "mql"  # 50 %, two lost (SAL: 50 %, one lost)
    groups = {(s.group, s.stage): s.entered for s in by_source}
    assert groups[("website", "mql")] == 3 and groups[("email", "mql")] == 1
    assert {s.group_label for s in by_source} == {"Website", "E-mail"}


# --- Attribution --------------------------------------------------------------------


def _decay(*ages_hours):
    raw = [0.5 ** ((h / 24) / 7) for h in ages_hours]
    return [w / sum(raw) for w in raw]


@time_machine.travel(AFTER, tick=False)
@pytest.mark.parametrize(
    "model,expected",
    [
        ("first_touch", {"k1": 1000, "k2": 0, "k3": 0}),
        ("last_touch", {"k1": 0, "k2": 1000, "k3": 0}),
        ("linear", {"k1": 250, "k2": 500, "k3": 250}),
        ("u_shaped", {"k1": 400, "k2": 500, "k3": 100}),
        ("w_shaped", {"k1": 450, "k2": 500, "k3": 50}),
        ("time_decay", None),
    ],
)
def test_attribution_by_content(world, model, expected):
    # D1's content touches, oldest first: K1 (20th 10:00), K2 (24th), K3 (25th), K2 (26th
    # 11:00); the unsubscription and the touch after the deal's creation do not count.
    if expected is None:
        w = _decay(146, 50, 27, 1)
        expected = {"k1": 1000 * w[0], "k2": 1000 * (w[1] + w[3]), "k3": 1000 * w[2]}
    with tenant_context(world.org.pk):
        rows = kpis.attribution(world.org, week(world), model=model)
    got = {row.key: row.revenue for row in rows}
    for key, value in expected.items():
        assert got.get(key, Decimal("0.00")) == Decimal(value).quantize(Decimal("0.01")), key
    assert got[""] == Decimal("300.00")  # D3: no lead, no touch
    assert abs(sum(got.values()) - Decimal("1300")) <= Decimal("0.02")
    assert rows[-1].key == ""


@time_machine.travel(AFTER, tick=False)
def test_attribution_by_campaign_with_spend(world):
    with tenant_context(world.org.pk):
        rows = kpis.attribution(world.org, week(world), model="linear", by="campaign")
    c1 = rows[0]
    assert (c1.key, c1.revenue, c1.spend, c1.cac, c1.roi) == (
        "c1",
        Decimal("1000.00"),
        Decimal("700.00"),
        Decimal("700.00"),
        1.43,
    )
    assert c1.deals == 1 and c1.touches == 2


def test_attribution_refuses_unknown_model(world):
    with pytest.raises(ValueError), tenant_context(world.org.pk):
        kpis.attribution(world.org, week(world), model="magic")


# --- Hot leads, tenancy, query counts -----------------------------------------------


def test_hot_leads_newest_hot_first(world):
    from leads.models import Lead

    org = world.org
    with tenant_context(org.pk):
        l1, l2 = world.leads[0], world.leads[1]
        Lead.objects.for_org(org).filter(pk=l1.pk).update(hot=True, hot_since=utc(2026, 3, 1))
        Lead.objects.for_org(org).filter(pk=l2.pk).update(hot=True, hot_since=utc(2026, 3, 2))
        assert [lead.pk for lead in kpis.hot_leads(org)] == [l2.pk, l1.pk]
        assert kpis.hot_leads(org, limit=1)[0].pk == l2.pk


@time_machine.travel(AFTER, tick=False)
def test_other_organization_sees_nothing(world):
    charlie = world.trio.charlie_org
    with tenant_context(charlie.pk):
        data = kpis.compute(
            charlie, period_from_dates(charlie, date(2026, 3, 23), date(2026, 3, 29))
        )
    assert (data.new_leads, data.mqls, data.revenue_won, data.deals_won) == (0, 0, 0, 0)


@time_machine.travel(AFTER, tick=False)
def test_query_counts_are_bounded(world, django_assert_max_num_queries):
    org = world.org
    with tenant_context(org.pk):
        rollups.refresh(org)
        p = week(world)
        with django_assert_max_num_queries(30):
            kpis.report(org, p)
        with django_assert_max_num_queries(7):
            kpis.funnel(org, p, by="campaign")
        with django_assert_max_num_queries(6):
            kpis.attribution(org, p, model="w_shaped", by="campaign")


def test_rollup_refresh_without_data_marks_days_built(trio):
    org = trio.alpha
    with tenant_context(org.pk):
        assert rollups.refresh(org, now=utc(2026, 3, 29, 12)) == (
            date(2026, 3, 28),
            date(2026, 3, 28),
        )
        assert rollups.refresh(org, now=utc(2026, 3, 29, 13)) is None
        assert rollups.refresh(org, now=utc(2026, 3, 30, 8)) == (
            date(2026, 3, 29),
            date(2026, 3, 29),
        )
        nightly = rollups.refresh(org, now=utc(2026, 3, 30, 9), days=5)
        assert nightly == (date(2026, 3, 25), date(2026, 3, 29))
        assert date(2026, 3, 29) - timedelta(days=4) == nightly[0]


@time_machine.travel(AFTER, tick=False)
def test_results_are_reused_briefly_when_the_cache_is_on(
    world, settings, django_assert_num_queries
):
    from django.core.cache import cache

    cache.clear()
    settings.DASHBOARDS_KPI_CACHE_SECONDS = 20
    settings.DASHBOARDS_KPI_CACHE_CLOSED_SECONDS = 300
    org = world.org
    with tenant_context(org.pk):
        first = kpis.compute(org, week(world))
        stages = kpis.funnel(org, week(world))
        with django_assert_num_queries(0):
            assert kpis.compute(org, week(world)).as_dict() == first.as_dict()
            assert kpis.funnel(org, week(world)) == stages
        assert kpis.compute(org, week(world), Segment(grade="B")).new_leads == 1
    cache.clear()


@time_machine.travel(AFTER, tick=False)
@pytest.mark.parametrize("by", ["", "source", "campaign"])
@pytest.mark.parametrize("segment", [Segment(), Segment(source="website"), Segment(grade="A")])
def test_funnel_sql_equals_the_portable_path(world, by, segment):
    from dashboards import funnel

    org = world.org
    for p in _periods(world):
        with tenant_context(org.pk):
            sql = funnel._stats_sql(org, p, segment, by)
            portable = funnel._stats_python(org, p, segment, by)
        assert _rounded(sql) == _rounded(portable), (p, by, segment)


def _rounded(stats):
    return {
        (group, str(stage)): (entered, moved, None if days is None else round(days, 6))
        for (group, stage), (entered, moved, days) in stats.items()
    }
