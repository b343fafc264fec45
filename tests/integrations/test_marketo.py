"""Marketo against the fake Marketo: identity token, activities with paging tokens and
moreResult, leads in batches of 300, error 606 (its rate limit) waited out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.connectors.base import AuthError, ConnectorError
from integrations.connectors.marketo import MarketoConnector
from leads.models import Event, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.connections import client_for, connect, pull_all, sync
from .fakes.marketo import CLIENT_ID, CLIENT_SECRET, FakeMarketo

SETTINGS = {
    "forms": {
        "Livre blanc SLA": {"content": "livre-blanc-sla"},
        "Demande de démo": {"type": "demo_request"},
    }
}


@pytest.fixture
def fake():
    with FakeMarketo() as server:
        yield server


@pytest.fixture
def marketo(trio, fake):
    return connect(
        trio.alpha,
        "marketo",
        base_url=fake.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        settings=SETTINGS,
    )


def test_activities_become_events_with_their_lead(marketo, fake, trio):
    lead = fake.add_lead(
        "Lea.Moreau@Exemple.fr", firstName="Léa", lastName="Moreau", country="France", title="CMO"
    )
    at = datetime.now(UTC) - timedelta(hours=2)
    fake.add_activity(lead["id"], 12, at=at)
    fake.add_activity(lead["id"], 1, at=at + timedelta(minutes=1), primary="www.exemple.fr/tarifs")
    fake.add_activity(
        lead["id"],
        2,
        at=at + timedelta(minutes=2),
        primary="Livre blanc SLA",
        Referrer_URL="https://www.exemple.fr/ressources",
    )
    fake.add_activity(lead["id"], 2, at=at + timedelta(minutes=3), primary="Demande de démo")
    fake.add_activity(
        lead["id"],
        11,
        at=at + timedelta(minutes=4),
        primary="Newsletter",
        Link="https://www.exemple.fr/blog",
    )
    fake.add_activity(lead["id"], 46, at=at + timedelta(minutes=5))  # not asked for
    run = sync(marketo)
    assert run.status == "ok", run.error
    assert run.events_accepted == 5
    with tenant_context(trio.alpha.pk):
        found = Lead.objects.for_org(trio.alpha).get(email="lea.moreau@exemple.fr")
        assert (found.first_name, found.country, found.title) == ("Léa", "FR", "CMO")
        events = (
            Event.objects.for_org(trio.alpha)
            .filter(lead=found)
            .select_related("content")
            .order_by("occurred_at")
        )
        assert [e.type for e in events] == [
            "custom:contact_synced",
            "page_view",
            "content_download",
            "demo_request",
            "email_click",
        ]
        assert events[1].url == "https://www.exemple.fr/tarifs"
        assert events[2].content.key == "livre-blanc-sla"
        assert events[4].url == "https://www.exemple.fr/blog"
    # Nothing new: the saved paging token resumes after the last activity.
    run = sync(marketo)
    assert (run.events_accepted, run.events_duplicate) == (0, 0)


def test_pages_of_300_and_leads_fetched_300_at_a_time(marketo, fake):
    at = datetime.now(UTC) - timedelta(days=1)
    for i in range(700):
        lead = fake.add_lead(f"m{i}@exemple.fr")
        fake.add_activity(
            lead["id"], 1, at=at + timedelta(seconds=i), primary=f"www.exemple.fr/p{i}"
        )
    events, _deals, cursor, pages = pull_all(
        MarketoConnector(), marketo, client_for(marketo), "activities"
    )
    assert (len(events), pages) == (700, 3)
    assert all(
        int(c.arg("batchSize")) <= 300 for c in fake.calls("GET", r"/rest/v1/activities\.json")
    )
    lead_calls = fake.calls("GET", r"/rest/v1/leads\.json")
    assert all(len(c.arg("filterValues").split(",")) <= 300 for c in lead_calls)
    assert cursor["token"]
    assert fake.token_calls == 1


def test_an_expired_token_is_fetched_again(marketo, fake):
    connector = MarketoConnector()
    client = client_for(marketo)
    connector.check(marketo, client)
    fake.expire_tokens()
    connector.check(marketo, client)
    assert fake.token_calls == 2


def test_bad_credentials(trio, fake):
    connection = connect(
        trio.alpha,
        "marketo",
        base_url=fake.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": "no"},
    )
    with pytest.raises(AuthError):
        MarketoConnector().check(connection, client_for(connection))


def test_error_606_is_waited_out_then_given_up(trio):
    with FakeMarketo(limit=3, window=1.0) as small:
        lead = small.add_lead("r@exemple.fr")
        for i in range(5):
            small.add_activity(lead["id"], 1, primary=f"www.exemple.fr/{i}")
        connection = connect(
            trio.alpha,
            "marketo",
            base_url=small.base_url,
            credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        connector = MarketoConnector()
        client = client_for(connection)
        for _ in range(4):
            connector.check(connection, client)
        assert small.throttled >= 1 and client.sleep  # 606 answered, waited, then passed
        # A limit that never frees: retryable failure, not an auth error.
        small.rate.limit = 0
        with pytest.raises(ConnectorError) as failed:
            connector.check(connection, client)
        assert failed.value.retryable and not isinstance(failed.value, AuthError)
