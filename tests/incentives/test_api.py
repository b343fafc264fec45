"""``GET /api/v1/incentives/statements``: own for participants, all for managers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from smarketing.tenancy.permissions import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
URL = "/api/v1/incentives/statements"


def session(user, org="alpha") -> APIClient:
    client = APIClient()
    client.force_login(user)
    client.credentials(HTTP_X_ORGANIZATION=org)
    return client


def test_manager_gets_all_and_participant_own(trio, sales_plan, won_deal):
    other = UserFactory(email="rep2@alpha.test")
    MembershipFactory(organization=trio.alpha, user=other, role=Role.SALES_REP)
    won_deal(trio.bob, "4000", datetime(2026, 11, 5, tzinfo=PARIS))
    everyone = session(trio.alice).get(URL, {"period": "2026-11-15"}).json()["results"]
    assert {s["user_email"] for s in everyone} == {"bob@alpha.test", "rep2@alpha.test"}
    mine = session(trio.bob).get(URL, {"period": "2026-11-15"}).json()["results"]
    assert [s["user_email"] for s in mine] == ["bob@alpha.test"]
    assert mine[0]["payout"] == "400.00"
    assert mine[0]["status"] == "provisional"
    assert [line["code"] for line in mine[0]["lines"]] == [
        "achievement",
        "rate",
        "subtotal",
        "payout",
    ]


def test_api_keys_are_refused(api_key_client, sales_plan):
    assert api_key_client.get(URL).status_code == 403


def test_cross_tenant_plan_is_404(trio, sales_plan):
    response = session(trio.charlie, "charlie").get(URL, {"plan": sales_plan.pk})
    assert response.status_code == 404
    assert session(trio.charlie, "alpha").get(URL).status_code == 404


def test_bad_period_is_400(trio, sales_plan):
    response = session(trio.alice).get(URL, {"period": "2026-13-40"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["period"]
