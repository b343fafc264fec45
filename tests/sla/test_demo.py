"""sla/demo.py on a small organization: a signed contract, clocks of every kind, once."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import LifecycleTransition
from sla import demo as sla_demo
from sla import selectors
from sla.models import Clock, ContractVersion
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.management.commands.load_demo import Demo
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db


def test_the_demo_contract_and_clocks(trio, heads, make_lead):
    now = timezone.now()
    leads = []
    for i in range(20):
        touched = now - timedelta(days=i, hours=-1) if i % 3 else None
        lead = make_lead(
            stage="mql" if i % 3 == 0 else "sal", owner=trio.bob, first_touch_at=touched
        )
        leads.append(lead)
    with tenant_context(trio.alpha.pk):
        LifecycleTransition.objects.bulk_create(
            [
                LifecycleTransition(
                    organization=trio.alpha,
                    lead=lead,
                    from_stage="lead",
                    to_stage="mql",
                    at=now - timedelta(days=i),
                )
                for i, lead in enumerate(leads)
            ]
        )
    users = {Role.MARKETING_MANAGER.value: heads.mia, Role.SALES_MANAGER.value: heads.sam}
    demo = Demo(organization=trio.alpha, users=users, stdout=io.StringIO(), now=now)
    with tenant_context(trio.alpha.pk):
        sla_demo.load(demo)
        version = selectors.active_version(trio.alpha)
        assert version.status == ContractVersion.Status.ACTIVE
        assert (version.marketing_signed_by_id, version.sales_signed_by_id) == (
            heads.mia.pk,
            heads.sam.pk,
        )
        assert [c.target for c in version.marketing_commitments.all()] == [120, 30]
        statuses = set(Clock.objects.for_org(trio.alpha).values_list("status", flat=True))
        assert {"met", "breached"} <= statuses and statuses & {"running", "warned"}
        count = Clock.objects.for_org(trio.alpha).count()
        assert count == 20
        sla_demo.load(demo)  # idempotent
        assert Clock.objects.for_org(trio.alpha).count() == count
        assert ContractVersion.objects.for_org(trio.alpha).count() == 1
