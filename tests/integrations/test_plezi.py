"""Plezi against the fake Plezi: tenant and key headers, JSON:API pages, contacts and
content downloads with their included contact and content, 429."""

from __future__ import annotations

import pytest

from integrations.connectors.plezi import PleziConnector
from leads.models import Event, Lead
from smarketing.tenancy.db import tenant_context

from .fakes.connections import client_for, connect, pull_all, reload, sync
from .fakes.plezi import API_KEY, COMPANY, FakePlezi


@pytest.fixture
def fake():
    with FakePlezi() as server:
        yield server


@pytest.fixture
def plezi(trio, fake):
    return connect(
        trio.alpha,
        "plezi",
        base_url=f"{fake.base_url}/api/v1",
        credentials={"tenant_company": COMPANY, "api_key": API_KEY},
    )


def test_contacts_and_downloads_become_leads_and_content_events(plezi, fake, trio):
    contact = fake.add_contact(
        "Hugo.Petit@Exemple.fr", first_name="Hugo", job_title="Head of Sales", country="FR"
    )
    guide = fake.add_content("Guide : l'alignement ventes-marketing", slug="guide-alignement")
    untitled = fake.add_content("Checklist SLA")
    fake.add_submission(contact["id"], content_id=guide["id"], form_name="Télécharger le guide")
    fake.add_submission(contact["id"], content_id=untitled["id"])
    fake.add_submission(contact["id"], form_name="Contact")
    run = sync(plezi)
    assert run.status == "ok", run.error
    assert run.events_accepted == 4
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).get(email="hugo.petit@exemple.fr")
        assert (lead.first_name, lead.title, lead.country) == ("Hugo", "Head of Sales", "FR")
        events = (
            Event.objects.for_org(trio.alpha)
            .filter(lead=lead)
            .select_related("content")
            .order_by("occurred_at", "pk")
        )
        assert [e.type for e in events] == [
            "custom:contact_synced",
            "content_download",
            "content_download",
            "form_submit",
        ]
        assert [e.content.key for e in events if e.content] == ["guide-alignement", "checklist-sla"]
    assert all(
        c.header("X-Tenant-Company") == COMPANY and c.header("X-API-Key") == API_KEY
        for c in fake.calls()
    )
    # Nothing new next time.
    assert sync(plezi).events_accepted == 0


def test_pages_follow_the_next_link_on_our_own_base_url(plezi, fake):
    for i in range(230):
        fake.add_contact(f"p{i}@exemple.fr")
    events, _deals, cursor, pages = pull_all(PleziConnector(), plezi, client_for(plezi), "contacts")
    assert (len(events), pages) == (230, 3)
    assert [int(c.arg("page[number]")) for c in fake.calls("GET", r"/api/v1/contacts")] == [1, 2, 3]
    assert all(int(c.arg("page[size]")) <= 100 for c in fake.calls())
    assert cursor["since"]
    fake.add_contact("later@exemple.fr")
    events, *_ = pull_all(PleziConnector(), plezi, client_for(plezi), "contacts", cursor)
    # From the newest change seen (≥): the boundary contact again (a duplicate) and the new.
    assert {e["email"] for e in events} == {"p229@exemple.fr", "later@exemple.fr"}


def test_wrong_key_puts_the_connection_in_error(trio, fake):
    connection = connect(
        trio.alpha,
        "plezi",
        base_url=f"{fake.base_url}/api/v1",
        credentials={"tenant_company": COMPANY, "api_key": "no"},
    )
    assert sync(connection).status == "error"
    assert reload(connection).status == "error"


def test_429_is_waited_out(trio):
    with FakePlezi(limit=2, window=1.0) as small:
        for i in range(450):
            small.add_contact(f"t{i}@exemple.fr")
        connection = connect(
            trio.alpha,
            "plezi",
            base_url=f"{small.base_url}/api/v1",
            credentials={"tenant_company": COMPANY, "api_key": API_KEY},
        )
        events, *_ = pull_all(
            PleziConnector(), connection, client_for(connection, max_attempts=8), "contacts"
        )
        assert len(events) == 450 and small.throttled >= 1
