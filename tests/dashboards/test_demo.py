"""The demo answers the guide's questions: a funnel, attribution to content, targets."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from dashboards import kpis
from dashboards.models import KpiTarget, RollupState
from smarketing.tenancy.models import Organization

pytestmark = pytest.mark.django_db


def test_demo_dashboards(as_org):
    call_command("load_demo", "--quiet-logins")
    org = Organization.objects.get(slug="acme")
    with as_org(org):
        assert KpiTarget.objects.for_org(org).filter(period_kind="week", kpi="mqls").exists()
        assert RollupState.objects.for_org(org).get().built_through is not None
        period = kpis.last_days(org, 90)
        live_state = kpis.compute(org, period)
        assert live_state.mqls > 0 and live_state.deals_won > 0 and live_state.revenue_won > 0
        stages = kpis.funnel(org, period)
        assert all(s.entered for s in stages[:4])
        assert kpis.biggest_leak(stages) is not None
        rows = kpis.attribution(org, period, model="w_shaped")
        credited = [row for row in rows if row.key]
        assert credited and sum(r.revenue for r in credited) > 0
        assert sum(r.revenue for r in rows) == pytest.approx(live_state.revenue_won, abs=1)
        campaigns = kpis.attribution(org, period, by="campaign")
        assert any(row.spend for row in campaigns)
        count = KpiTarget.objects.for_org(org).count()
    call_command("load_demo", "--quiet-logins")
    with as_org(org):
        assert KpiTarget.objects.for_org(org).count() == count
        assert kpis.compute(org, period).as_dict() == live_state.as_dict()
