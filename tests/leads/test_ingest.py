"""Ingestion (SPEC.md §5): validation, atomicity, idempotency, identity resolution."""

from __future__ import annotations

import pytest

from leads.models import Campaign, Content, Event, Lead, LifecycleTransition, Visitor

pytestmark = pytest.mark.django_db

T = "2026-11-30T10:00:00+01:00"


def ev(n, **extra):
    return {"id": f"e{n}", "type": "page_view", "occurred_at": T, **extra}


def post(api, body):
    return api.post("/api/v1/events", body, format="json")


def test_one_event_creates_its_lead(api, trio, as_org):
    response = post(
        api,
        ev(
            1,
            email="Claire@Exemple.FR",
            url="https://x.fr/tarifs",
            first_name="Claire",
            company_domain="www.exemple.fr",
            company="Exemple SA",
            country="fr",
        ),
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    with as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).get()
        assert (lead.email, lead.first_name, lead.country) == ("claire@exemple.fr", "Claire", "FR")
        assert (lead.company.domain, lead.company.name) == ("exemple.fr", "Exemple SA")
        assert lead.stage == "lead" and lead.rescore_requested_at is not None
        assert LifecycleTransition.objects.for_org(trio.alpha).filter(lead=lead).count() == 1
        event = Event.objects.for_org(trio.alpha).get()
        assert (event.source, event.external_id, event.lead_id) == ("api", "e1", lead.pk)


def test_a_replayed_batch_counts_duplicates_and_changes_nothing(api, trio, as_org):
    batch = {"events": [ev(i, email="a@b.fr") for i in range(3)]}
    assert post(api, batch).json() == {"accepted": 3, "duplicates": 0}
    assert post(api, batch).json() == {"accepted": 0, "duplicates": 3}
    twice = {"events": [ev(9, email="a@b.fr"), ev(9, email="a@b.fr")]}
    assert post(api, twice).json() == {"accepted": 1, "duplicates": 1}
    with as_org(trio.alpha):
        assert Event.objects.for_org(trio.alpha).count() == 4
        assert Lead.objects.for_org(trio.alpha).count() == 1


def test_one_bad_event_fails_the_whole_batch(api, trio, as_org):
    batch = {"events": [ev(1, email="ok@b.fr"), ev(2, email="not-an-email"), ev(3)]}
    response = post(api, batch)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert set(error["fields"]) == {"1", "2"}
    assert "email" in error["fields"]["1"] and "email" in error["fields"]["2"]
    with as_org(trio.alpha):
        assert Event.objects.for_org(trio.alpha).count() == 0
        assert Lead.objects.for_org(trio.alpha).count() == 0


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "page_view", "occurred_at": T, "email": "a@b.fr"}, "id"),
        (ev(1, email="a@b.fr", type="teleport"), "type"),
        (ev(1, email="a@b.fr", type="custom:Bad Name"), "type"),
        (ev(1, email="a@b.fr", occurred_at="yesterday"), "occurred_at"),
        (ev(1, email="a@b.fr", occurred_at="2026-11-30T10:00:00"), "occurred_at"),
        (ev(1, email="a@b.fr", occurred_at="2999-01-01T00:00:00Z"), "occurred_at"),
        (ev(1), "email"),
        (ev(1, visitor_id="x"), "visitor_id"),
        (ev(1, email="a@b.fr", properties={"blob": "x" * 17000}), "properties"),
        (ev(1, email="a@b.fr", properties=[1, 2]), "properties"),
        (ev(1, email="a@b.fr", colour="blue"), "colour"),
        (ev(1, email="a@b.fr", country="France"), "country"),
        (ev(1, email="a@b.fr", campaign={"utm_bogus": "x"}), "campaign.utm_bogus"),
        (ev(1, email="a@b.fr", content="Not A Key"), "content"),
    ],
)
def test_validation_names_the_field(api, event, field):
    response = post(api, event)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]["0"]


def test_custom_types_are_accepted(api):
    assert post(api, ev(1, email="a@b.fr", type="custom:trial_started")).status_code == 202


