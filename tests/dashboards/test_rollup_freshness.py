"""Rollups follow changes to days already built (issue 6 review): backdated or edited
deals, decisions and transitions, late events, a change of time zone or layout; and
segments always read current values."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dashboards import kpis, rollups
from dashboards.models import RollupState
from leads import signals as leads_signals
from leads.models import Deal, Decision, Event, Lead, LifecycleTransition, Stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(trio, as_org, django_capture_on_commit_callbacks):
    org = trio.alpha
    now = timezone.now()
    with as_org(org):
        with django_capture_on_commit_callbacks(execute=True):
            lead = Lead.objects.create(
                organization=org,
                email="x@x.test",
                created_at=now - timedelta(days=10),
                owner=trio.bob,
            )
        rollups.refresh(org, full=True)
        today = kpis.local_today(org)
        period = kpis.period_from_dates(org, today - timedelta(days=7), today)
        yield org, lead, period, now


def _live(org, period, segment=kpis.ALL_LEADS):
    return rollups.live(org, period.start, period.end, segment, rollups.Counts())


def _state(org):
    return RollupState.objects.for_org(org).get()


def test_backdated_won_deal_is_read_live_then_rebuilt(built, django_capture_on_commit_callbacks):
    org, lead, period, now = built
    assert kpis.compute(org, period).revenue_won == Decimal("0.00")
    with django_capture_on_commit_callbacks(execute=True):
        Deal.objects.create(
            organization=org,
            name="d",
            amount=Decimal("1000"),
            status="won",
            lead=lead,
            created_at=now - timedelta(days=4),
            closed_at=now - timedelta(days=3),
        )
    assert _state(org).dirty_from == kpis.local_today(org, now=now - timedelta(days=4))
    assert kpis.compute(org, period).revenue_won == Decimal("1000.00")
    assert kpis.compute(org, period).revenue_won == _live(org, period).amount("deals_won")
    rollups.refresh(org)
    state = _state(org)
    assert state.dirty_from is None
    assert rollups.rollup_days(org, period) is not None
    assert kpis.compute(org, period).revenue_won == Decimal("1000.00")


def test_deal_edits_and_deletion_mark_the_old_and_new_days(
    built, django_capture_on_commit_callbacks
):
    org, lead, period, now = built
    with django_capture_on_commit_callbacks(execute=True):
        deal = Deal.objects.create(
            organization=org,
            name="d",
            amount=Decimal("500"),
            status="won",
            lead=lead,
            created_at=now - timedelta(days=5),
            closed_at=now - timedelta(days=2),
        )
    rollups.refresh(org, full=True)
    assert kpis.compute(org, period).revenue_won == Decimal("500.00")
    deal = Deal.objects.for_org(org).get(pk=deal.pk)
    with django_capture_on_commit_callbacks(execute=True):
        deal.amount = Decimal("700")
        deal.save()
    assert kpis.compute(org, period).revenue_won == Decimal("700.00")
    rollups.refresh(org)
    with django_capture_on_commit_callbacks(execute=True):
        deal.status = Deal.Status.LOST
        deal.save()
    assert kpis.compute(org, period).revenue_won == Decimal("0.00")
    rollups.refresh(org)
    with django_capture_on_commit_callbacks(execute=True):
        deal.status = Deal.Status.WON
        deal.save()
    rollups.refresh(org)
    assert kpis.compute(org, period).deals_won == 1
    with django_capture_on_commit_callbacks(execute=True):
        # Moved to a day before the period: the old day (inside) is marked too.
        deal.closed_at = now - timedelta(days=30)
        deal.save()
    assert kpis.compute(org, period).deals_won == 0
    rollups.refresh(org)
    with django_capture_on_commit_callbacks(execute=True):
        deal.closed_at = now - timedelta(days=2)
        deal.save()
    rollups.refresh(org)
    assert kpis.compute(org, period).deals_won == 1
    with django_capture_on_commit_callbacks(execute=True):
        Deal.objects.for_org(org).get(pk=deal.pk).delete()
    assert kpis.compute(org, period).deals_won == 0


def test_backdated_transition_and_decision(built, django_capture_on_commit_callbacks):
    org, lead, period, now = built
    with django_capture_on_commit_callbacks(execute=True):
        LifecycleTransition.objects.create(
            organization=org,
            lead=lead,
            from_stage="lead",
            to_stage="mql",
            at=now - timedelta(days=3),
        )
        Decision.objects.create(
            organization=org, lead=lead, kind=Decision.Kind.ACCEPT, at=now - timedelta(days=2)
        )
    got = kpis.compute(org, period)
    assert (got.mqls, got.accepted) == (1, 1)
    rollups.refresh(org)
    got = kpis.compute(org, period)
    assert (got.mqls, got.accepted) == (1, 1)


def test_late_event_changes_the_marketing_touch(built, django_capture_on_commit_callbacks):
    org, lead, period, now = built
    with django_capture_on_commit_callbacks(execute=True):
        Deal.objects.create(
            organization=org,
            name="d",
            amount=Decimal("300"),
            status="won",
            lead=lead,
            created_at=now - timedelta(days=4),
            closed_at=now - timedelta(days=2),
        )
    rollups.refresh(org, full=True)
    assert kpis.compute(org, period).marketing_sourced_revenue == Decimal("0.00")
    at = now - timedelta(days=6)
    with django_capture_on_commit_callbacks(execute=True):
        Event.objects.create(
            organization=org, lead=lead, type="page_view", occurred_at=at, external_id="late-1"
        )
        leads_signals.events_ingested.send(
            sender=Event,
            organization=org,
            events=[(lead.pk, "page_view", at)],
            lead_ids=[lead.pk],
            at=now,
        )
    assert kpis.compute(org, period).marketing_sourced_revenue == Decimal("300.00")


def test_one_mark_per_transaction(built, django_capture_on_commit_callbacks):
    org, lead, _period, now = built
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for days in (3, 5, 2):
            Decision.objects.create(
                organization=org,
                lead=lead,
                kind=Decision.Kind.ACCEPT,
                at=now - timedelta(days=days),
            )
        # Today's rows are live anyway: no mark.
        Decision.objects.create(organization=org, lead=lead, kind=Decision.Kind.ACCEPT, at=now)
    assert len(callbacks) == 1
    callbacks[0]()
    assert _state(org).dirty_from == kpis.local_today(org, now=now - timedelta(days=5))


def test_todays_changes_mark_nothing(built, django_capture_on_commit_callbacks):
    org, lead, _period, now = built
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Deal.objects.create(organization=org, name="d", amount=1, lead=lead, created_at=now)
    assert callbacks == []


def test_a_time_zone_change_rebuilds_and_is_not_read(built):
    org, _lead, period, _now = built
    assert rollups.rollup_days(org, period) is not None
    org.time_zone = "America/New_York"
    org.save(update_fields=["time_zone"])
    period = kpis.period_from_dates(org, period.first_day, period.last_day)
    assert rollups.rollup_days(org, period) is None
    assert rollups.refresh(org) is not None  # a full rebuild
    assert _state(org).time_zone == "America/New_York"
    assert rollups.rollup_days(org, period) is not None


def test_another_layout_is_not_read(built):
    org, _lead, period, _now = built
    RollupState.objects.for_org(org).update(version=rollups.VERSION - 1)
    assert rollups.rollup_days(org, period) is None
    assert rollups.refresh(org) is not None
    assert rollups.rollup_days(org, period) is not None


def test_owner_segment_reads_the_current_owner(trio, built):
    org, lead, period, now = built
    LifecycleTransition.objects.create(
        organization=org, lead=lead, from_stage="lead", to_stage="mql", at=now - timedelta(days=3)
    )
    rollups.refresh(org, full=True)
    Lead.objects.for_org(org).filter(pk=lead.pk).update(owner=trio.alice, grade="A")
    for segment in (kpis.Segment(owner_id=trio.alice.pk), kpis.Segment(grade="A")):
        assert kpis.compute(org, period, segment).mqls == 1
    assert kpis.compute(org, period, kpis.Segment(owner_id=trio.bob.pk)).mqls == 0


def test_cohort_counts_a_jump_past_sql(built):
    org, lead, period, now = built
    LifecycleTransition.objects.create(
        organization=org, lead=lead, from_stage="lead", to_stage="mql", at=now - timedelta(days=3)
    )
    LifecycleTransition.objects.create(
        organization=org,
        lead=lead,
        from_stage="mql",
        to_stage=Stage.OPPORTUNITY,
        at=now - timedelta(days=2),
    )
    cohort = kpis.mql_cohort(org, period)
    assert (cohort.size, cohort.reached_sql) == (1, 1)


def test_w_shaped_ignores_an_mql_after_the_deal(built):
    """The MQL touch of a deal is an MQL entry before the deal was created: a lead that
    became MQL only afterwards is weighted as if it had none (issue 6 review)."""
    from dashboards import attribution
    from leads.models import Campaign

    org, lead, period, now = built
    campaigns = [
        Campaign.objects.create(organization=org, key=f"c{i}", name=f"C{i}") for i in range(4)
    ]
    for i, campaign in enumerate(campaigns):
        Event.objects.create(
            organization=org,
            lead=lead,
            type="page_view",
            occurred_at=now - timedelta(days=6, hours=4 - i),
            campaign=campaign,
            external_id=f"w{i}",
        )
    Deal.objects.create(
        organization=org,
        name="d",
        amount=Decimal("1000"),
        status="won",
        lead=lead,
        created_at=now - timedelta(days=5),
        closed_at=now - timedelta(days=1),
    )
    LifecycleTransition.objects.create(
        organization=org, lead=lead, from_stage="lead", to_stage="mql", at=now - timedelta(days=3)
    )
    rows = {
        row.id: row.revenue
        for row in attribution.attribute(org, period, model="w_shaped", by="campaign")
    }
    # No MQL before the deal: the middle touch (index 1 of 4) takes the MQL share, as
    # with no MQL at all; an MQL after the deal must not move it to the last touch.
    assert rows[campaigns[0].pk] == rows[campaigns[1].pk] == rows[campaigns[3].pk]
    assert rows[campaigns[2].pk] < rows[campaigns[0].pk]


def test_a_closed_periods_spend_is_stable_for_a_campaign_with_an_end(trio, as_org):
    """A campaign with an end date spreads its spend over a fixed span: a closed
    period's spend is the same whatever the day it is read (issue 6 review)."""
    from datetime import date

    import time_machine

    from leads.models import Campaign

    org = trio.alpha
    with as_org(org):
        Campaign.objects.create(
            organization=org,
            key="fixed",
            name="Fixed",
            spend=Decimal("3000"),
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 3, 31),
        )
        january = kpis.month_of(org, date(2026, 1, 15))
        seen = set()
        for day in ("2026-02-01", "2026-03-15", "2026-06-01"):
            with time_machine.travel(f"{day}T12:00:00Z", tick=False):
                seen.add(kpis.spend(org, january))
        assert seen == {Decimal("1033.33")}  # 3000 x 31 / 90
