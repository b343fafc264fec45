"""The review's fixes (issue 7): a closed plan keeps its meaning, periods are bounded,
plan figures are bounded, statements are measured in a constant number of queries
(and agree with the KPI layer per owner), the payroll CSV cannot carry formulas."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from dashboards import kpis, rollups
from incentives import selectors, services
from incentives.forms import PlanForm
from incentives.models import Statement
from leads.models import Event, Lead, LifecycleTransition
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory
from tests.incentives.conftest import PARIS

pytestmark = pytest.mark.django_db

NOV = date(2026, 11, 1)
IN_NOV = datetime(2026, 11, 10, 12, tzinfo=PARIS)
AFTER_NOV = datetime(2026, 12, 2, 9, tzinfo=PARIS)


def _close(trio, plan, first_day=NOV, now=AFTER_NOV):
    return services.period_close(
        actor=trio.alice_membership,
        organization=trio.alpha,
        plan=plan,
        first_day=first_day,
        now=now,
    )


# --- 8. a plan with a closed period keeps its period, basis and measure ------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("period_kind", "quarter"), ("basis", "sqls"), ("measure", "team")],
)
def test_a_closed_plan_refuses_changes_of_meaning(trio, as_org, sales_plan, field, value):
    with as_org(trio.alpha), translation.override("en"):
        _close(trio, sales_plan)
        with pytest.raises(services.IncentiveError) as refused:
            services.plan_save(
                actor=trio.alice_membership,
                organization=trio.alpha,
                plan=sales_plan,
                data={field: value},
            )
        assert "new plan" in refused.value.fields[field][0]
        # the rest may change (a new rate for the coming periods)
        services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            data={"rate": Decimal("0.2"), field: getattr(sales_plan, field)},
        )


def test_an_unclosed_plan_may_change_its_meaning(trio, as_org, sales_plan):
    with as_org(trio.alpha):
        plan = services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            data={"period_kind": "quarter", "basis": "sqls"},
        )
    assert (plan.period_kind, plan.basis) == ("quarter", "sqls")


def test_the_edit_page_shows_the_refusal_on_the_field(trio, as_org, client_for, sales_plan):
    with as_org(trio.alpha):
        _close(trio, sales_plan)
    response = client_for(trio.alice).post(
        f"/o/alpha/incentives/plans/{sales_plan.pk}/edit/",
        {
            "name": "Sales bonus",
            "period_kind": "quarter",
            "basis": "revenue_won",
            "measure": "own",
            "team_role": "sales_rep",
            "rate": "0.1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert "Create a new plan" in response.content.decode()


def test_statements_store_their_basis_and_measure(trio, as_org, sales_plan, won_deal):
    won_deal(trio.bob, "5000", IN_NOV)
    with as_org(trio.alpha):
        _close(trio, sales_plan)
        row = Statement.objects.for_org(trio.alpha).get()
        assert (row.basis, row.measure) == ("revenue_won", "own")
        # what a frozen statement shows is its own record, whatever the plan says now
        Statement.objects.for_org(trio.alpha).update(basis="sqls", measure="team")
        period = selectors.plan_period(sales_plan, trio.alpha, NOV)
        (view,) = selectors.statements(trio.alpha, sales_plan, period)
        with translation.override("en"):
            lines = selectors.describe_lines(
                sales_plan, view.lines, "EUR", basis=view.basis, measure=view.measure
            )
        assert (view.basis, view.measure) == ("sqls", "team")
        assert lines[0]["amount"] == "5,000"  # a count of SQLs, no currency
        # a row frozen before the columns existed: its plan's values
        Statement.objects.for_org(trio.alpha).update(basis="", measure="")
        (old,) = selectors.statements(trio.alpha, sales_plan, period)
    assert (old.basis, old.measure) == ("revenue_won", "own")


# --- 9. periods within 2000–2100 ------------------------------------------------------------


@pytest.mark.parametrize("raw", ["9999-12-15", "1999-12-31", "2101-01-01", "2026-02-30", "x"])
def test_out_of_range_periods_are_400(trio, client_for, sales_plan, raw):
    client = client_for(trio.alice)
    base = f"/o/alpha/incentives/plans/{sales_plan.pk}/"
    for url in (base, f"{base}export.csv", f"{base}statements/{trio.bob.pk}/"):
        assert client.get(url, {"period": raw}).status_code == 400, url
    api = APIClient()
    api.force_login(trio.alice)
    api.credentials(HTTP_X_ORGANIZATION="alpha")
    response = api.get("/api/v1/incentives/statements", {"period": raw})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["period"]


def test_the_bounds_themselves_are_periods(trio, client_for, sales_plan):
    client = client_for(trio.alice)
    base = f"/o/alpha/incentives/plans/{sales_plan.pk}/"
    assert client.get(base, {"period": "2000-01-01"}).status_code == 200
    assert client.get(base, {"period": "2100-12-31"}).status_code == 200


# --- 10. bounded plan figures ---------------------------------------------------------------


def _plan_data(**overrides):
    return {
        "name": "Bounded",
        "period_kind": "month",
        "basis": "revenue_won",
        "measure": "own",
        "team_role": "sales_rep",
        "rate": None,
        "tiers": [{"from": "0", "rate": "0.01"}],
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tiers": [{"from": "0", "rate": "1E+100000"}]}, "tiers"),
        ({"tiers": [{"from": "0", "rate": "NaN"}]}, "tiers"),
        ({"tiers": [{"from": "0", "rate": "Infinity"}]}, "tiers"),
        ({"tiers": [{"from": "0", "rate": "10.01"}]}, "tiers"),  # above 1000 %
        ({"tiers": [{"from": "0", "rate": "0.01"}, {"from": "1e12", "rate": "0.02"}]}, "tiers"),
        (
            {"tiers": [{"from": "0", "rate": "0.01"}, {"from": "1000000000000", "rate": "0.02"}]},
            "tiers",
        ),
        ({"tiers": [], "rate": Decimal("10.5")}, "rate"),
        ({"tiers": [], "rate": Decimal("1E+5")}, "rate"),
        ({"tiers": [], "rate": Decimal("NaN")}, "rate"),
        ({"sla_tiers": [{"from": "0", "multiplier": "1000"}]}, "sla_tiers"),
        ({"sla_tiers": [{"from": "0", "multiplier": "10.5"}]}, "sla_tiers"),
        ({"sla_tiers": [{"from": "0", "multiplier": "1.2345"}]}, "sla_tiers"),
        ({"sla_tiers": [{"from": "101", "multiplier": "1"}]}, "sla_tiers"),
        ({"cap": Decimal("1000000000000")}, "cap"),
        ({"cap": Decimal("Infinity")}, "cap"),
    ],
)
def test_plan_figures_are_bounded(trio, as_org, overrides, field):
    with as_org(trio.alpha), pytest.raises(services.IncentiveError) as refused:
        services.plan_save(
            actor=trio.alice_membership, organization=trio.alpha, data=_plan_data(**overrides)
        )
    assert field in refused.value.fields


def test_the_bounds_are_allowed(trio, as_org):
    with as_org(trio.alpha):
        services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data=_plan_data(
                tiers=[{"from": "0", "rate": "10"}, {"from": "999999999999.99", "rate": "0.5"}],
                sla_tiers=[
                    {"from": "0", "multiplier": "0.125"},
                    {"from": "100", "multiplier": "10"},
                ],
                cap=Decimal("999999999999.99"),
            ),
        )
        # per SQL, the rate is an amount: more than 10 is fine
        services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data=_plan_data(name="SQLs", basis="sqls", tiers=[], rate=Decimal("150")),
        )


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("tiers", "0: 1E+100000"),
        ("tiers", "0: NaN"),
        ("tiers", "0: Infinity"),
        ("tiers", "-5: 0.1"),
        ("sla_tiers", "0: 1e3"),
        ("rate", "1E+5"),
        ("rate", "NaN"),
    ],
)
def test_the_form_rejects_exponents_and_non_numbers(field, text):
    data = {
        "name": "X",
        "period_kind": "month",
        "basis": "revenue_won",
        "measure": "own",
        "tiers": "",
        "rate": "",
        field: text,
    }
    form = PlanForm(data)
    assert not form.is_valid()
    assert field in form.errors


def test_a_huge_tier_rate_is_a_form_error_not_a_crash(trio, client_for):
    response = client_for(trio.alice).post(
        "/o/alpha/incentives/plans/new/",
        {
            "name": "Huge",
            "period_kind": "month",
            "basis": "revenue_won",
            "measure": "own",
            "team_role": "sales_rep",
            "tiers": "0: 1E+100000",
            "sla_tiers": "0: 1000",
        },
    )
    assert response.status_code == 400


# --- 11. measured for every participant at once ------------------------------------------------


def _reps(trio, n):
    reps = [trio.bob]
    for i in range(n - 1):
        user = UserFactory(email=f"rep{i}@alpha.test", full_name=f"Rep {i:02}")
        MembershipFactory(organization=trio.alpha, user=user, role=Role.SALES_REP)
        reps.append(user)
    return reps


def _activity(trio, as_org, won_deal, reps):
    """Won deals (some marketing-touched), SQL entries (one lead twice) per rep."""
    for index, rep in enumerate(reps):
        deal = won_deal(rep, str(1000 * (index + 1)), IN_NOV)
        won_deal(rep, "250", datetime(2026, 11, 28, 15, tzinfo=PARIS))
        with as_org(trio.alpha):
            if index % 2 == 0:  # a marketing touch before the deal was created
                Event.objects.for_org(trio.alpha).create(
                    lead=deal.lead,
                    source="test",
                    external_id=f"touch-{index}",
                    type="page_view",
                    occurred_at=IN_NOV - timedelta(days=3),
                )
            for j in range(index % 3 + 1):
                lead = Lead.objects.for_org(trio.alpha).create(
                    email=f"sql{index}-{j}@client.test", owner=rep
                )
                for day in (4, 20) if j == 0 else (12,):
                    LifecycleTransition.objects.for_org(trio.alpha).create(
                        lead=lead,
                        from_stage="sal",
                        to_stage="sql",
                        at=datetime(2026, 11, day, 10, tzinfo=PARIS),
                    )


@pytest.mark.parametrize("built", [False, True], ids=["live", "rollups"])
@pytest.mark.parametrize("basis", ["revenue_won", "marketing_sourced_revenue", "sqls"])
def test_grouped_basis_equals_the_kpi_layer_per_owner(trio, as_org, won_deal, basis, built):
    reps = _reps(trio, 4)
    _activity(trio, as_org, won_deal, reps)
    with as_org(trio.alpha):
        if built:  # closed days from the daily rollups, up to 25 November; the rest live
            rollups.refresh(trio.alpha, now=datetime(2026, 11, 26, 1, tzinfo=PARIS), full=True)
        plan_period = selectors.plan_period(
            services.plan_save(
                actor=trio.alice_membership,
                organization=trio.alpha,
                data=_plan_data(basis=basis),
            ),
            trio.alpha,
            NOV,
        )
        grouped = selectors.basis_by_owner(trio.alpha, basis, plan_period, [rep.pk for rep in reps])
        period = kpis.Period(plan_period.start, plan_period.end)
        expected = {
            rep.pk: Decimal(
                getattr(kpis.compute(trio.alpha, period, kpis.Segment(owner_id=rep.pk)), basis)
            )
            for rep in reps
        }
    assert grouped == expected
    assert any(expected.values())


def test_statement_queries_do_not_grow_with_participants(
    trio, as_org, won_deal, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def measure(plan):
        with as_org(trio.alpha):
            period = selectors.plan_period(plan, trio.alpha, NOV)
            with CaptureQueriesContext(connection) as queries:
                views = selectors.statements(trio.alpha, plan, period, now=AFTER_NOV)
            return len(queries), views

    with as_org(trio.alpha):
        plan = services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data=_plan_data(
                sla_tiers=[{"from": "0", "multiplier": "0.8"}, {"from": "90", "multiplier": "1"}]
            ),
        )
    won_deal(trio.bob, "1000", IN_NOV)
    one, views = measure(plan)
    assert len(views) == 1
    reps = _reps(trio, 11)
    for rep in reps[1:]:
        won_deal(rep, "1000", IN_NOV)
    eleven, views = measure(plan)
    assert len(views) == 11
    assert {v.achievement for v in views} == {Decimal("1000.00")}
    assert eleven == one
    with as_org(trio.alpha), django_assert_max_num_queries(one):
        period = selectors.plan_period(plan, trio.alpha, NOV)
        selectors.statements(trio.alpha, plan, period, now=AFTER_NOV)


def test_the_plan_page_queries_do_not_grow_with_participants(
    trio, client_for, won_deal, as_org, django_assert_max_num_queries
):
    with as_org(trio.alpha):
        plan = services.plan_save(
            actor=trio.alice_membership, organization=trio.alpha, data=_plan_data()
        )
    client = client_for(trio.alice)
    url = f"/o/alpha/incentives/plans/{plan.pk}/?period=2026-11-01"
    won_deal(trio.bob, "1000", IN_NOV)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        assert client.get(url).status_code == 200
    _reps(trio, 11)
    with django_assert_max_num_queries(len(first)):
        assert client.get(url).status_code == 200


# --- 12. no formula in the payroll CSV ------------------------------------------------------


def test_csv_cells_cannot_start_a_formula(trio, as_org, client_for, sales_plan):
    evil = UserFactory(email="evil@alpha.test", full_name='=HYPERLINK("http://x.test","pay")')
    MembershipFactory(organization=trio.alpha, user=evil, role=Role.SALES_REP)
    with as_org(trio.alpha):
        services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            plan=sales_plan,
            data={"name": "+1 bonus"},
        )
    csv = (
        client_for(trio.alice)
        .get(f"/o/alpha/incentives/plans/{sales_plan.pk}/export.csv?period=2026-11-01")
        .content.decode()
    )
    rows = {line.split(",")[0]: line for line in csv.strip().splitlines()[1:]}
    assert "'=HYPERLINK(" in rows["evil@alpha.test"]
    assert ",'+1 bonus," in rows["evil@alpha.test"]
    assert rows["bob@alpha.test"].startswith("bob@alpha.test,Bob Durand,'+1 bonus,")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start):
    from incentives.views import _cell

    assert _cell(f"{start}1+1") == f"'{start}1+1"
    assert _cell("plain") == "plain"
