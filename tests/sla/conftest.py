"""Fixtures of the sla tests: both heads in alpha, a signed contract, leads, and a
fixed "now" (a Friday, 17:30 in Paris — the issue's example).

sla-ui: ``heads``, ``signed`` (alpha's active v1), ``draft`` (an unsigned draft with
commitments), ``make_lead`` and ``api``/``api_read``/``api_charlie`` are yours to use.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from leads.models import Lead
from sla import services
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.services import api_key_create_for_operator
from tests.factories import MembershipFactory, UserFactory

PARIS = ZoneInfo("Europe/Paris")
# Friday 9 January 2026, 17:30 in Paris.
FRIDAY_1730 = datetime(2026, 1, 9, 17, 30, tzinfo=PARIS)
_emails = itertools.count(1)

MARKETING = [
    {"metric": "mql", "target": 120, "period": "month"},
    {"metric": "sql", "target": 30, "period": "month"},
]
SALES = [
    {"trigger": "became_mql", "response_minutes": 240, "label": "MQL"},
    {"trigger": "event", "event_type": "demo_request", "response_minutes": 120},
    {"trigger": "became_hot", "response_minutes": 60, "escalation_minutes": 30},
]


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def _client(org, scope) -> APIClient:
    _key, secret = api_key_create_for_operator(organization=org, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def api_read(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ)


@pytest.fixture
def api_charlie(trio) -> APIClient:
    return _client(trio.charlie_org, ApiKey.Scope.READ_WRITE)


@pytest.fixture
def heads(trio) -> SimpleNamespace:
    """Alpha's marketing manager (mia) and sales manager (sam)."""
    mia = UserFactory(email="mia@alpha.test", full_name="Mia Leroy")
    sam = UserFactory(email="sam@alpha.test", full_name="Sam Girard")
    return SimpleNamespace(
        mia=mia,
        sam=sam,
        mia_membership=MembershipFactory(
            organization=trio.alpha, user=mia, role=Role.MARKETING_MANAGER
        ),
        sam_membership=MembershipFactory(
            organization=trio.alpha, user=sam, role=Role.SALES_MANAGER
        ),
    )


def make_draft(org, actor, marketing=MARKETING, sales=SALES):
    with tenant_context(org.pk):
        version = services.draft_create(actor=actor, organization=org)
        for data in marketing:
            services.marketing_commitment_add(actor=actor, version=version, data=data)
        for data in sales:
            services.sales_commitment_add(actor=actor, version=version, data=data)
        return version


def sign_both(version, heads, at=None):
    with tenant_context(version.organization_id):
        services.sign(version=version, user=heads.mia, side="marketing", at=at)
        return services.sign(version=version, user=heads.sam, side="sales", at=at)


@pytest.fixture
def draft(trio, heads):
    return make_draft(trio.alpha, trio.alice_membership)


@pytest.fixture
def signed(trio, heads, draft):
    """Alpha's contract v1, signed by mia and sam (in force since 1 January 2026)."""
    return sign_both(draft, heads, at=paris(2026, 1, 1, 9))


@pytest.fixture
def make_lead(trio):
    def make(org=None, **fields):
        org = org or trio.alpha
        fields.setdefault("email", f"lead{next(_emails)}@prospect.test")
        with tenant_context(org.pk):
            return Lead.objects.for_org(org).create(organization=org, **fields)

    return make
