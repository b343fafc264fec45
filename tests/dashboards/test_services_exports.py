"""Targets and spend services, CSV exports, the rollup tasks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import time_machine

from dashboards import exports, services, tasks
from dashboards.models import DailyKpi, KpiTarget, RollupState
from dashboards.services import DashboardError
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import PermissionDenied

from .conftest import utc
from .test_kpis import week

pytestmark = pytest.mark.django_db
AFTER = utc(2026, 4, 10, 12)


def test_target_set_update_remove(trio):
    alice = trio.alice_membership
    with tenant_context(trio.alpha.pk):
        target = services.target_set(actor=alice, kpi="mqls", period_kind="week", value="12")
        again = services.target_set(actor=alice, kpi="mqls", period_kind="week", value="15")
        assert again.pk == target.pk and again.value == Decimal("15")
        rate = services.target_set(
            actor=alice, kpi="acceptance_rate", period_kind="month", value="0.8"
        )
        assert rate.value == Decimal("0.8")  # rates are 0..1, the page converts percent
        segment = services.target_set(
            actor=alice, kpi="mqls", period_kind="week", value="5", source="website"
        )
        assert segment.pk != target.pk
        assert services.target_set(actor=alice, kpi="mqls", period_kind="week", value="") is None
        assert KpiTarget.objects.for_org(trio.alpha).count() == 2


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"kpi": "nope", "period_kind": "week", "value": "1"}, "kpi"),
        ({"kpi": "mqls", "period_kind": "year", "value": "1"}, "period_kind"),
        ({"kpi": "mqls", "period_kind": "week", "value": "-1"}, "value"),
        ({"kpi": "mqls", "period_kind": "week", "value": "NaN"}, "value"),
        ({"kpi": "mqls", "period_kind": "week", "value": "x"}, "value"),
        ({"kpi": "sla_rate", "period_kind": "week", "value": "250"}, "value"),
        # Percent is the page's business: the service reads 0..1 only.
        ({"kpi": "sla_rate", "period_kind": "week", "value": "75"}, "value"),
        ({"kpi": "mqls", "period_kind": "week", "value": "1", "grade": "Z"}, "grade"),
    ],
)
def test_target_set_refuses(trio, kwargs, field):
    with tenant_context(trio.alpha.pk), pytest.raises(DashboardError) as error:
        services.target_set(actor=trio.alice_membership, **kwargs)
    assert field in error.value.fields


def test_target_set_needs_dashboards_manage(trio):
    with tenant_context(trio.alpha.pk), pytest.raises(PermissionDenied):
        services.target_set(actor=trio.bob_membership, kpi="mqls", period_kind="week", value=1)


def test_campaign_spend(world):
    with tenant_context(world.org.pk):
        services.campaign_spend_set(
            actor=world.trio.alice_membership, campaign=world.c2, spend="99.5"
        )
        world.c2.refresh_from_db()
        assert world.c2.spend == Decimal("99.50")
        with pytest.raises(DashboardError):
            services.campaign_spend_set(
                actor=world.trio.alice_membership, campaign=world.c2, spend="1.234"
            )
        with pytest.raises(PermissionDenied):
            services.campaign_spend_set(
                actor=world.trio.bob_membership, campaign=world.c2, spend="1"
            )


@time_machine.travel(AFTER, tick=False)
def test_funnel_csv(world):
    with tenant_context(world.org.pk):
        text = "".join(exports.funnel_csv(world.org, week(world)))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "Stage"
    assert rows[2][:5] == ["MQL", "4", "2", "2", "50.0"] and rows[2][6] == "yes"
    with tenant_context(world.org.pk):
        grouped = exports.funnel_rows(world.org, week(world), by="source")
    assert grouped[0][0] == "Source" and {r[0] for r in grouped[1:]} == {"Website", "E-mail"}


@time_machine.travel(AFTER, tick=False)
def test_attribution_csv(world):
    with tenant_context(world.org.pk):
        text = "".join(exports.attribution_csv(world.org, week(world), model="u_shaped"))
        campaigns = exports.attribution_rows(world.org, week(world), by="campaign")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][:4] == ["k2", "Content 2", "500.00", "38.5"]
    assert rows[-1][0] == "" and rows[-1][2] == "300.00"
    assert campaigns[1][0] == "c1" and campaigns[1][6:] == [
        Decimal("700.00"),
        1.43,
        Decimal("700.00"),
    ]
    response = exports.csv_response(iter(["a\n"]), exports.export_filename("funnel", week(world)))
    assert response["Content-Disposition"] == (
        'attachment; filename="funnel_2026-03-23_2026-03-29.csv"'
    )


def test_csv_neutralises_formulas():
    text = "".join(exports.csv_lines([["=HYPERLINK(1)", "+33 6 12", 1.5]], delimiter=";"))
    assert text == "\ufeff'=HYPERLINK(1);+33 6 12;1,5\r\n"


@time_machine.travel(AFTER, tick=False)
def test_rollup_tasks(world):
    assert tasks.refresh_rollups() >= 1
    with tenant_context(world.org.pk):
        state = RollupState.objects.for_org(world.org).get()
        assert str(state.built_through) == "2026-04-09"
        rows = DailyKpi.objects.for_org(world.org).count()
    assert tasks.refresh_rollups() == 0  # nothing new to build
    assert tasks.rebuild_recent_rollups() >= 1
    with tenant_context(world.org.pk):
        assert DailyKpi.objects.for_org(world.org).count() == rows


def test_target_set_retries_after_a_concurrent_insert(trio, monkeypatch):
    """The insert hits the unique constraint (another manager's concurrent insert):
    only the savepoint rolls back, and the second attempt writes the one row (no 500)."""
    from django.db import IntegrityError
    from django.db.models.query import QuerySet

    real = QuerySet.update_or_create
    calls = []

    def racing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            KpiTarget.objects.create(
                organization=trio.alpha, kpi="mqls", period_kind="week", value=Decimal("3")
            )
            raise IntegrityError("kpi_target_unique")
        return real(self, *args, **kwargs)

    with tenant_context(trio.alpha.pk):
        monkeypatch.setattr(QuerySet, "update_or_create", racing)
        target = services.target_set(
            actor=trio.alice_membership, kpi="mqls", period_kind="week", value="9"
        )
        monkeypatch.undo()
        assert len(calls) == 2
        assert target.value == Decimal("9")
        assert KpiTarget.objects.for_org(trio.alpha).count() == 1
