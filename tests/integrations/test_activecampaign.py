"""ActiveCampaign: form-encoded webhooks verified by the URL token (through the public
view), mapped to events; the contacts pull at 5 requests per second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.connectors.activecampaign import ActiveCampaignConnector
from leads.models import Event, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.activecampaign import API_KEY, WEBHOOK_TOKEN, FakeActiveCampaign, webhook_body
from .fakes.connections import client_for, connect, pull_all, sync


@pytest.fixture
def fake():
    with FakeActiveCampaign() as server:
        yield server


@pytest.fixture
def activecampaign(trio, fake):
    return connect(
        trio.alpha,
        "activecampaign",
        base_url=fake.base_url,
        credentials={"api_key": API_KEY, "webhook_token": WEBHOOK_TOKEN},
        settings={"forms": {"7": {"content": "etude-de-cas-industrie"}}},
    )


def post(client, connection, body: bytes, token: str | None = WEBHOOK_TOKEN):
    url = f"/connect/{connection.webhook_key}/" + (f"?token={token}" if token is not None else "")
    return client.post(url, data=body, content_type="application/x-www-form-urlencoded")


def test_webhooks_become_events(client, activecampaign, trio):
    at = datetime.now(UTC) - timedelta(minutes=3)
    deliveries = [
        webhook_body(
            "subscribe",
            email="Ines@Exemple.fr",
            at=at,
            **{"form[id]": "7", "form[name]": "Étude de cas"},
        ),
        webhook_body(
            "open",
            email="ines@exemple.fr",
            at=at + timedelta(minutes=1),
            **{"campaign[id]": "3", "campaign[name]": "Newsletter novembre", "message[id]": "9"},
        ),
        webhook_body(
            "click",
            email="ines@exemple.fr",
            at=at + timedelta(minutes=2),
            **{
                "campaign[id]": "3",
                "campaign[name]": "Newsletter novembre",
                "link[url]": "https://www.exemple.fr/tarifs",
            },
        ),
        webhook_body("sent", email="ines@exemple.fr", at=at, **{"campaign[id]": "3"}),
    ]
    statuses = [post(client, activecampaign, body).json() for body in deliveries]
    assert statuses == [
        {"accepted": 1, "duplicates": 0},
        {"accepted": 1, "duplicates": 0},
        {"accepted": 1, "duplicates": 0},
        {"accepted": 0, "duplicates": 0},
    ]
    with tenant_context(trio.alpha.pk):
        lead = (
            Lead.objects.for_org(trio.alpha).select_related("company").get(email="ines@exemple.fr")
        )
        assert (lead.first_name, lead.company.name) == ("Inès", "Exemple SA")
        events = (
            Event.objects.for_org(trio.alpha)
            .filter(lead=lead)
            .select_related("content", "campaign")
            .order_by("occurred_at")
        )
        assert [e.type for e in events] == ["content_download", "email_open", "email_click"]
        assert events[0].content.key == "etude-de-cas-industrie"
        assert events[2].url == "https://www.exemple.fr/tarifs"
        assert events[2].campaign.key == "newsletter-novembre"
    # The same delivery again: refused as a replay.
    assert post(client, activecampaign, deliveries[1]).status_code == 409


def test_a_wrong_or_missing_token_is_refused(client, activecampaign):
    body = webhook_body("subscribe", email="x@exemple.fr")
    assert post(client, activecampaign, body, token="guess").status_code == 401
    assert post(client, activecampaign, body, token=None).status_code == 401
    assert post(client, activecampaign, b"not a webhook").status_code == 400


def test_the_same_event_by_two_deliveries_is_one_event(activecampaign):
    connector = ActiveCampaignConnector()
    at = datetime.now(UTC)
    one = connector.webhook_to_events(
        activecampaign,
        {
            "type": "open",
            "date_time": at.isoformat(),
            "contact[id]": "1",
            "contact[email]": "a@exemple.fr",
            "campaign[id]": "2",
        },
    )
    two = connector.webhook_to_events(
        activecampaign,
        {
            "type": "open",
            "date_time": at.isoformat(),
            "contact[id]": "1",
            "contact[email]": "a@exemple.fr",
            "campaign[id]": "2",
            "initiated_by": "x",
        },
    )
    assert one[0]["id"] == two[0]["id"]


def test_contacts_are_pulled_at_five_requests_per_second(trio, activecampaign, fake):
    for i in range(320):
        fake.add_contact(f"ac{i}@exemple.fr", firstName=f"A{i}")
    run = sync(activecampaign)
    assert run.status == "ok", run.error
    assert run.events_accepted == 320
    calls = fake.calls("GET", r"/api/3/contacts")
    assert [int(c.arg("offset")) for c in calls] == [0, 100, 200, 300]
    assert fake.throttled == 0  # the client kept under the limit
    with tenant_context(trio.alpha.pk):
        assert Lead.objects.for_org(trio.alpha).get(email="ac7@exemple.fr").first_name == "A7"


def test_a_burst_over_the_limit_gets_429_and_is_retried(trio):
    with FakeActiveCampaign(limit=1, window=1.0) as small:
        for i in range(250):
            small.add_contact(f"b{i}@exemple.fr")
        connection = connect(
            trio.alpha,
            "activecampaign",
            base_url=small.base_url,
            credentials={"api_key": API_KEY, "webhook_token": WEBHOOK_TOKEN},
        )
        events, *_ = pull_all(
            ActiveCampaignConnector(),
            connection,
            client_for(connection, max_attempts=8),
            "contacts",
        )
        assert len(events) == 250 and small.throttled >= 1


def test_a_webhook_lands_in_its_own_organization_only(client, activecampaign, trio):
    charlie = connect(
        trio.charlie_org,
        "activecampaign",
        base_url="http://127.0.0.1:9",
        credentials={"api_key": "k", "webhook_token": "charlie-token-0123456789"},
    )
    body = webhook_body("open", email="shared@exemple.fr", **{"campaign[id]": "1"})
    # Charlie's token does not open Alpha's URL, nor the other way round.
    assert post(client, activecampaign, body, token="charlie-token-0123456789").status_code == 401
    assert post(client, charlie, body, token=WEBHOOK_TOKEN).status_code == 401
    assert post(client, activecampaign, body).status_code == 202
    with tenant_context(trio.alpha.pk):
        assert Lead.objects.for_org(trio.alpha).filter(email="shared@exemple.fr").exists()
    with tenant_context(trio.charlie_org.pk):
        assert not Lead.objects.for_org(trio.charlie_org).filter(email="shared@exemple.fr").exists()
