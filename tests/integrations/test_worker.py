"""End to end through a real Celery worker (Redis, the application role under RLS): a
lead becoming MQL is delivered to a receiver on 127.0.0.1 once the change commits."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook

from integrations import webhooks_out
from integrations.models import WebhookDelivery
from leads.models import Lead
from leads.services import lead_mark_mql

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_an_mql_is_delivered_by_the_worker(trio, as_org, local_server, celery_worker_process):
    with as_org(trio.alpha):
        _subscription, secret = webhooks_out.subscription_create(
            actor=trio.alice_membership,
            url=f"{local_server.url}/hook",
            event_types=["lead.mql"],
        )
        lead = Lead.objects.create(organization=trio.alpha, email="w@acme.test")
    with as_org(trio.alpha):  # commits: the on-commit task is sent to the worker
        lead_mark_mql(lead=lead, reason="score")
    assert _wait(lambda: local_server.received), celery_worker_process.log.read_text()[-3000:]
    received = local_server.received[0]
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "lead.mql"
    assert payload["data"]["lead"]["email"] == "w@acme.test"

    def delivered():
        with as_org(trio.alpha):
            return WebhookDelivery.objects.for_org(trio.alpha).get().status == "delivered"

    assert _wait(delivered)
