"""End to end with the real Celery worker on Redis: an event batch through the API →
the on-commit task on the ``scoring`` queue → score → MQL → routed → owner notified."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead, Stage
from smarketing.notifications.models import Notification
from smarketing.tenancy.db import tenant_context

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _state(org, email):
    with tenant_context(org.pk):
        lead = Lead.objects.for_org(org).filter(email=email).first()
        if lead is None:
            return None, []
        kinds = list(
            Notification.objects.for_org(org)
            .filter(recipient_id=lead.owner_id)
            .values_list("kind", flat=True)
        )
        return lead, kinds


def test_an_event_batch_through_the_api_makes_a_notified_mql(api, trio, celery_worker_process):
    now = timezone.now()
    email = "claire@exemple.fr"
    events = [
        {
            "id": f"w{n}",
            "type": "page_view",
            "occurred_at": (now - timedelta(days=3 - n)).isoformat(),
            "email": email,
            "url": "https://www.exemple.fr/tarifs",
            "country": "FR",
            "first_name": "Claire",
        }
        for n in range(3)
    ]
    events.append(
        {"id": "w-demo", "type": "demo_request", "occurred_at": now.isoformat(), "email": email}
    )
    response = api.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 202 and response.json()["accepted"] == 4

    deadline = time.monotonic() + 30
    lead, kinds = None, []
    while time.monotonic() < deadline:
        lead, kinds = _state(trio.alpha, email)
        if lead is not None and lead.stage == Stage.MQL and lead.owner_id and "lead.mql" in kinds:
            break
        time.sleep(0.2)
    else:
        log = celery_worker_process.log.read_text()[-3000:]
        pytest.fail(f"not an MQL in 30 s: {lead and (lead.stage, lead.score)} {kinds}\n{log}")
    assert lead.score == 100 and lead.hot and lead.rescore_requested_at is None
    assert lead.owner_id == trio.bob.pk  # alpha's only sales rep
    assert sorted(kinds) == ["lead.hot", "lead.mql"]
