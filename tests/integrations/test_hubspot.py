"""HubSpot against the fake HubSpot: webhooks, contacts and form submissions in, deals
back, contacts pushed with their lifecycle stage, the rate limit."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from django.utils import timezone

from integrations.connectors.base import InboundRequest, LeadChange, WebhookRejected
from integrations.connectors.hubspot import HubSpotConnector
from leads.ingest import ingest_events
from leads.models import Deal, Event, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.connections import client_for, connect, hubspot_headers, pull_all, reload, sync
from .fakes.hubspot import CLIENT_SECRET, TOKEN, FakeHubSpot

DEMO_FORM = "11111111-aaaa-4bbb-8ccc-000000000001"
GUIDE_FORM = "11111111-aaaa-4bbb-8ccc-000000000002"


@pytest.fixture
def fake():
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def hubspot(trio, fake):
    return connect(
        trio.alpha,
        "hubspot",
        base_url=fake.base_url,
        credentials={"access_token": TOKEN, "client_secret": CLIENT_SECRET},
        settings={
            "forms": {
                DEMO_FORM: {"type": "demo_request"},
                GUIDE_FORM: {"content": "guide-alignement-smarketing"},
            }
        },
    )


def workflow_payload(email: str, submissions: list[tuple[str, int]]) -> dict:
    """What a contact-based workflow's "Send a webhook" action posts (classic format)."""
    return {
        "vid": 651,
        "canonical-vid": 651,
        "portal-id": 62515,
        "properties": {
            "email": {"value": email, "versions": []},
            "firstname": {"value": "Chloé"},
            "lastname": {"value": "Bernard"},
            "jobtitle": {"value": "Directrice marketing"},
            "company": {"value": "Exemple SA"},
            "country": {"value": "France"},
        },
        "form-submissions": [
            {
                "conversion-id": f"conv-{ts}",
                "timestamp": ts,
                "form-id": guid,
                "portal-id": 62515,
                "page-url": "https://www.exemple.fr/livre-blanc",
                "title": "Form",
            }
            for guid, ts in submissions
        ],
    }


def inbound(body: bytes, url: str, headers: dict, *, at=None) -> InboundRequest:
    return InboundRequest(
        method="POST", url=url, headers=headers, body=body, received_at=at or timezone.now()
    )


# --- Webhooks -----------------------------------------------------------------------------


def test_workflow_webhook_is_verified_and_becomes_form_events(hubspot):
    connector = HubSpotConnector()
    now_ms = int(time.time() * 1000)
    payload = workflow_payload(
        "Chloe.Bernard@Exemple.fr", [(GUIDE_FORM, now_ms - 60_000), (DEMO_FORM, now_ms - 1_000)]
    )
    body = json.dumps(payload).encode()
    url = f"https://smarketing.example/connect/{hubspot.webhook_key}/"
    parsed = connector.verify_webhook(
        hubspot, inbound(body, url, hubspot_headers(CLIENT_SECRET, "POST", url, body))
    )
    events = connector.webhook_to_events(hubspot, parsed)
    assert [e["type"] for e in events] == ["content_download", "demo_request"]
    guide, demo = events
    assert guide["id"].startswith(f"form:{GUIDE_FORM}:{now_ms - 60_000}:")  # + the e-mail's hash
    assert parsed.replay_key.startswith("v3:")
    assert guide["content"] == "guide-alignement-smarketing"
    assert demo["email"] == "chloe.bernard@exemple.fr"
    assert demo["country"] == "FR"  # "France" in HubSpot
    assert demo["title"] == "Directrice marketing"
    with tenant_context(hubspot.organization_id):
        result = ingest_events(organization=hubspot.organization, events=events, source="hubspot")
        again = ingest_events(organization=hubspot.organization, events=events, source="hubspot")
    assert (result.accepted, again.accepted, again.duplicates) == (2, 0, 2)


