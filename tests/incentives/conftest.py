from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from incentives import services
from leads import services as lead_services
from leads.models import Lead
from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.services import api_key_create_for_operator

PARIS = ZoneInfo("Europe/Paris")


def _client(org, scope) -> APIClient:
    _key, secret = api_key_create_for_operator(organization=org, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api_key_client(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def won_deal(trio, as_org):
    """``won_deal(owner, amount, closed_at)``: a deal won through the leads services."""

    counter = iter(range(1, 10_000))

    def make(owner, amount, closed_at: datetime):
        with as_org(trio.alpha):
            # The KPI layer's owner segment is the lead's owner: each deal gets a lead.
            lead = Lead.objects.for_org(trio.alpha).create(
                email=f"buyer{next(counter)}@client.test", owner=owner, created_at=closed_at
            )
            deal = lead_services.deal_create(
                actor=trio.alice_membership,
                organization=trio.alpha,
                name=f"Deal {amount}",
                amount=Decimal(amount),
                owner=owner,
                lead=lead,
                created_at=closed_at,
            )
            return lead_services.deal_update(
                actor=trio.alice_membership,
                deal=deal,
                data={"status": "won", "closed_at": closed_at},
            )

    return make


@pytest.fixture
def sales_plan(trio, as_org):
    """Sales reps on their own revenue won: 10 % flat, monthly."""
    with as_org(trio.alpha):
        return services.plan_save(
            actor=trio.alice_membership,
            organization=trio.alpha,
            data={
                "name": "Sales bonus",
                "period_kind": "month",
                "basis": "revenue_won",
                "measure": "own",
                "team_role": "sales_rep",
                "rate": Decimal("0.1"),
            },
        )
