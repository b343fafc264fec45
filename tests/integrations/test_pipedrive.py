"""Pipedrive against the fake Pipedrive: persons and leads pushed, rejected leads
archived, deals pushed and pulled (recents, pagination), 401 and 429."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.connectors.base import LeadChange
from integrations.connectors.pipedrive import PipedriveConnector
from integrations.sync import push_lead_to
from leads.ingest import ingest_events
from leads.models import Deal, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.connections import client_for, connect, pull_all, reload, sync
from .fakes.pipedrive import API_TOKEN, FakePipedrive


@pytest.fixture
def fake():
    with FakePipedrive() as server:
        yield server


@pytest.fixture
def pipedrive(trio, fake):
    return connect(
        trio.alpha, "pipedrive", base_url=fake.base_url, credentials={"api_token": API_TOKEN}
    )


def lead_for(org, email: str, **attributes) -> Lead:
    with tenant_context(org.pk):
        ingest_events(
            organization=org,
            events=[
                {
                    "id": f"pd-{email}",
                    "type": "form_submit",
                    "occurred_at": timezone.now().isoformat(),
                    "email": email,
                    **attributes,
                }
            ],
            source="api",
        )
        return Lead.objects.for_org(org).get(email=email)


def change(to_stage: str, external_id: str = "") -> LeadChange:
    return LeadChange(
        from_stage="lead", to_stage=to_stage, at=timezone.now(), external_id=external_id
    )


def test_an_mql_becomes_a_person_and_a_lead_then_is_archived_when_rejected(pipedrive, fake, trio):
    lead = lead_for(
        trio.alpha,
        "paul@exemple.fr",
        first_name="Paul",
        last_name="Martin",
        phone="+33 1 23 45 67 89",
    )
    person_id = push_lead_to(
        organization_id=trio.alpha.pk,
        connection_id=pipedrive.pk,
        lead_id=lead.pk,
        change={"from_stage": "lead", "to_stage": "mql", "at": timezone.now().isoformat()},
        client=client_for(pipedrive),
    )
    person = fake.persons[int(person_id)]
    assert (person["name"], person["email"][0]["value"]) == ("Paul Martin", "paul@exemple.fr")
    (pd_lead,) = fake.leads.values()
    assert pd_lead["person_id"] == int(person_id)
    assert pd_lead["title"].startswith("Paul Martin")
    assert all(call.arg("api_token") == API_TOKEN for call in fake.calls())

    connector = PipedriveConnector()
    client = client_for(pipedrive)
    connector.push_lead(pipedrive, client, lead, change("sal", person_id))
    assert len(fake.leads) == 1 and not pd_lead["is_archived"]
    connector.push_lead(pipedrive, client, lead, change("recycled", person_id))
    assert pd_lead["is_archived"]
    # Recycled, then MQL again: a new open lead for the same person.
    connector.push_lead(pipedrive, client, lead, change("mql", person_id))
    assert len(fake.leads) == 2 and len(fake.persons) == 1


def test_an_existing_person_is_found_by_email(pipedrive, fake, trio):
    existing = fake.add_person("Known Person", "known@exemple.fr")
    lead = lead_for(trio.alpha, "known@exemple.fr")
    person_id = PipedriveConnector().push_lead(
        pipedrive, client_for(pipedrive), lead, change("mql")
    )
    assert person_id == str(existing["id"]) and len(fake.persons) == 1


def test_deals_are_pulled_from_recents_page_by_page(pipedrive, fake, trio):
    lead = lead_for(trio.alpha, "buyer@exemple.fr")
    person = fake.add_person("Buyer", "buyer@exemple.fr")
    fake.add_deal("Big one", value=15000, status="won", person_id=person["id"])
    for i in range(120):
        fake.add_deal(f"Deal {i}", value=100 + i)
    run = sync(pipedrive)
    assert run.status == "ok", run.error
    assert run.deals_created == 121
    recents = fake.calls("GET", r"/v1/recents")
    assert [int(c.arg("start")) for c in recents] == [0, 100]
    with tenant_context(trio.alpha.pk):
        won = Deal.objects.for_org(trio.alpha).get(source="pipedrive", name="Big one")
        assert (won.status, won.amount, won.lead_id) == ("won", 15000, lead.pk)
        assert won.closed_at is not None

    # Lost later in Pipedrive: the next sync reads from the last change, updates it.
    deal_id = int(won.external_id)
    fake.set_deal(deal_id, status="lost")
    run = sync(pipedrive)
    assert (run.status, run.deals_created) == ("ok", 0)
    assert recents[-1].arg("since_timestamp") != fake.calls("GET", r"/v1/recents")[-1].arg(
        "since_timestamp"
    )
    with tenant_context(trio.alpha.pk):
        assert Deal.objects.for_org(trio.alpha).get(pk=won.pk).status == "lost"


def test_a_native_deal_is_pushed_with_its_value_and_status(pipedrive, fake, trio):
    with tenant_context(trio.alpha.pk):
        deal = Deal.objects.create(
            organization=trio.alpha, name="Native", amount=4200, currency="EUR", status="open"
        )
    person = fake.add_person("P", "p@exemple.fr")
    connector = PipedriveConnector()
    client = client_for(pipedrive)
    deal_id = connector.push_deal(pipedrive, client, deal, person_id=str(person["id"]))
    assert (fake.deals[int(deal_id)]["value"], fake.deals[int(deal_id)]["person_id"]) == (
        4200.0,
        person["id"],
    )
    deal.source, deal.external_id, deal.status = "pipedrive", deal_id, "won"
    assert connector.push_deal(pipedrive, client, deal) == deal_id
    assert fake.deals[int(deal_id)]["status"] == "won"


def test_a_wrong_token_puts_the_connection_in_error(trio, fake):
    connection = connect(
        trio.alpha, "pipedrive", base_url=fake.base_url, credentials={"api_token": "wrong"}
    )
    assert sync(connection).status == "error"
    assert reload(connection).status == "error"


def test_the_burst_limit_answers_429_and_is_waited_out(trio):
    with FakePipedrive(limit=2, window=1.0) as small:
        for i in range(450):
            small.add_deal(f"D{i}", value=i)
        connection = connect(
            trio.alpha, "pipedrive", base_url=small.base_url, credentials={"api_token": API_TOKEN}
        )
        client = client_for(connection, max_attempts=8)
        _events, deals, _cursor, pages = pull_all(PipedriveConnector(), connection, client, "deals")
        assert (len(deals), pages) == (450, 5)
        assert small.throttled >= 1
