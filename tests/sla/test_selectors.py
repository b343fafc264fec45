"""Compliance, speed to lead, the queue's clocks in one query, marketing pacing and its
alerts to both heads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import LifecycleTransition
from sla import selectors, services
from sla.models import Clock
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

from .conftest import paris

pytestmark = pytest.mark.django_db


def _clock(org, lead, commitment, *, status, due, started=None, touched=None, owner=None):
    started = started or due - timedelta(hours=2)
    with tenant_context(org.pk):
        return Clock.objects.for_org(org).create(
            organization=org,
            lead=lead,
            commitment=commitment,
            owner=owner,
            status=status,
            started_at=started,
            warn_at=due - timedelta(minutes=30),
            due_at=due,
            touched_at=touched,
        )


@pytest.fixture
def history(trio, heads, signed, make_lead):
    """January 2026: bob met 3 (touched after 10, 20, 30 min), breached 1 (touched after
    5 h); alice breached 1 untouched; one running clock; one met in February."""
    with tenant_context(trio.alpha.pk):
        mql, demo, hot = list(signed.sales_commitments.order_by("position"))
    leads = [make_lead(stage="mql") for _ in range(7)]
    base = paris(2026, 1, 12, 9)
    for i, minutes in enumerate((10, 20, 30)):
        start = base + timedelta(days=i)
        _clock(
            trio.alpha,
            leads[i],
            mql,
            status="met",
            started=start,
            due=start + timedelta(hours=4),
            touched=start + timedelta(minutes=minutes),
            owner=trio.bob,
        )
    start = base + timedelta(days=3)
    _clock(
        trio.alpha,
        leads[3],
        demo,
        status="breached",
        started=start,
        due=start + timedelta(hours=2),
        touched=start + timedelta(hours=5),
        owner=trio.bob,
    )
    _clock(
        trio.alpha, leads[4], hot, status="breached", due=base + timedelta(days=4), owner=trio.alice
    )
    _clock(trio.alpha, leads[5], mql, status="running", due=paris(2026, 1, 30, 12), owner=trio.bob)
    _clock(
        trio.alpha,
        leads[6],
        mql,
        status="met",
        due=paris(2026, 2, 3, 12),
        touched=paris(2026, 2, 3, 11),
        owner=trio.bob,
    )
    return leads


JAN = (paris(2026, 1, 1), paris(2026, 2, 1))


def test_compliance_over_clocks_due_in_the_period(trio, history):
    with tenant_context(trio.alpha.pk):
        result = selectors.compliance(trio.alpha, start=JAN[0], end=JAN[1])
        bob = selectors.compliance(trio.alpha, start=JAN[0], end=JAN[1], owner_id=trio.bob.pk)
    assert (result.met, result.breached) == (3, 2) and result.rate == pytest.approx(0.6)
    # Median of 10, 20, 30, 300 minutes (touched clocks only).
    assert result.speed_to_lead_minutes == 25.0
    assert (bob.met, bob.breached, bob.rate) == (3, 1, 0.75)
    assert result.as_dict()["met"] == 3


def test_nothing_due_is_no_rate(trio, signed):
    with tenant_context(trio.alpha.pk):
        result = selectors.compliance(trio.alpha, start=JAN[0], end=JAN[1])
    assert result == selectors.Compliance(0, 0, None, None)


def test_compliance_by_owner_and_by_commitment(trio, history):
    with tenant_context(trio.alpha.pk):
        rows = selectors.compliance_by_owner(trio.alpha, start=JAN[0], end=JAN[1])
        per_commitment = selectors.compliance_by_commitment(trio.alpha, start=JAN[0], end=JAN[1])
    assert [(owner, c.met, c.breached) for owner, _label, c in rows] == [
        (trio.alice.pk, 0, 1),
        (trio.bob.pk, 3, 1),
    ]
    assert rows[1][1] == "Bob Durand"
    assert [(c.trigger, v.met, v.breached) for c, v in per_commitment] == [
        ("became_mql", 3, 0),
        ("event", 0, 1),
        ("became_hot", 0, 1),
    ]


def test_compliance_series_by_week_and_month(trio, history):
    with tenant_context(trio.alpha.pk):
        weeks = selectors.compliance_series(
            trio.alpha, start=paris(2026, 1, 5), end=paris(2026, 2, 9), bucket="week"
        )
        months = selectors.compliance_series(
            trio.alpha, start=JAN[0], end=paris(2026, 3, 1), bucket="month"
        )
    assert [p.start for p in weeks] == [paris(2026, 1, d) for d in (5, 12, 19, 26)] + [
        paris(2026, 2, 2)
    ]
    assert [(p.compliance.met, p.compliance.breached) for p in weeks] == [
        (0, 0),
        (3, 2),
        (0, 0),
        (0, 0),
        (1, 0),
    ]
    assert [(p.compliance.met, p.compliance.breached) for p in months] == [(3, 2), (1, 0)]
    assert months[0].compliance.speed_to_lead_minutes == 25.0


def test_clocks_for_leads_is_one_query_with_the_most_urgent_clock(trio, signed, history):
    with tenant_context(trio.alpha.pk):
        mql = signed.sales_commitments.order_by("position").first()
        lead = history[5]  # has a running clock due 30 January
        sooner = _clock(
            trio.alpha,
            lead,
            signed.sales_commitments.order_by("position")[2],
            status="warned",
            due=paris(2026, 1, 29, 12),
        )
        with CaptureQueriesContext(connection) as queries:
            found = selectors.clocks_for_leads(trio.alpha, [lead.pk for lead in history])
            # Using the commitment costs nothing more (selected with it).
            labels = [str(clock.commitment) for clock in found.values()]
    assert len(queries) == 1 and labels
    assert found[lead.pk].pk == sooner.pk
    assert found[history[4].pk].status == "breached"  # untouched breach: still shown
    assert history[0].pk not in found and history[3].pk not in found  # met / touched
    assert mql


def test_at_risk_and_breached_lists(trio, history):
    with tenant_context(trio.alpha.pk):
        risky = selectors.at_risk_clocks(trio.alpha, now=paris(2026, 1, 20))
        missed = selectors.breached_clocks(trio.alpha, start=JAN[0], end=JAN[1])
    assert [c.lead_id for c in risky] == [history[5].pk]
    assert [c.lead_id for c in missed] == [history[4].pk, history[3].pk]


# --- pacing -------------------------------------------------------------------------


def _mqls(org, leads, days):
    with tenant_context(org.pk):
        LifecycleTransition.objects.bulk_create(
            [
                LifecycleTransition(
                    organization=org, lead=lead, from_stage="lead", to_stage="mql", at=day
                )
                for lead, day in zip(leads, days, strict=True)
            ]
        )


def test_pacing_compares_actual_with_the_elapsed_share(trio, heads, signed, make_lead):
    # 120 MQLs/month: on 16 January 00:00 (15/31 of the month), 58 are expected.
    leads = [make_lead() for _ in range(40)]
    _mqls(trio.alpha, leads, [paris(2026, 1, 2 + i % 13, 10) for i in range(40)])
    with tenant_context(trio.alpha.pk):
        (mql, sql) = selectors.pacing(trio.alpha, at=paris(2026, 1, 16))
    assert (mql.metric, mql.target, mql.actual) == ("mql", 120, 40)
    assert mql.expected == pytest.approx(120 * 15 / 31)
    assert mql.status == "behind" and mql.attainment == pytest.approx(40 / 120)
    assert mql.period_start == paris(2026, 1, 1) and mql.period_end == paris(2026, 2, 1)
    assert (sql.actual, sql.status) == (0, "behind")
    assert selectors.pacing_status(58, 58.06) == "on_track"
    assert selectors.pacing_status(70, 58) == "ahead"
    assert mql.as_dict()["status"] == "behind"


def test_pacing_counts_a_segment_and_each_lead_once(trio, heads, make_lead):
    from .conftest import make_draft, sign_both

    version = make_draft(
        trio.alpha,
        trio.alice_membership,
        marketing=[{"metric": "mql", "target": 4, "period": "week", "grade": "A"}],
        sales=[],
    )
    sign_both(version, heads, at=paris(2026, 1, 1))
    a, a2, b = make_lead(grade="A"), make_lead(grade="A"), make_lead(grade="B")
    _mqls(trio.alpha, [a, a, a2, b], [paris(2026, 1, 12, 10)] * 2 + [paris(2026, 1, 13)] * 2)
    with tenant_context(trio.alpha.pk):
        (paced,) = selectors.pacing(trio.alpha, at=paris(2026, 1, 14, 12))
    assert paced.period_start == paris(2026, 1, 12) and paced.actual == 2


def test_both_heads_hear_of_a_lag_at_mid_period_and_at_the_end_once(trio, heads, signed):
    def behind():
        with tenant_context(trio.alpha.pk):
            return sorted(
                Notification.objects.for_org(trio.alpha)
                .filter(kind="marketing.behind")
                .values_list("dedupe_key", "recipient_id")
            )

    with tenant_context(trio.alpha.pk):
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 1, 10)) == 0
        # after mid-January: both commitments behind → 2 × 2 heads
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 1, 17)) == 4
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 1, 18)) == 0
        # February: January's end (missed) is told once; February's middle not yet
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 2, 2)) == 4
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 2, 3)) == 0
    keys = behind()
    assert len(keys) == 8
    assert {r for _k, r in keys} == {heads.mia.pk, heads.sam.pk}
    assert any(k.endswith(":2026-01-01:mid") for k, _r in keys)
    assert any(k.endswith(":2026-01-01:end") for k, _r in keys)


def test_no_alert_for_a_period_before_the_contract(trio, heads, draft):
    from .conftest import sign_both

    sign_both(draft, heads, at=paris(2026, 1, 20))
    with tenant_context(trio.alpha.pk):
        # January's mid-point (16th) predates the signature; its end does not.
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 1, 25)) == 0
        assert services.pacing_check(organization=trio.alpha, now=paris(2026, 2, 1, 1)) == 4