def test_webhook_with_a_bad_signature_or_no_secret_is_rejected(hubspot, trio):
    connector = HubSpotConnector()
    body = b"[]"
    url = f"https://smarketing.example/connect/{hubspot.webhook_key}/"
    headers = hubspot_headers("another-secret", "POST", url, body)
    with pytest.raises(WebhookRejected) as refused:
        connector.verify_webhook(hubspot, inbound(body, url, headers))
    assert refused.value.code == "bad_signature"
    stale = hubspot_headers(CLIENT_SECRET, "POST", url, body, int(time.time() * 1000) - 301_000)
    with pytest.raises(WebhookRejected) as refused:
        connector.verify_webhook(hubspot, inbound(body, url, stale))
    assert refused.value.code == "stale_timestamp"
    bare = connect(
        trio.alpha,
        "hubspot",
        base_url="http://127.0.0.1:9",
        credentials={"access_token": "x"},
        name="no secret",
    )
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(
            bare, inbound(body, url, hubspot_headers(CLIENT_SECRET, "POST", url, body))
        )


def test_webhooks_api_events_ask_for_a_sync(hubspot):
    connector = HubSpotConnector()
    delivery = [
        {
            "eventId": 100,
            "subscriptionId": 25,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 123,
            "changeSource": "FORM",
        }
    ]
    with tenant_context(hubspot.organization_id):  # as the inbound view calls it
        assert connector.webhook_to_events(hubspot, delivery) == []
    assert reload(hubspot).sync_requested_at is not None


# --- Pull -----------------------------------------------------------------------------------


def test_contacts_are_pulled_page_by_page_with_the_after_cursor(hubspot, fake, trio):
    base = int(time.time() * 1000) - 3_600_000
    for i in range(130):
        fake.add_contact(
            f"contact{i}@exemple.fr", firstname=f"C{i}", country="Belgique", _modified_ms=base + i
        )
    fake.add_contact("", firstname="No e-mail", _modified_ms=base + 200)
    run = sync(hubspot)
    assert run.status == "ok", run.error
    searches = fake.calls("POST", r"/crm/v3/objects/contacts/search")
    assert len(searches) == 2
    assert all(call.json()["limit"] <= 100 for call in searches)
    assert searches[1].json()["after"] == "100"
    with tenant_context(trio.alpha.pk):
        leads = Lead.objects.for_org(trio.alpha)
        assert leads.count() == 130
        assert leads.get(email="contact7@exemple.fr").country == "BE"
        assert Event.objects.for_org(trio.alpha).filter(type="custom:contact_synced").count() == 130

    # The next sync starts from the newest change: nothing new, nothing twice.
    fake.add_contact("late@exemple.fr", _modified_ms=base + 500)
    run = sync(hubspot)
    assert (run.events_accepted, run.status) == (1, "ok")
    last = fake.calls("POST", r"/crm/v3/objects/contacts/search")[-1].json()
    assert "after" not in last and int(last["filterGroups"][0]["filters"][0]["value"]) > base
    with tenant_context(trio.alpha.pk):
        assert Lead.objects.for_org(trio.alpha).count() == 131


def test_form_submissions_are_pulled_per_form_down_to_the_last_seen(hubspot, fake):
    fake.add_form("Demo", DEMO_FORM)
    fake.add_form("Guide", GUIDE_FORM)
    now_ms = int(time.time() * 1000)
    for i in range(70):
        fake.add_submission(
            GUIDE_FORM, submitted_ms=now_ms - 100_000 + i, email=f"g{i}@exemple.fr", firstname="G"
        )
    fake.add_submission(DEMO_FORM, submitted_ms=now_ms - 5_000, email="d@exemple.fr")
    connector = HubSpotConnector()
    client = client_for(hubspot)
    events, _deals, cursor, pages = pull_all(connector, hubspot, client, "form_submissions")
    assert pages == 3  # demo (1 page), guide (2 pages of ≤ 50)
    assert all(int(c.arg("limit")) <= 50 for c in fake.calls("GET", r"/form-integrations/v1/.*"))
    assert len(events) == 71
    assert {e["type"] for e in events} == {"demo_request", "content_download"}
    assert cursor["seen"][GUIDE_FORM] == now_ms - 100_000 + 69

    fake.add_submission(GUIDE_FORM, submitted_ms=now_ms, email="new@exemple.fr")
    events, *_ = pull_all(connector, hubspot, client, "form_submissions", cursor)
    assert [e["email"] for e in events] == ["new@exemple.fr"]


