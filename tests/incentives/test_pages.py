"""Pages: who sees what, role checks, cross-tenant 404, the CSV export."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from incentives.models import BonusPlan
from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def urls(plan, user_id):
    base = "/o/alpha/incentives/"
    return [
        base,
        f"{base}plans/new/",
        f"{base}plans/{plan.pk}/",
        f"{base}plans/{plan.pk}/edit/",
        f"{base}plans/{plan.pk}/export.csv",
        f"{base}plans/{plan.pk}/statements/{user_id}/",
    ]


def test_charlie_gets_404_everywhere(trio, client_for, sales_plan):
    client = client_for(trio.charlie)
    for url in urls(sales_plan, trio.bob.pk):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/o/alpha/incentives/plans/{sales_plan.pk}/close/").status_code == 404


def test_another_organizations_plan_is_404(trio, client_for, sales_plan):
    client = client_for(trio.charlie)
    assert client.get(f"/o/charlie/incentives/plans/{sales_plan.pk}/").status_code == 404
    assert client.get(f"/o/charlie/incentives/plans/{sales_plan.pk}/edit/").status_code == 404


def test_manager_sees_every_page(trio, client_for, sales_plan, won_deal):
    won_deal(trio.bob, "1000", datetime(2026, 11, 5, tzinfo=PARIS))
    client = client_for(trio.alice)
    for url in urls(sales_plan, trio.bob.pk):
        assert client.get(url + "?period=2026-11-01").status_code == 200, url


def test_participant_sees_own_statement_only(trio, client_for, sales_plan):
    other = UserFactory(email="rep2@alpha.test")
    MembershipFactory(organization=trio.alpha, user=other, role=Role.SALES_REP)
    client = client_for(trio.bob)
    base = f"/o/alpha/incentives/plans/{sales_plan.pk}/"
    assert client.get(f"{base}statements/{trio.bob.pk}/").status_code == 200
    assert client.get(f"{base}statements/{other.pk}/").status_code == 403
    page = client.get(base)
    assert page.status_code == 200
    assert "rep2@alpha.test" not in page.content.decode()
    assert client.get(f"{base}export.csv").status_code == 403
    assert client.get(f"{base}edit/").status_code == 403
    assert client.get("/o/alpha/incentives/plans/new/").status_code == 403
    assert client.post(f"{base}close/", {"period": "2026-11-01"}).status_code == 403
    home = client.get("/o/alpha/incentives/")
    assert "Sales bonus" in home.content.decode()


def test_non_participant_member_is_refused_the_plan(trio, client_for, sales_plan):
    viewer = UserFactory(email="viewer@alpha.test")
    MembershipFactory(organization=trio.alpha, user=viewer, role=Role.VIEWER)
    client = client_for(viewer)
    assert client.get(f"/o/alpha/incentives/plans/{sales_plan.pk}/").status_code == 403
    assert client.get("/o/alpha/incentives/").status_code == 200


def test_manager_creates_a_plan_with_tiers(trio, client_for, as_org):
    client = client_for(trio.alice)
    response = client.post(
        "/o/alpha/incentives/plans/new/",
        {
            "name": "Accelerated",
            "period_kind": "quarter",
            "basis": "revenue_won",
            "measure": "own",
            "team_role": "sales_rep",
            "tiers": "0: 0.01\n50 000: 0,02",
            "sla_tiers": "0: 0.8\n90: 1",
            "cap": "5000",
            "active": "on",
        },
    )
    assert response.status_code == 302
    with as_org(trio.alpha):
        plan = BonusPlan.objects.for_org(trio.alpha).get(name="Accelerated")
    assert plan.tiers == [{"from": "0", "rate": "0.01"}, {"from": "50000", "rate": "0.02"}]
    assert plan.sla_tiers[1] == {"from": "90", "multiplier": "1"}


def test_bad_plan_input_is_a_400_with_errors(trio, client_for):
    client = client_for(trio.alice)
    response = client.post(
        "/o/alpha/incentives/plans/new/",
        {
            "name": "X",
            "period_kind": "month",
            "basis": "revenue_won",
            "measure": "own",
            "team_role": "sales_rep",
            "tiers": "nonsense",
        },
    )
    assert response.status_code == 400
    assert "threshold" in response.content.decode()


def test_close_and_export(trio, client_for, sales_plan, won_deal):
    won_deal(trio.bob, "2500", datetime(2026, 11, 5, tzinfo=PARIS))
    client = client_for(trio.alice)
    base = f"/o/alpha/incentives/plans/{sales_plan.pk}/"
    assert client.post(f"{base}close/", {"period": "2026-11-01"}).status_code == 302
    csv = client.get(f"{base}export.csv?period=2026-11-01").content.decode()
    header, row = csv.strip().splitlines()
    assert header.startswith("email,name,plan,period_start")
    assert row.startswith("bob@alpha.test,Bob Durand,Sales bonus,2026-11-01,2026-11-30")
    assert row.endswith("2500.00,1,250.00,EUR,final")
