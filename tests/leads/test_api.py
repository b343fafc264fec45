"""The leads and deals endpoints of SPEC.md §5."""

from __future__ import annotations

import pytest

from leads.models import Lead, Stage

pytestmark = pytest.mark.django_db

T = "2026-11-30T10:00:00+01:00"


@pytest.fixture
def leads(trio, as_org):
    """Five alpha leads in queue-relevant shapes, one charlie lead."""
    from django.utils import timezone

    now = timezone.now()
    with as_org(trio.alpha):
        make = Lead.objects.for_org(trio.alpha).create
        rows = {
            "cold": make(email="cold@a.fr", score=10, stage=Stage.LEAD),
            "warm": make(email="warm@a.fr", score=55, stage=Stage.MQL),
            "hot_old": make(
                email="hot1@a.fr",
                score=40,
                hot=True,
                stage=Stage.MQL,
                hot_since=now - timezone.timedelta(hours=3),
            ),
            "hot_new": make(
                email="hot2@a.fr",
                score=30,
                hot=True,
                stage=Stage.MQL,
                hot_since=now - timezone.timedelta(minutes=5),
                owner=trio.bob,
            ),
            "mine": make(
                email="bob.lead@a.fr", first_name="Zoé", score=70, stage=Stage.SAL, owner=trio.bob
            ),
        }
    with as_org(trio.charlie_org):
        rows["other"] = Lead.objects.for_org(trio.charlie_org).create(
            email="secret@c.fr", score=99, hot=True, hot_since=now, stage=Stage.MQL
        )
    return rows


def emails(response):
    return [row["email"] for row in response.json()["results"]]


def test_default_order_is_the_sales_queue(api, leads):
    response = api.get("/api/v1/leads")
    assert response.status_code == 200
    assert emails(response) == ["hot2@a.fr", "hot1@a.fr", "bob.lead@a.fr", "warm@a.fr", "cold@a.fr"]


def test_filters(api, leads, trio):
    assert emails(api.get("/api/v1/leads?stage=mql&hot=false")) == ["warm@a.fr"]
    assert set(emails(api.get(f"/api/v1/leads?owner={trio.bob.pk}"))) == {
        "hot2@a.fr",
        "bob.lead@a.fr",
    }
    assert emails(api.get("/api/v1/leads?q=zo")) == ["bob.lead@a.fr"]
    assert len(emails(api.get("/api/v1/leads?owner=none"))) == 3
    assert emails(api.get("/api/v1/leads?ordering=score"))[0] == "cold@a.fr"