def test_deals_come_back_with_their_contact_and_status(hubspot, fake, trio):
    with tenant_context(trio.alpha.pk):
        ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": "x1",
                    "type": "form_submit",
                    "occurred_at": timezone.now().isoformat(),
                    "email": "buyer@exemple.fr",
                }
            ],
            source="api",
        )
    contact = fake.add_contact("buyer@exemple.fr")
    won = fake.add_deal(
        "Exemple SA – licences",
        amount="12000",
        stage="closedwon",
        contact_ids=[contact["id"]],
        closedate="2026-11-30T10:00:00Z",
    )
    fake.add_deal("Autre", amount="500.50", stage="appointmentscheduled")
    run = sync(hubspot)
    assert run.status == "ok", run.error
    assert fake.calls("POST", r"/crm/v4/associations/deal/contact/batch/read")
    with tenant_context(trio.alpha.pk):
        deal = Deal.objects.for_org(trio.alpha).get(source="hubspot", external_id=won["id"])
        assert (deal.status, deal.amount, deal.lead.email) == ("won", 12000, "buyer@exemple.fr")
        other = Deal.objects.for_org(trio.alpha).exclude(pk=deal.pk).get()
        assert (other.status, str(other.amount), other.lead) == ("open", "500.50", None)

    # Lost in HubSpot later: the CRM owns the deal's stage.
    fake.update_deal(won["id"], dealstage="closedlost")
    sync(hubspot)
    with tenant_context(trio.alpha.pk):
        assert Deal.objects.for_org(trio.alpha).get(pk=deal.pk).status == "lost"


# --- Push -----------------------------------------------------------------------------------


def test_push_sets_the_lifecycle_stage_and_fills_only_empty_attributes(hubspot, fake, trio):
    with tenant_context(trio.alpha.pk):
        ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": "p1",
                    "type": "form_submit",
                    "occurred_at": timezone.now().isoformat(),
                    "email": "mql@exemple.fr",
                    "first_name": "Marc",
                    "title": "DSI",
                }
            ],
            source="api",
        )
        lead = (
            Lead.objects.for_org(trio.alpha).select_related("company").get(email="mql@exemple.fr")
        )
    fake.add_contact("mql@exemple.fr", jobtitle="Directeur des systèmes d'information")
    connector = HubSpotConnector()
    client = client_for(hubspot)
    contact_id = connector.push_lead(
        hubspot, client, lead, LeadChange(from_stage="lead", to_stage="mql", at=timezone.now())
    )
    contact = fake.contacts[contact_id]["properties"]
    assert contact["lifecyclestage"] == "marketingqualifiedlead"
    assert contact["firstname"] == "Marc"  # was empty in HubSpot
    assert contact["jobtitle"] == "Directeur des systèmes d'information"  # HubSpot's kept
    # Later stage changes send the stage only.
    connector.push_lead(
        hubspot,
        client,
        lead,
        LeadChange(from_stage="sal", to_stage="sql", at=timezone.now(), external_id=contact_id),
    )
    assert fake.upserted[-1][1] == {
        "lifecyclestage": "salesqualifiedlead",
        "hs_lead_status": "IN_PROGRESS",
    }
    assert all(len(call.json()["inputs"]) <= 100 for call in fake.calls("POST", r".*/batch/.*"))


# --- Rate limit -------------------------------------------------------------------------------


def test_the_fake_enforces_190_requests_per_10_seconds(fake):
    statuses = []
    for _ in range(191):
        request = urllib.request.Request(  # noqa: S310 (the fake, on 127.0.0.1)
            f"{fake.base_url}/crm/v3/objects/contacts?limit=1",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request) as response:  # noqa: S310
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
            body = json.loads(error.read())
    assert statuses[:190] == [200] * 190
    assert statuses[190] == 429
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"


