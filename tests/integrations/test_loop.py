"""The closed loop (issue 8, "Done when"): a HubSpot form-submission webhook creates a
lead; the agreed scoring makes it an MQL; it is pushed to Salesforce; the opportunity
won there comes back as a deal; its revenue is attributed to the content the lead
downloaded.

Everything real except the vendors: the signed request goes through the public
``/connect/<key>/`` view, scoring and the push run as (eager) Celery tasks on commit,
Salesforce and HubSpot are the fakes on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dashboards.kpis import attribution, period_from_dates
from integrations.models import ExternalRecord
from leads.models import Deal, Event, Lead, LifecycleTransition
from scoring import services as scoring_services
from smarketing.celery import app
from smarketing.tenancy.db import tenant_context

from .fakes.connections import connect, hubspot_headers, sync
from .fakes.hubspot import CLIENT_SECRET, TOKEN, FakeHubSpot
from .fakes.salesforce import CLIENT_ID, FakeSalesforce
from .fakes.salesforce import CLIENT_SECRET as SF_SECRET

GUIDE_FORM = "0a1b2c3d-0000-4000-8000-00000000a001"
DEMO_FORM = "0a1b2c3d-0000-4000-8000-00000000d002"
GUIDE = "guide-alignement-smarketing"


@pytest.fixture
def eager():
    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.fixture
def vendors():
    with FakeHubSpot() as hubspot, FakeSalesforce() as salesforce:
        yield hubspot, salesforce


def test_form_to_mql_to_salesforce_to_won_deal_to_content_revenue(
    trio, client, eager, vendors, django_capture_on_commit_callbacks
):
    fake_hubspot, fake_salesforce = vendors
    org = trio.alpha
    with tenant_context(org.pk):
        scoring_services.create_starting_template(organization=org)
    hubspot = connect(
        org,
        "hubspot",
        base_url=fake_hubspot.base_url,
        credentials={"access_token": TOKEN, "client_secret": CLIENT_SECRET},
        settings={"forms": {GUIDE_FORM: {"content": GUIDE}, DEMO_FORM: {"type": "demo_request"}}},
    )
    salesforce = connect(
        org,
        "salesforce",
        base_url=fake_salesforce.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": SF_SECRET},
    )

    # 1. HubSpot's workflow posts the contact who filled the guide form, then the demo form.
    now_ms = int(time.time() * 1000)
    payload = {
        "vid": 9001,
        "properties": {
            "email": {"value": "Camille.Durand@Industrie-Exemple.fr"},
            "firstname": {"value": "Camille"},
            "lastname": {"value": "Durand"},
            "company": {"value": "Industrie Exemple"},
            "jobtitle": {"value": "Directrice commerciale"},
            "country": {"value": "France"},
        },
        "form-submissions": [
            {
                "form-id": GUIDE_FORM,
                "timestamp": now_ms - 120_000,
                "conversion-id": "c1",
                "page-url": "https://www.exemple.fr/ressources/guide",
                "title": "Guide",
            },
            {
                "form-id": DEMO_FORM,
                "timestamp": now_ms - 60_000,
                "conversion-id": "c2",
                "page-url": "https://www.exemple.fr/demo",
                "title": "Demo",
            },
        ],
    }
    body = json.dumps(payload).encode()
    url = f"http://testserver/connect/{hubspot.webhook_key}/"
    headers = hubspot_headers(CLIENT_SECRET, "POST", url, body)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/connect/{hubspot.webhook_key}/",
            data=body,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k != "Content-Type"},
        )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0}

    # The same request again is a replay: refused, nothing written twice.
    replay = client.post(
        f"/connect/{hubspot.webhook_key}/",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert replay.status_code == 409

    # 2. The lead exists, scored by the starting template: demo request (+50, hot) and
    #    France (+10) reach the MQL threshold (60).
    with tenant_context(org.pk):
        lead = Lead.objects.for_org(org).get(email="camille.durand@industrie-exemple.fr")
        assert (lead.first_name, lead.country) == ("Camille", "FR")
        assert lead.stage == "mql", (lead.score, lead.stage)
        assert lead.hot
        assert LifecycleTransition.objects.for_org(org).filter(lead=lead, to_stage="mql").exists()
        download = (
            Event.objects.for_org(org)
            .select_related("content")
            .get(lead=lead, type="content_download")
        )
        assert download.content.key == GUIDE

        # 3. Pushed to Salesforce on commit of the MQL: a Lead there, its id kept here.
        record = ExternalRecord.objects.for_org(org).get(connection=salesforce, lead=lead)
    (sf_lead,) = fake_salesforce.leads_by_email("camille.durand@industrie-exemple.fr")
    assert record.external_id == sf_lead["Id"]
    assert (sf_lead["LastName"], sf_lead["Company"], sf_lead["Status"]) == (
        "Durand",
        "Industrie Exemple",
        "Open - Not Contacted",
    )

    # 4. Sales converts it in Salesforce and wins the opportunity.
    opportunity = fake_salesforce.convert_lead(sf_lead["Id"], amount=24000, stage="Qualification")
    fake_salesforce.update(
        "Opportunity",
        opportunity["Id"],
        StageName="Closed Won",
        CloseDate=timezone.now().date().isoformat(),
    )
    run = sync(salesforce)
    assert run.status == "ok", run.error
    with tenant_context(org.pk):
        deal = Deal.objects.for_org(org).get(source="salesforce", external_id=opportunity["Id"])
        assert (deal.status, deal.amount, deal.lead_id) == ("won", Decimal("24000"), lead.pk)
        assert deal.created_at > download.occurred_at

        # 5. Its revenue goes to the content the lead downloaded before the deal.
        today = timezone.localdate(timezone=None)
        period = period_from_dates(org, today - timedelta(days=1), today + timedelta(days=1))
        rows = attribution(org, period, model="linear", by="content")
    credited = {row.key: row.revenue for row in rows if row.key}
    assert credited == {GUIDE: Decimal("24000")}
    first_touch = {r.key: r.revenue for r in attribution_rows(org, period, "first_touch") if r.key}
    assert first_touch == {GUIDE: Decimal("24000")}


def attribution_rows(org, period, model):
    with tenant_context(org.pk):
        return attribution(org, period, model=model, by="content")
