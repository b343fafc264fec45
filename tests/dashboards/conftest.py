"""A hand-computed world for the KPI tests: organization Alpha (Europe/Paris) around
the daylight-saving change of Sunday 29 March 2026 (02:00 CET → 03:00 CEST).

The week W = Monday 23 … Sunday 29 March 2026 runs from 2026-03-22 23:00 UTC to
2026-03-29 22:00 UTC (167 hours). Expected figures are written in the tests.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from leads.models import (
    Campaign,
    Content,
    Deal,
    Decision,
    Event,
    Lead,
    LifecycleTransition,
)
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import ApiKey
from smarketing.tenancy.services import api_key_create_for_operator


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _client(org, scope) -> APIClient:
    _key, secret = api_key_create_for_operator(organization=org, name="test", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api_read(trio) -> APIClient:
    return _client(trio.alpha, ApiKey.Scope.READ)


@pytest.fixture
def api_charlie(trio) -> APIClient:
    return _client(trio.charlie_org, ApiKey.Scope.READ)


class Builder:
    def __init__(self, org):
        self.org = org
        self.n = 0

    def lead(self, created_at, *, source="website", campaign=None, owner=None, grade="", **kw):
        self.n += 1
        return Lead.objects.create(
            organization=self.org,
            email=f"lead{self.n}@example.test",
            created_at=created_at,
            source=source,
            campaign=campaign,
            owner=owner,
            grade=grade,
            **kw,
        )

    def move(self, lead, from_stage, to_stage, at, reason=""):
        return LifecycleTransition.objects.create(
            organization=self.org,
            lead=lead,
            from_stage=from_stage,
            to_stage=to_stage,
            at=at,
            reason=reason,
        )

    def decide(self, lead, kind, at, reason=""):
        return Decision.objects.create(
            organization=self.org, lead=lead, kind=kind, reason=reason, at=at
        )

    def deal(self, lead, amount, created_at, *, status="open", closed_at=None):
        return Deal.objects.create(
            organization=self.org,
            lead=lead,
            name="deal",
            amount=Decimal(amount),
            created_at=created_at,
            status=status,
            closed_at=closed_at,
        )

    def event(self, lead, type, at, *, content=None, campaign=None):
        self.n += 1
        return Event.objects.create(
            organization=self.org,
            source="test",
            external_id=f"e{self.n}",
            type=type,
            occurred_at=at,
            lead=lead,
            content=content,
            campaign=campaign,
        )


@pytest.fixture
def world(trio):
    """The dataset of the module docstring, written in Alpha's tenant."""
    org = trio.alpha
    b = Builder(org)
    with tenant_context(org.pk):
        c1 = Campaign.objects.create(
            organization=org,
            key="c1",
            name="Campaign one",
            channel="email",
            spend=Decimal("700"),
            starts_on=date(2026, 3, 23),
            ends_on=date(2026, 3, 29),
        )
        c2 = Campaign.objects.create(organization=org, key="c2", name="Two", channel="seo")
        k1, k2, k3 = (
            Content.objects.create(
                organization=org, key=f"k{i}", title=f"Content {i}", type="guide", level="beginner"
            )
            for i in (1, 2, 3)
        )
        bob, alice = trio.bob, trio.alice
        l1 = b.lead(utc(2026, 3, 23, 8), campaign=c1, owner=bob, grade="A")
        l2 = b.lead(utc(2026, 3, 29, 21, 30), source="email", owner=alice, grade="B")
        l3 = b.lead(utc(2026, 3, 29, 22, 30), source="email")  # 00:30 on the 30th: out
        l4 = b.lead(utc(2026, 3, 22, 22, 30), source="email")  # 23:30 on the 22nd: out
        l5 = b.lead(utc(2026, 3, 22, 23), campaign=c1, owner=bob, grade="A")  # 00:00: in
        l6 = b.lead(utc(2026, 3, 1, 10), grade="C")
        # L1: MQL, rejected, MQL again, accepted, SQL, deal, customer.
        b.move(l1, "lead", "mql", utc(2026, 3, 23, 9))
        b.move(l1, "mql", "recycled", utc(2026, 3, 23, 12), "no_budget")
        b.decide(l1, "reject", utc(2026, 3, 23, 12), "no_budget")
        b.move(l1, "recycled", "mql", utc(2026, 3, 25, 10))
        b.move(l1, "mql", "sal", utc(2026, 3, 25, 11))
        b.decide(l1, "accept", utc(2026, 3, 25, 11))
        b.move(l1, "sal", "sql", utc(2026, 3, 26, 10))
        b.move(l1, "sql", "opportunity", utc(2026, 3, 26, 12))
        d1 = b.deal(l1, 1000, utc(2026, 3, 26, 12), status="won", closed_at=utc(2026, 3, 28, 10))
        b.move(l1, "opportunity", "customer", utc(2026, 3, 28, 10))
        Lead.objects.for_org(org).filter(pk=l1.pk).update(first_touch_at=utc(2026, 3, 23, 12))
        # L5: MQL then accepted; an open deal.
        b.move(l5, "lead", "mql", utc(2026, 3, 24, 9))
        b.move(l5, "mql", "sal", utc(2026, 3, 24, 10))
        b.decide(l5, "accept", utc(2026, 3, 24, 10))
        Lead.objects.for_org(org).filter(pk=l5.pk).update(first_touch_at=utc(2026, 3, 24, 10))
        d2 = b.deal(l5, 500, utc(2026, 3, 27, 10))
        # L4: MQL at 23:59 on the 29th (in), rejected at 00:01 on the 30th (out).
        b.move(l4, "lead", "mql", utc(2026, 3, 29, 21, 59))
        b.move(l4, "mql", "disqualified", utc(2026, 3, 29, 22, 1), "student")
        b.decide(l4, "reject", utc(2026, 3, 29, 22, 1), "student")
        Lead.objects.for_org(org).filter(pk=l4.pk).update(first_touch_at=utc(2026, 3, 29, 22, 1))
        # L6: MQL on the 28th, recycled, MQL again on the 29th (one MQL in the week).
        b.move(l6, "lead", "mql", utc(2026, 3, 28, 10))
        b.move(l6, "mql", "recycled", utc(2026, 3, 28, 11))
        b.move(l6, "recycled", "mql", utc(2026, 3, 29, 10))
        # A deal without a lead (from a CRM), created before, won at 23:00 on the 29th.
        d3 = b.deal(None, 300, utc(2026, 3, 20), status="won", closed_at=utc(2026, 3, 29, 21))
        # L1's marketing events.
        b.event(l1, "content_download", utc(2026, 3, 20, 10), content=k1, campaign=c1)
        b.event(l1, "page_view", utc(2026, 3, 23, 8, 30), campaign=c1)
        b.event(l1, "content_download", utc(2026, 3, 24, 10), content=k2)
        b.event(l1, "webinar_attended", utc(2026, 3, 25, 9), content=k3)
        b.event(l1, "unsubscribe", utc(2026, 3, 25, 8), content=k1)  # not a touch
        b.event(l1, "content_download", utc(2026, 3, 26, 11), content=k2)
        b.event(l1, "content_download", utc(2026, 3, 27, 10), content=k3)  # after the deal
    return SimpleNamespace(
        org=org,
        trio=trio,
        c1=c1,
        c2=c2,
        k1=k1,
        k2=k2,
        k3=k3,
        leads=[l1, l2, l3, l4, l5, l6],
        l1=l1,
        l5=l5,
        d1=d1,
        d2=d2,
        d3=d3,
        week_first=date(2026, 3, 23),
        week_last=date(2026, 3, 29),
    )


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield
