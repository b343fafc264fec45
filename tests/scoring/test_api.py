"""The scoring API: a lead's explanation, the models; cross-tenant 404s, bad input 4xx."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leads.models import Lead
from scoring import pipeline, services
from smarketing.tenancy.db import tenant_context

from .conftest import NOW, event, ingest, lead_of, pricing

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def scored(trio, template):
    ingest(
        trio.alpha,
        [
            *[pricing("zoe@gmail.com", ago) for ago in (3 * DAY, 2 * DAY, DAY)],
            event("email_click", email="zoe@gmail.com", ago=timedelta(hours=1)),
        ],
    )
    lead = lead_of(trio.alpha, "zoe@gmail.com")
    with tenant_context(trio.alpha.pk):
        pipeline.rescore_leads(organization=trio.alpha, lead_ids=[lead.pk], now=NOW)
    return lead_of(trio.alpha, "zoe@gmail.com")


@pytest.fixture
def charlie_lead(trio):
    with tenant_context(trio.charlie_org.pk):
        return Lead.objects.create(organization=trio.charlie_org, email="secret@c.fr", score=99)


def test_the_score_explanation(api_read, scored, template):
    response = api_read.get(f"/api/v1/leads/{scored.pk}/score")
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == 33 and body["fit"] == -10 and body["grade"] == "D"
    assert body["behaviour"] == pytest.approx(43, abs=0.01)
    assert body["hot"] is True and body["hot_since"]
    assert body["model"] == {
        "id": template.pk,
        "version": 1,
        "name": "Starting template",
        "status": "active",
    }
    lines = [
        (c["kind"], c["label"], c["points"], c["events"], c["hot"]) for c in body["contributions"]
    ]
    assert lines[0] == ("behaviour", "Pricing page 3× in 7 days", 40.0, 3, True)
    assert lines[-1] == ("fit", "Free-mail address", -10.0, 0, False)
    assert body["contributions"][0]["last_occurrence"]


def test_an_unscored_lead_has_no_contributions(api, trio, template):
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.create(organization=trio.alpha, email="new@x.fr")
    body = api.get(f"/api/v1/leads/{lead.pk}/score").json()
    assert (body["score"], body["contributions"], body["hot_since"]) == (0, [], None)
    assert body["model"]["version"] == 1


def test_the_score_of_another_organizations_lead_is_404(api, api_charlie, scored, charlie_lead):
    assert api.get(f"/api/v1/leads/{charlie_lead.pk}/score").status_code == 404
    assert api_charlie.get(f"/api/v1/leads/{scored.pk}/score").status_code == 404
    assert api.get("/api/v1/leads/999999/score").status_code == 404
    response = api.get("/api/v1/leads/0/score")
    assert response.status_code == 404 and response.json()["error"]["code"]


def test_anonymous_gets_nothing(client, scored):
    assert client.get(f"/api/v1/leads/{scored.pk}/score").status_code in (401, 403)
    assert client.get("/api/v1/scoring/models").status_code in (401, 403)


def test_the_session_works_and_charlie_gets_404(client_for, trio, scored):
    alice = client_for(trio.alice)
    response = alice.get(f"/api/v1/leads/{scored.pk}/score", HTTP_X_ORGANIZATION="alpha")
    assert response.status_code == 200
    charlie = client_for(trio.charlie)
    assert (
        charlie.get(f"/api/v1/leads/{scored.pk}/score", HTTP_X_ORGANIZATION="alpha").status_code
        == 404
    )
    assert (
        charlie.get(f"/api/v1/leads/{scored.pk}/score", HTTP_X_ORGANIZATION="charlie").status_code
        == 404
    )


def test_models_newest_first_with_a_status_filter(
    api_read, trio, template, django_assert_max_num_queries
):
    with tenant_context(trio.alpha.pk):
        for n in range(3):
            services.model_create_draft(
                actor=trio.alice_membership, organization=trio.alpha, name=f"try {n}"
            )
    # Authentication and tenant setup, then one query for the page, whatever its size.
    with django_assert_max_num_queries(11):
        response = api_read.get("/api/v1/scoring/models")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [m["version"] for m in rows] == [4, 3, 2, 1]
    assert rows[0]["created_by"]["email"] == "alice@alpha.test"
    assert rows[0]["based_on"] == template.pk
    active = api_read.get("/api/v1/scoring/models?status=active").json()["results"]
    assert [m["id"] for m in active] == [template.pk]
    bad = api_read.get("/api/v1/scoring/models?status=live")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_one_model_with_its_rules(api_read, template, django_assert_max_num_queries):
    # The model and its two rule lists: three queries after authentication.
    with django_assert_max_num_queries(13):
        response = api_read.get(f"/api/v1/scoring/models/{template.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["mql_threshold"] == 60 and body["decay_half_life_days"] == 30
    assert body["grade_bands"] == {"A": 40, "B": 25, "C": 10}
    assert [r["label"] for r in body["fit_rules"]][:2] == [
        "Decision maker (C-level, VP, director)",
        "Company of 50 to 5,000 employees",
    ]
    pricing_rule = body["behaviour_rules"][0]
    assert (pricing_rule["mode"], pricing_rule["min_count"], pricing_rule["window_days"]) == (
        "frequency",
        3,
        7,
    )


def test_models_do_not_cross_tenants(api_charlie, api, template, trio):
    assert api_charlie.get(f"/api/v1/scoring/models/{template.pk}").status_code == 404
    assert api_charlie.get("/api/v1/scoring/models").json()["results"] == []
    assert api.get("/api/v1/scoring/models/999999").status_code == 404