def test_batches_over_1000_are_refused(api):
    response = post(api, {"events": [ev(i, email="a@b.fr") for i in range(1001)]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"


@pytest.mark.parametrize("body", [[], {"events": []}, {"events": "x"}, "text"])
def test_malformed_bodies_get_400(api, body):
    assert post(api, body).status_code == 400


def test_a_read_key_cannot_ingest(api_read):
    assert post(api_read, ev(1, email="a@b.fr")).status_code == 403


def test_each_key_writes_to_its_own_organization(api, api_charlie, trio, as_org):
    assert post(api, ev(1, email="same@person.fr")).status_code == 202
    # Same client id and e-mail in another organization: a different lead, not a dup.
    assert post(api_charlie, ev(1, email="same@person.fr")).json()["accepted"] == 1
    with as_org(trio.alpha):
        assert Lead.objects.for_org(trio.alpha).count() == 1
    with as_org(trio.charlie_org):
        assert Lead.objects.for_org(trio.charlie_org).count() == 1


def test_identification_merges_earlier_anonymous_events(api, trio, as_org):
    visitor = "v-1234567890"
    post(api, {"events": [ev(1, visitor_id=visitor), ev(2, visitor_id=visitor)]})
    with as_org(trio.alpha):
        assert Event.objects.for_org(trio.alpha).filter(lead=None).count() == 2
        assert Lead.objects.for_org(trio.alpha).count() == 0
    post(api, ev(3, type="form_submit", visitor_id=visitor, email="new@lead.fr"))
    post(api, ev(4, visitor_id=visitor))  # later anonymous hits go to the lead too
    with as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).get()
        assert Event.objects.for_org(trio.alpha).filter(lead=lead).count() == 4
        assert Visitor.objects.for_org(trio.alpha).get().lead == lead


def test_attributes_fill_only_empty_fields(api, trio, as_org):
    post(api, ev(1, email="a@b.fr", first_name="Anne", title="CMO"))
    post(api, ev(2, email="a@b.fr", first_name="Annie", last_name="Roux", title="CEO"))
    with as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).get()
    assert (lead.first_name, lead.last_name, lead.title) == ("Anne", "Roux", "CMO")


def test_content_and_campaigns_are_resolved_or_created_unclassified(api, trio, as_org):
    post(
        api,
        {
            "events": [
                ev(1, email="a@b.fr", type="content_download", content="guide-icp"),
                ev(
                    2,
                    email="a@b.fr",
                    campaign={
                        "utm_source": "linkedin",
                        "utm_medium": "paid_social",
                        "utm_campaign": "Q4 ABM",
                    },
                ),
                ev(3, email="c@d.fr", campaign={"utm_campaign": "Q4 ABM"}),
            ]
        },
    )
    with as_org(trio.alpha):
        content = Content.objects.for_org(trio.alpha).get()
        assert (content.key, content.level) == ("guide-icp", "")
        campaign = Campaign.objects.for_org(trio.alpha).get()
        assert (campaign.key, campaign.utm_campaign) == ("q4-abm", "Q4 ABM")
        assert Event.objects.for_org(trio.alpha).filter(campaign=campaign).count() == 2
        assert Lead.objects.for_org(trio.alpha).get(email="a@b.fr").campaign == campaign


def test_unsubscribe_withdraws_email_consent(api, trio, as_org):
    post(api, ev(1, email="a@b.fr"))
    with as_org(trio.alpha):
        Lead.objects.for_org(trio.alpha).update(consent_email=True)
    post(api, ev(2, email="a@b.fr", type="unsubscribe"))
    with as_org(trio.alpha):
        lead = Lead.objects.for_org(trio.alpha).get()
    assert lead.consent_email is False and lead.unsubscribed_at is not None


def test_a_batch_of_1000_costs_a_bounded_number_of_queries(api, django_assert_max_num_queries):
    batch = {
        "events": [
            ev(
                i,
                email=f"p{i % 300}@b.fr",
                visitor_id=f"visitor-{i % 50:04d}",
                first_name="P",
                content=f"c-{i % 7}",
            )
            for i in range(1000)
        ]
    }
    with django_assert_max_num_queries(30):
        assert post(api, batch).json()["accepted"] == 1000


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (ev(1, email="a@b.fr", url="https://x.fr/\x00"), "url"),
        (ev(1, email="a@b.fr", url="https://x.fr/\ud800"), "url"),
        (ev("nul\x00", email="a@b.fr"), "id"),
        (ev(1, email="a@b.fr", properties={"t": "a\x00b"}), "properties"),
        (ev(1, email="a@b.fr", properties={"n": float("nan")}), "properties"),
    ],
)
def test_text_postgres_cannot_store_is_a_field_error(api, event, field):
    from leads.ingest import clean_batch

    with pytest.raises(Exception) as error:
        clean_batch([event])
    assert field in error.value.fields["0"]


def test_deeply_nested_json_is_a_400_not_a_500(api):
    body = '{"events": ' + "[" * 20000 + "]" * 20000 + "}"
    response = api.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400


def test_a_replay_with_other_details_changes_nothing(api, trio, as_org):
    post(api, ev(1, email="first@b.fr", visitor_id="visitor-abcdef"))
    assert post(api, ev(1, email="other@b.fr", visitor_id="visitor-abcdef")).json() == {
        "accepted": 0,
        "duplicates": 1,
    }
    with as_org(trio.alpha):
        assert list(Lead.objects.for_org(trio.alpha).values_list("email", flat=True)) == [
            "first@b.fr"
        ]


def test_a_company_name_without_a_domain_fills_the_lead(api, trio, as_org):
    post(
        api,
        {
            "events": [
                ev(1, email="a@b.fr", company="Exemple SA"),
                ev(2, email="c@d.fr", company="exemple sa"),
            ]
        },
    )
    with as_org(trio.alpha):
        companies = {lead.company.name for lead in Lead.objects.for_org(trio.alpha)}
    assert companies == {"Exemple SA"}
