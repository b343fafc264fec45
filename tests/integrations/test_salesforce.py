"""Salesforce against the fake Salesforce: OAuth token, MQLs pushed as Leads through
sObject collections (≤ 200), status updates, opportunities pulled back with SOQL
paging, the token refreshed once, the daily limit (403 REQUEST_LIMIT_EXCEEDED)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.base import AuthError, ConnectorError, LeadChange
from integrations.connectors.salesforce import SalesforceConnector, soql_string
from integrations.models import ExternalRecord
from integrations.sync import push_lead_to
from leads.ingest import ingest_events
from leads.models import Deal, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.connections import client_for, connect, pull_all, reload, sync
from .fakes.salesforce import CLIENT_ID, CLIENT_SECRET, FakeSalesforce


@pytest.fixture
def fake():
    with FakeSalesforce(page_size=50) as server:
        yield server


@pytest.fixture
def salesforce(trio, fake):
    return connect(
        trio.alpha,
        "salesforce",
        base_url=fake.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )


def make_leads(org, emails: list[str], **attributes) -> list[Lead]:
    now = timezone.now()
    with tenant_context(org.pk):
        ingest_events(
            organization=org,
            events=[
                {
                    "id": f"sf-{e}",
                    "type": "form_submit",
                    "occurred_at": now.isoformat(),
                    "email": e,
                    **attributes,
                }
                for e in emails
            ],
            source="api",
        )
        return list(
            Lead.objects.for_org(org)
            .select_related("company")
            .filter(email__in=emails)
            .order_by("email")
        )


def change(to_stage: str, external_id: str = "") -> LeadChange:
    return LeadChange(
        from_stage="lead", to_stage=to_stage, at=timezone.now(), external_id=external_id
    )


def test_soql_strings_are_escaped():
    assert soql_string("o'brien\\x") == "'o\\'brien\\\\x'"


def test_an_mql_becomes_a_lead_then_its_status_follows(salesforce, fake, trio):
    (lead,) = make_leads(
        trio.alpha,
        ["marie@exemple.fr"],
        first_name="Marie",
        last_name="Curie",
        company="Exemple SA",
        title="CTO",
    )
    client = client_for(salesforce)
    external_id = push_lead_to(
        organization_id=trio.alpha.pk,
        connection_id=salesforce.pk,
        lead_id=lead.pk,
        change={"from_stage": "lead", "to_stage": "mql", "at": timezone.now().isoformat()},
        client=client,
    )
    record = fake.records["Lead"][external_id]
    assert (record["Email"], record["LastName"], record["Company"], record["Status"]) == (
        "marie@exemple.fr",
        "Curie",
        "Exemple SA",
        "Open - Not Contacted",
    )
    assert fake.token_calls == 1
    with tenant_context(trio.alpha.pk):
        assert ExternalRecord.objects.for_org(trio.alpha).get(lead=lead).external_id == external_id

    # Accepted by sales: the Lead's status follows; the name Salesforce has is kept.
    fake.update("Lead", external_id, Title="Chief Technology Officer")
    connector = SalesforceConnector()
    connector.push_lead(reload(salesforce), client, lead, change("sal", external_id))
    assert record["Status"] == "Working - Contacted"
    assert record["Title"] == "Chief Technology Officer"
    assert len(fake.records["Lead"]) == 1
    # The token is reused (within a run; across runs once Connection.state works).
    assert fake.token_calls == 1


def test_an_existing_salesforce_lead_is_updated_not_duplicated(salesforce, fake, trio):
    fake.create("Lead", Email="Known@Exemple.fr", LastName="Known", Company="K", FirstName="")
    (lead,) = make_leads(trio.alpha, ["known@exemple.fr"], first_name="Kim")
    connector = SalesforceConnector()
    external_id = connector.push_lead(salesforce, client_for(salesforce), lead, change("mql"))
    assert len(fake.records["Lead"]) == 1
    assert fake.records["Lead"][external_id]["FirstName"] == "Kim"  # was empty there


def test_many_leads_go_in_collections_of_200(salesforce, fake, trio):
    leads = make_leads(trio.alpha, [f"bulk{i:03d}@exemple.fr" for i in range(450)])
    connector = SalesforceConnector()
    results = connector.push_leads(
        salesforce, client_for(salesforce), [(lead, change("mql")) for lead in leads]
    )
    assert all(external_id and not error for external_id, error in results)
    creates = fake.calls("POST", r".*/composite/sobjects")
    assert [len(call.json()["records"]) for call in creates] == [200, 200, 50]
    assert len(fake.records["Lead"]) == 450


def test_a_lead_converted_in_salesforce_is_left_to_it(salesforce, fake, trio):
    (lead,) = make_leads(trio.alpha, ["x@exemple.fr"])
    fake.create("Lead", Email="x@exemple.fr", LastName="X", Company="X")
    lead_id = next(iter(fake.records["Lead"]))
    fake.convert_lead(lead_id, amount=10)
    connector = SalesforceConnector()
    # Converted there: Salesforce owns it, nothing is written, its id is kept.
    assert connector.push_lead(salesforce, client_for(salesforce), lead, change("sql")) == lead_id


def test_opportunities_come_back_as_deals_linked_through_the_converted_lead(salesforce, fake, trio):
    leads = make_leads(trio.alpha, [f"opp{i}@exemple.fr" for i in range(60)])
    connector = SalesforceConnector()
    client = client_for(salesforce)
    pushed = connector.push_leads(salesforce, client, [(lead, change("mql")) for lead in leads])
    for (external_id, _error), index in zip(pushed, range(60), strict=True):
        fake.convert_lead(
            external_id,
            amount=1000 + index,
            stage="Closed Won" if index % 2 == 0 else "Negotiation/Review",
        )
    # One opportunity without a lead, linked by its contact only.
    contact = fake.create("Contact", LastName="Direct", Email="opp0@exemple.fr")
    fake.create(
        "Opportunity",
        Name="Direct",
        Amount=99,
        StageName="Closed Lost",
        CloseDate="2026-11-01",
        ContactId=contact["Id"],
    )

    run = sync(salesforce)
    assert run.status == "ok", run.error
    assert run.deals_created == 61
    queries = fake.calls("GET", r".*/query/?.*")
    assert any("/query/01g" in call.path for call in queries)  # nextRecordsUrl followed
    with tenant_context(trio.alpha.pk):
        deals = Deal.objects.for_org(trio.alpha).filter(source="salesforce")
        assert deals.filter(status="won").count() == 30
        won = deals.filter(status="won").order_by("amount").first()
        assert (won.amount, won.lead.email) == (1000, "opp0@exemple.fr")
        assert deals.get(name="Direct").lead.email == "opp0@exemple.fr"

    # Won later in Salesforce: updated here, nothing re-created.
    open_one = next(
        r for r in fake.records["Opportunity"].values() if r["StageName"] == "Negotiation/Review"
    )
    fake.update("Opportunity", open_one["Id"], StageName="Closed Won", Amount=5000)
    run = sync(salesforce)
    assert (run.deals_created, run.status) == (0, "ok")
    with tenant_context(trio.alpha.pk):
        deal = Deal.objects.for_org(trio.alpha).get(source="salesforce", external_id=open_one["Id"])
        assert (deal.status, deal.amount) == ("won", 5000)


def test_an_expired_token_is_renewed_once(salesforce, fake, trio):
    connector = SalesforceConnector()
    client = client_for(salesforce)
    connector.check(salesforce, client)
    fake.expire_tokens()
    connector.check(salesforce, client)
    assert fake.token_calls == 2


def test_bad_credentials_are_an_auth_error(trio, fake):
    connection = connect(
        trio.alpha,
        "salesforce",
        base_url=fake.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": "no"},
    )
    with pytest.raises(AuthError):
        SalesforceConnector().check(connection, client_for(connection))


def test_the_daily_limit_is_retryable_not_an_auth_failure(trio):
    with FakeSalesforce(limit=3, window=3600) as small:
        connection = connect(
            trio.alpha,
            "salesforce",
            base_url=small.base_url,
            credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        connector = SalesforceConnector()
        client = client_for(connection)
        for _ in range(3):
            connector.check(connection, client)
        with pytest.raises(ConnectorError) as limited:
            connector.check(connection, client)
        assert limited.value.retryable and not isinstance(limited.value, AuthError)
        assert small.calls()[-1].path.endswith("/limits")
        run = sync(connection)
        assert run.status == "error" and "limit" in run.error
        assert reload(connection).status == "error"


def test_pull_all_pages_without_writing(salesforce, fake):
    for i in range(120):
        fake.create(
            "Opportunity", Name=f"O{i}", Amount=i, StageName="Prospecting", CloseDate="2026-12-31"
        )
    _events, deals, cursor, pages = pull_all(
        SalesforceConnector(), salesforce, client_for(salesforce), "deals"
    )
    assert (len(deals), pages) == (120, 3)
    assert "next" not in cursor and cursor["since"]


def test_the_first_sync_starts_from_the_since_setting(trio, fake):
    fake.create("Opportunity", Name="Old", Amount=1, StageName="Closed Won", CloseDate="2026-01-01")
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    connection = connect(
        trio.alpha,
        "salesforce",
        base_url=fake.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        settings={"since": tomorrow},
        name="recent only",
    )
    _events, deals, _cursor, _pages = pull_all(
        SalesforceConnector(), connection, client_for(connection), "deals"
    )
    assert deals == []
    assert f"LastModifiedDate >= {tomorrow}T00:00:00Z" in fake.calls("GET", r".*/query")[-1].arg(
        "q"
    )