def test_a_429_is_waited_out_and_retried(trio):
    with FakeHubSpot(limit=2, window=1.0) as small:
        for i in range(250):
            small.add_contact(f"r{i}@exemple.fr")
        connection = connect(
            trio.alpha,
            "hubspot",
            base_url=small.base_url,
            credentials={"access_token": TOKEN},
            name="throttled",
        )
        client = client_for(connection, max_attempts=8)
        events, *_ = pull_all(HubSpotConnector(), connection, client, "contacts")
        assert len(events) == 250
        assert small.throttled >= 1  # it did answer 429, and the client waited it out
        assert client.sleep and max(client.sleep) < 5


def test_unknown_token_is_an_auth_error(trio, fake):
    connection = connect(
        trio.alpha, "hubspot", base_url=fake.base_url, credentials={"access_token": "wrong"}
    )
    run = sync(connection)
    assert run.status == "error"
    assert reload(connection).status == "error"


def test_many_leads_are_upserted_100_at_a_time_never_moving_a_stage_back(hubspot, fake, trio):
    emails = [f"bulk{i:03d}@exemple.fr" for i in range(250)]
    with tenant_context(trio.alpha.pk):
        ingest_events(
            organization=trio.alpha,
            events=[
                {
                    "id": f"b{i}",
                    "type": "form_submit",
                    "occurred_at": timezone.now().isoformat(),
                    "email": e,
                }
                for i, e in enumerate(emails)
            ],
            source="api",
        )
        leads = list(Lead.objects.for_org(trio.alpha).select_related("company").order_by("email"))
    fake.add_contact("bulk000@exemple.fr", lifecyclestage="customer")
    results = HubSpotConnector().push_leads(
        hubspot,
        client_for(hubspot),
        [
            (lead, LeadChange(from_stage="lead", to_stage="mql", at=timezone.now()))
            for lead in leads
        ],
    )
    assert all(contact_id and not error for contact_id, error in results)
    upserts = fake.calls("POST", r"/crm/v3/objects/contacts/batch/upsert")
    assert [len(call.json()["inputs"]) for call in upserts] == [100, 100, 50]
    assert all(len(c.json()["inputs"]) <= 100 for c in fake.calls("POST", r".*/batch/read"))
    assert fake.contact_by_email("bulk000@exemple.fr")["properties"]["lifecyclestage"] == "customer"
    assert fake.contact_by_email("bulk001@exemple.fr")["properties"]["lifecyclestage"] == (
        "marketingqualifiedlead"
    )


# --- Normalization shared by the connectors -----------------------------------------------


def test_sanitize_drops_bad_fields_not_events():
    from integrations.connectors import _normalize as norm

    now = timezone.now()
    events = norm.sanitize_events(
        [
            {
                "id": "ok-1",
                "type": "form_submit",
                "occurred_at": now.isoformat(),
                "email": "A@Exemple.FR",
                "country": "Suisse",
                "phone": "x" * 60,  # truncated to the lead's 40 characters
                "company_domain": "not a domain",  # dropped
            },
            {"id": "no-email", "type": "form_submit", "occurred_at": now.isoformat()},
            {"id": "bad-time", "type": "page_view", "occurred_at": "yesterday", "email": "b@x.fr"},
        ],
        now=now,
    )
    assert [e["id"] for e in events] == ["ok-1"]
    (event,) = events
    assert (event["email"], event["country"], len(event["phone"])) == ("a@exemple.fr", "CH", 40)
    assert "company_domain" not in event


def test_vendor_times():
    from integrations.connectors import _normalize as norm

    assert norm.parse_time("2026-11-30 10:00:00").isoformat() == "2026-11-30T10:00:00+00:00"
    assert (
        norm.parse_time("2026-11-30T10:00:00.000+0000").isoformat() == "2026-11-30T10:00:00+00:00"
    )
    assert norm.parse_time("2026-11-30").isoformat() == "2026-11-30T00:00:00+00:00"
    assert norm.parse_time(1764496800000).isoformat() == "2025-11-30T10:00:00+00:00"
    assert norm.parse_time("") is None and norm.parse_time("soon") is None
    assert norm.country_code("belgique") == "BE" and norm.country_code("Narnia") == ""
