"""GET /api/v1/sla/clocks, /sla/contract, /sla/commitments: read keys allowed, another
organization's clocks invisible, filters validated, keyset pages."""

from __future__ import annotations

import pytest

from sla import services
from sla.models import Trigger
from smarketing.tenancy.db import tenant_context

from .conftest import FRIDAY_1730

pytestmark = pytest.mark.django_db


@pytest.fixture
def clocks(trio, signed, make_lead):
    made = []
    with tenant_context(trio.alpha.pk):
        for i in range(3):
            lead = make_lead(stage="mql", owner=trio.bob if i else None)
            made += services.start_clocks(
                trio.alpha, lead, Trigger.BECAME_HOT, FRIDAY_1730, "hot", now=FRIDAY_1730
            )
    return made


def test_clocks_list_and_filters(api_read, trio, clocks):
    body = api_read.get("/api/v1/sla/clocks").json()
    assert [c["id"] for c in body["results"]] == [c.pk for c in clocks]
    assert body["results"][0]["status"] == "running"
    assert body["results"][0]["due_at"].startswith("2026-01-12T09:30:00")
    owned = api_read.get(f"/api/v1/sla/clocks?owner={trio.bob.pk}").json()["results"]
    assert len(owned) == 2
    assert len(api_read.get("/api/v1/sla/clocks?owner=none").json()["results"]) == 1
    assert api_read.get("/api/v1/sla/clocks?status=breached").json()["results"] == []
    services.scan(FRIDAY_1730.replace(day=12, hour=10))
    assert len(api_read.get("/api/v1/sla/clocks?status=breached,met").json()["results"]) == 3
    for bad in ("status=late", "owner=bob", "lead=x"):
        response = api_read.get(f"/api/v1/sla/clocks?{bad}")
        assert response.status_code == 400 and "error" in response.json()


def test_clocks_pages(api_read, clocks):
    first = api_read.get("/api/v1/sla/clocks?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = api_read.get(first["next"]).json()
    assert [c["id"] for c in first["results"] + second["results"]] == [c.pk for c in clocks]


def test_another_organization_sees_none_of_it(api_charlie, clocks):
    assert api_charlie.get("/api/v1/sla/clocks").json()["results"] == []
    assert api_charlie.get("/api/v1/sla/contract").json() == {"active": None, "versions": []}
    assert api_charlie.get("/api/v1/sla/commitments").json()["sales"] == []


def test_contract_and_commitments(api_read, heads, signed):
    body = api_read.get("/api/v1/sla/contract").json()
    assert body["active"]["number"] == 1 and body["active"]["status"] == "active"
    assert body["active"]["marketing_signed_by"]["email"] == "mia@alpha.test"
    assert body["active"]["signed_text"] and len(body["active"]["terms_hash"]) == 64
    assert [v["number"] for v in body["versions"]] == [1]
    commitments = api_read.get("/api/v1/sla/commitments").json()
    assert commitments["version"] == 1
    assert [c["target"] for c in commitments["marketing"]] == [120, 30]
    assert [c["trigger"] for c in commitments["sales"]] == ["became_mql", "event", "became_hot"]


def test_read_only(api, signed):
    assert api.post("/api/v1/sla/clocks", {}).status_code == 405


def test_session_members_read_it_too(client_for, trio, clocks):
    response = client_for(trio.bob).get("/api/v1/sla/clocks", HTTP_X_ORGANIZATION="alpha")
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    outsider = client_for(trio.charlie).get("/api/v1/sla/clocks", HTTP_X_ORGANIZATION="alpha")
    assert outsider.status_code == 404