@pytest.mark.parametrize(
    "query",
    ["stage=nope", "hot=maybe", "owner=abc", "ordering=email", "page_size=x", "cursor=forged"],
)
def test_bad_filters_get_400(api, leads, query):
    response = api.get(f"/api/v1/leads?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


def test_keyset_pages_walk_the_queue_without_gaps(api, leads):
    seen, url = [], "/api/v1/leads?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [row["email"] for row in body["results"]]
        url = body["next"]
    assert seen == emails(api.get("/api/v1/leads"))


def test_upsert_by_email_case_insensitively(api, leads, trio, as_org):
    created = api.post(
        "/api/v1/leads",
        {
            "email": "New@Client.FR",
            "first_name": "Nina",
            "company": "Client",
            "company_domain": "client.fr",
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["email"], body["company"]["domain"], body["stage"]) == (
        "new@client.fr",
        "client.fr",
        "lead",
    )
    updated = api.post("/api/v1/leads", {"email": "NEW@client.fr", "title": "DAF"}, format="json")
    assert updated.status_code == 200
    assert (updated.json()["id"], updated.json()["title"]) == (body["id"], "DAF")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "nope"},
        {"email": "a@b.fr", "country": "FRA"},
        {"email": "a@b.fr", "owner": 999999},
        {"email": "a@b.fr", "stage": "customer"},
    ],
)
def test_upsert_refuses_bad_input(api, leads, body):
    response = api.post("/api/v1/leads", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


def test_detail_patch_and_cross_tenant_ids(api, leads, trio):
    lead = leads["warm"]
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["score"] == 55
    patched = api.patch(
        f"/api/v1/leads/{lead.pk}", {"owner": trio.bob.pk, "title": "CMO"}, format="json"
    )
    assert patched.json()["owner"]["email"] == "bob@alpha.test"
    # The owner must be a member of the organization.
    refused = api.patch(f"/api/v1/leads/{lead.pk}", {"owner": trio.charlie.pk}, format="json")
    assert refused.status_code == 400


OTHER_ORG_CALLS = [
    ("get", "/api/v1/leads/{id}", None),
    ("patch", "/api/v1/leads/{id}", {"title": "x"}),
    ("get", "/api/v1/leads/{id}/timeline", None),
    ("post", "/api/v1/leads/{id}/activities", {"kind": "call"}),
    ("post", "/api/v1/leads/{id}/accept", {}),
    ("post", "/api/v1/leads/{id}/reject", {"reason": "bad_fit"}),
    ("post", "/api/v1/leads/{id}/qualify", {"budget": "b", "need": "n"}),
]


@pytest.mark.parametrize(("method", "path", "body"), OTHER_ORG_CALLS)
def test_another_organizations_lead_is_404(api, leads, method, path, body):
    response = getattr(api, method)(path.format(id=leads["other"].pk), body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_charlie_never_sees_alpha_in_lists(api_charlie, leads):
    assert emails(api_charlie.get("/api/v1/leads")) == ["secret@c.fr"]


def test_accept_reject_qualify_through_the_api(api, leads, trio):
    warm, hot = leads["warm"], leads["hot_old"]
    accepted = api.post(f"/api/v1/leads/{warm.pk}/accept", {}, format="json")
    assert accepted.json()["stage"] == "sal"
    again = api.post(f"/api/v1/leads/{warm.pk}/accept", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert api.post(f"/api/v1/leads/{hot.pk}/reject", {}, format="json").status_code == 400
    rejected = api.post(f"/api/v1/leads/{hot.pk}/reject", {"reason": "no_need"}, format="json")
    assert rejected.json()["stage"] == "recycled"
    missing = api.post(f"/api/v1/leads/{warm.pk}/qualify", {"budget": "10k"}, format="json")
    assert missing.status_code == 400 and "need" in missing.json()["error"]["fields"]
    qualified = api.post(
        f"/api/v1/leads/{warm.pk}/qualify",
        {"budget": "10k", "need": "CRM", "timing": "Q1"},
        format="json",
    )
    assert qualified.json()["stage"] == "sql"


def test_activities_and_the_timeline(api, leads):
    lead = leads["warm"]
    api.post(
        "/api/v1/events",
        {
            "id": "t1",
            "type": "content_download",
            "occurred_at": T,
            "email": lead.email,
            "content": "guide-debutant",
        },
        format="json",
    )
    call = api.post(
        f"/api/v1/leads/{lead.pk}/activities",
        {"kind": "call", "subject": "Premier appel"},
        format="json",
    )
    assert call.status_code == 201
    bad = api.post(f"/api/v1/leads/{lead.pk}/activities", {"kind": "fax"}, format="json")
    assert bad.status_code == 400
    timeline = api.get(f"/api/v1/leads/{lead.pk}/timeline?order=asc").json()
    kinds = [item["kind"] for item in timeline]
    assert kinds == ["event", "activity"]
    assert timeline[0]["data"]["content"]["key"] == "guide-debutant"
    assert "level" in timeline[0]["data"]["content"]
    assert api.get(f"/api/v1/leads/{lead.pk}/timeline?limit=x").status_code == 400


def test_timeline_queries_are_bounded(api, leads, django_assert_max_num_queries):
    lead = leads["warm"]
    api.post(
        "/api/v1/events",
        {
            "events": [
                {
                    "id": f"x{i}",
                    "type": "page_view",
                    "occurred_at": T,
                    "email": lead.email,
                    "content": f"c-{i % 5}",
                    "campaign": "q4",
                }
                for i in range(100)
            ]
        },
        format="json",
    )
    with django_assert_max_num_queries(15):
        assert len(api.get(f"/api/v1/leads/{lead.pk}/timeline").json()) == 100


def test_list_queries_are_bounded(api, leads, trio, as_org, django_assert_max_num_queries):
    with as_org(trio.alpha):
        Lead.objects.for_org(trio.alpha).bulk_create(
            Lead(organization=trio.alpha, email=f"n{i}@a.fr", owner=trio.bob) for i in range(60)
        )
    # Authentication and tenant set-up take ~9 queries; the page itself a couple.
    with django_assert_max_num_queries(12):
        assert len(api.get("/api/v1/leads?page_size=100").json()["results"]) == 65


def test_deals(api, leads, trio, api_charlie):
    lead = leads["mine"]
    api.post(f"/api/v1/leads/{lead.pk}/qualify", {"budget": "b", "need": "n"}, format="json")
    created = api.post(
        "/api/v1/deals", {"name": "Licences", "amount": "24000.00", "lead": lead.pk}, format="json"
    )
    assert created.status_code == 201
    deal = created.json()
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["stage"] == "opportunity"
    won = api.patch(f"/api/v1/deals/{deal['id']}", {"status": "won"}, format="json")
    assert won.json()["status"] == "won" and won.json()["closed_at"]
    assert api.get(f"/api/v1/leads/{lead.pk}").json()["stage"] == "customer"
    assert [d["id"] for d in api.get("/api/v1/deals?status=won").json()["results"]] == [deal["id"]]
    assert (
        api.post("/api/v1/deals", {"name": "x", "amount": "-3"}, format="json").status_code == 400
    )
    assert api.post("/api/v1/deals", {"amount": "3"}, format="json").status_code == 400
    assert api_charlie.get(f"/api/v1/deals/{deal['id']}").status_code == 404
    assert (
        api_charlie.patch(
            f"/api/v1/deals/{deal['id']}", {"status": "lost"}, format="json"
        ).status_code
        == 404
    )
    # A deal cannot be attached to another organization's lead.
    foreign = api.post(
        "/api/v1/deals", {"name": "x", "amount": "1", "lead": leads["other"].pk}, format="json"
    )
    assert foreign.status_code == 404


def test_read_keys_cannot_write_leads(api_read, leads):
    assert api_read.get("/api/v1/leads").status_code == 200
    assert api_read.post("/api/v1/leads", {"email": "a@b.fr"}, format="json").status_code == 403
    lead = leads["warm"]
    assert api_read.post(f"/api/v1/leads/{lead.pk}/accept", {}, format="json").status_code == 403
