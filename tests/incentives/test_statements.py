"""Statements from the KPI layer: own/team/organization measures, forecast, freezing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation

from incentives import selectors, services
from incentives.models import Statement
from sla.selectors import Compliance
from smarketing.tenancy import permissions
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

PARIS = ZoneInfo("Europe/Paris")
NOV = date(2026, 11, 1)
IN_NOV = datetime(2026, 11, 10, 12, tzinfo=PARIS)
AFTER_NOV = datetime(2026, 12, 2, 9, tzinfo=PARIS)

pytestmark = pytest.mark.django_db


def _statements(trio, plan, day=NOV, now=AFTER_NOV):
    period = selectors.plan_period(plan, trio.alpha, day)
    return {v.user.email: v for v in selectors.statements(trio.alpha, plan, period, now=now)}


def test_own_revenue_won_times_rate(trio, as_org, sales_plan, won_deal):
    won_deal(trio.bob, "3000", IN_NOV)
    won_deal(trio.bob, "2000", IN_NOV)
    won_deal(trio.alice, "9000", IN_NOV)  # alice's deal is not bob's
    with as_org(trio.alpha):
        views = _statements(trio, sales_plan)
    assert list(views) == ["bob@alpha.test"]
    bob = views["bob@alpha.test"]
    assert bob.achievement == Decimal("5000.00")
    assert bob.payout == Decimal("500.00")
    assert not bob.final and bob.forecast is None  # a past, open period: no forecast


def test_tiers_cap_and_team_measure(trio, as_org, won_deal):
    other = UserFactory(email="rep2@alpha.test", full_name="Zoé Rep")
    MembershipFactory(organization=trio.alpha, user=other, role=Role.SALES_REP)
    won_deal(trio.bob, "60000", IN_NOV)
    won_deal(other, "60000", IN_NOV)
    with as_org(trio.alpha):
        plan = services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data={
                "name": "Team",
                "period_kind": "month",
                "basis": "revenue_won",
                "measure": "team",
                "team_role": "sales_rep",
                "tiers": [
                    {"from": "0", "rate": "0.01"},
                    {"from": "50000", "rate": "0.02"},
                    {"from": "100000", "rate": "0.03"},
                ],
                "cap": Decimal("2000"),
            },
        )
        views = _statements(trio, plan)
    # team: 120 000 → 500 + 1 000 + 600 = 2 100, capped at 2 000, for each member
    assert {v.achievement for v in views.values()} == {Decimal("120000")}
    assert {v.payout for v in views.values()} == {Decimal("2000.00")}


def test_marketers_on_the_organizations_revenue(trio, as_org, won_deal):
    marketer = UserFactory(email="mkt@alpha.test")
    MembershipFactory(organization=trio.alpha, user=marketer, role=Role.MARKETER)
    won_deal(trio.bob, "10000", IN_NOV)
    won_deal(trio.alice, "5000", IN_NOV)
    with as_org(trio.alpha):
        plan = services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data={
                "name": "Marketing",
                "period_kind": "quarter",
                "basis": "revenue_won",
                "measure": "organization",
                "rate": Decimal("0.01"),
            },
            member_ids=[marketer.pk],
        )
        views = _statements(
            trio, plan, day=date(2026, 10, 1), now=datetime(2027, 1, 5, tzinfo=PARIS)
        )
    assert views["mkt@alpha.test"].achievement == Decimal("15000.00")
    assert views["mkt@alpha.test"].payout == Decimal("150.00")


def test_sla_multiplier_from_compliance(trio, as_org, sales_plan, won_deal, monkeypatch):
    won_deal(trio.bob, "5000", IN_NOV)
    with as_org(trio.alpha):
        services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            data={
                "sla_tiers": [
                    {"from": "0", "multiplier": "0.8"},
                    {"from": "90", "multiplier": "1.0"},
                    {"from": "97", "multiplier": "1.1"},
                ]
            },
        )
        monkeypatch.setattr(
            selectors.Measurer,
            "_sla",
            lambda self, owner_id: Compliance(
                met=98, breached=2, rate=0.98, speed_to_lead_minutes=None
            ),
        )
        bob = _statements(trio, sales_plan)["bob@alpha.test"]
    assert bob.multiplier == Decimal("1.1")
    assert bob.payout == Decimal("550.00")


@time_machine.travel(datetime(2026, 12, 16, 0, 0, tzinfo=PARIS), tick=False)
def test_forecast_is_a_linear_run_rate(trio, as_org, sales_plan, won_deal):
    won_deal(trio.bob, "1000", datetime(2026, 12, 2, 10, tzinfo=PARIS))
    with as_org(trio.alpha):
        period = selectors.plan_period(sales_plan, trio.alpha)
        (bob,) = selectors.statements(trio.alpha, sales_plan, period)
    # 15 of 31 days elapsed: 1 000 × 31 / 15 = 2 066.67 → 206.67
    assert bob.forecast_achievement == Decimal("2066.67")
    assert bob.forecast.payout == Decimal("206.67")
    assert bob.payout == Decimal("100.00")


def test_closing_freezes_the_statements(trio, as_org, sales_plan, won_deal):
    won_deal(trio.bob, "5000", IN_NOV)
    with as_org(trio.alpha):
        services.period_close(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            first_day=NOV,
            now=AFTER_NOV,
        )
    won_deal(trio.bob, "7000", datetime(2026, 11, 20, tzinfo=PARIS))  # late entry
    with as_org(trio.alpha):
        bob = _statements(trio, sales_plan)["bob@alpha.test"]
        assert Statement.objects.for_org(trio.alpha).count() == 1
        with pytest.raises(services.IncentiveError) as again:
            services.period_close(
                actor=trio.alice_membership,
                organization=trio.alpha,
                plan=sales_plan,
                first_day=NOV,
                now=AFTER_NOV,
            )
    assert bob.final and bob.payout == Decimal("500.00")
    assert again.value.status == 409


def test_a_running_period_cannot_be_closed(trio, as_org, sales_plan):
    with as_org(trio.alpha), pytest.raises(services.IncentiveError):
        services.period_close(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            first_day=NOV,
            now=datetime(2026, 11, 30, 23, tzinfo=PARIS),
        )


def test_only_managers_edit_plans_and_close(trio, as_org, sales_plan):
    with as_org(trio.alpha):
        with pytest.raises(permissions.PermissionDenied):
            services.plan_save(
                actor=trio.bob_membership,
                organization=trio.alpha,
                data={"name": "Mine"},
                plan=sales_plan,
            )
        with pytest.raises(permissions.PermissionDenied):
            services.period_close(
                actor=trio.bob_membership,
                organization=trio.alpha,
                plan=sales_plan,
                first_day=NOV,
                now=AFTER_NOV,
            )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"rate": Decimal("0.1"), "tiers": [{"from": "0", "rate": "0.1"}]}, "rate"),
        ({"rate": None, "tiers": []}, "rate"),
        ({"tiers": [{"from": "10", "rate": "0.1"}], "rate": None}, "tiers"),
        ({"team_role": ""}, "members"),
        ({"sla_tiers": [{"from": "x"}]}, "sla_tiers"),
        ({"name": " "}, "name"),
    ],
)
def test_invalid_plans_are_refused_with_field_errors(trio, as_org, sales_plan, data, field):
    with as_org(trio.alpha), pytest.raises(services.IncentiveError) as error:
        services.plan_save(
            actor=trio.alice_membership, organization=trio.alpha, data=data, plan=sales_plan
        )
    assert field in error.value.fields


def test_describe_lines_reads_like_a_payslip(trio, as_org, sales_plan, won_deal):
    won_deal(trio.bob, "5000", IN_NOV)
    with as_org(trio.alpha), translation.override("en"):
        bob = _statements(trio, sales_plan)["bob@alpha.test"]
        lines = selectors.describe_lines(sales_plan, bob.lines, "EUR")
    assert lines[0]["amount"] == "5,000.00 EUR"
    assert lines[1]["detail"] == "5,000.00 EUR × 10 %"
    assert lines[-1]["total"] and lines[-1]["amount"] == "500.00 EUR"
