"""``/api/v1/kpis`` (+ funnel, attribution): the same figures as the KPI layer, auth,
field errors, tenancy, bounded queries."""

from __future__ import annotations

import pytest
import time_machine
from rest_framework.test import APIClient

from dashboards import kpis

from .conftest import utc
from .test_kpis import EXPECTED, week

pytestmark = pytest.mark.django_db
AFTER = utc(2026, 4, 10, 12)
WEEK = "/api/v1/kpis?from=2026-03-23&to=2026-03-30"


@time_machine.travel(AFTER, tick=False)
def test_kpis_of_the_week(world, api_read):
    response = api_read.get(WEEK, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["period"]["from"] == "2026-03-23" and data["period"]["to"] == "2026-03-30"
    assert data["period"]["start"] == "2026-03-23T00:00:00+01:00"
    assert data["period"]["end"] == "2026-03-30T00:00:00+02:00"
    for name, value in EXPECTED.items():
        if name != "rejection_reasons":  # labels are in the reader's language
            assert data["current"][name] == value, name
    assert [(code, n) for code, _label, n in data["current"]["rejection_reasons"]] == [
        ("no_budget", 1)
    ]
    from smarketing.tenancy.db import tenant_context

    with tenant_context(world.org.pk):
        expected = kpis.report(world.org, week(world))
    for part in ("current", "previous"):
        data[part].pop("rejection_reasons")
        expected[part].pop("rejection_reasons")
    assert data == expected


@time_machine.travel(AFTER, tick=False)
def test_segment_params(world, api_read):
    data = api_read.get(WEEK + f"&source=website&owner={world.trio.bob.pk}").json()
    assert data["current"]["new_leads"] == 2 and data["segment"]["source"] == "website"
    data = api_read.get(WEEK + f"&campaign={world.c1.pk}&grade=a").json()
    assert data["current"]["new_leads"] == 2 and data["segment"]["grade"] == "A"


@pytest.mark.parametrize(
    "query,field",
    [
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("from=yesterday", "from"),
        ("from=2026-03-01&to=2026-03-01", "to"),
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=2020-01-01&to=2026-01-01", "to"),
        ("to=20260301", "to"),
        ("source=moon", "source"),
        ("grade=E", "grade"),
        ("campaign=abc", "campaign"),
        ("campaign=999999", "campaign"),
        ("owner=999999", "owner"),
    ],
)
def test_bad_params_are_field_errors(world, api_read, query, field):
    response = api_read.get(f"/api/v1/kpis?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_default_period_is_the_last_30_days(world, api_read):
    with time_machine.travel(utc(2026, 3, 29, 12), tick=False):
        data = api_read.get("/api/v1/kpis").json()
    assert data["period"]["from"] == "2026-02-28" and data["period"]["to"] == "2026-03-30"
    assert data["period"]["days"] == 30


def test_authentication_required(world):
    assert APIClient().get(WEEK).status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer smk_nope")
    assert bad.get(WEEK).status_code in (401, 403)


@time_machine.travel(AFTER, tick=False)
def test_session_viewer_reads_kpis(world, client_for):
    from smarketing.tenancy.permissions import Role
    from tests.factories import MembershipFactory, UserFactory

    viewer = UserFactory()
    MembershipFactory(organization=world.org, user=viewer, role=Role.VIEWER)
    response = client_for(viewer).get(WEEK, HTTP_X_ORGANIZATION="alpha")
    assert response.status_code == 200
    assert response.json()["current"]["mqls"] == 4


@time_machine.travel(AFTER, tick=False)
def test_charlie_sees_only_charlie(world, api_charlie, client_for):
    data = api_charlie.get(WEEK).json()
    assert data["current"]["new_leads"] == 0 and data["current"]["revenue_won"] == "0.00"
    # Alpha's campaign id is not one of Charlie's.
    assert api_charlie.get(WEEK + f"&campaign={world.c1.pk}").status_code == 400
    assert api_charlie.get(WEEK + f"&owner={world.trio.bob.pk}").status_code == 400
    # Charlie's session cannot name Alpha.
    response = client_for(world.trio.charlie).get(WEEK, HTTP_X_ORGANIZATION="alpha")
    assert response.status_code == 404


@time_machine.travel(AFTER, tick=False)
def test_funnel_and_attribution_endpoints(world, api_read):
    data = api_read.get("/api/v1/kpis/funnel?from=2026-03-23&to=2026-03-30").json()
    assert [s["entered"] for s in data["stages"]] == [3, 4, 2, 1, 1, 1]
    assert data["biggest_leak"] == "mql"
    data = api_read.get("/api/v1/kpis/funnel?from=2026-03-23&to=2026-03-30&by=source").json()
    assert {s["group"] for s in data["stages"]} == {"website", "email"}
    assert api_read.get("/api/v1/kpis/funnel?by=owner").status_code == 400
    data = api_read.get(
        "/api/v1/kpis/attribution?from=2026-03-23&to=2026-03-30&model=u_shaped"
    ).json()
    assert {r["key"]: r["revenue"] for r in data["rows"]} == {
        "k2": "500.00",
        "k1": "400.00",
        "k3": "100.00",
        "": "300.00",
    }
    response = api_read.get("/api/v1/kpis/attribution?model=magic&by=color")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"model", "by"}


@time_machine.travel(AFTER, tick=False)
def test_query_count_bounded(world, api_read, django_assert_max_num_queries):
    with django_assert_max_num_queries(40):
        assert api_read.get(WEEK + f"&campaign={world.c1.pk}").status_code == 200
