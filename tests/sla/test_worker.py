"""End to end with the real Celery worker on Redis: a demo request through the API starts
a clock; with its deadlines brought close (time controlled), the ``sla.scan`` task run by
the worker — sent twice per tick, as two beats would — warns, breaches and escalates it,
each notified once, and the chat webhook (a local HTTP server) gets each message once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from sla.models import Clock
from sla.tasks import scan
from smarketing.notifications import chat
from smarketing.notifications.models import ChatDelivery, Notification
from smarketing.tenancy.db import tenant_context

from ..notifications.test_chat import hook_server  # noqa: F401 - the local webhook server

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _state(org):
    with tenant_context(org.pk):
        notes = list(
            Notification.objects.for_org(org)
            .filter(kind__startswith="sla.")
            .exclude(kind__in=["sla.signature", "sla.contract_signed"])
            .values_list("kind", "recipient_id")
        )
        sent = list(
            ChatDelivery.objects.for_org(org)
            .filter(status=ChatDelivery.Status.SENT)
            .values_list("kind", flat=True)
        )
    return notes, sent


def test_a_demo_request_is_warned_breached_and_escalated_once(
    api,
    trio,
    heads,
    signed,
    hook_server,  # noqa: F811 - the fixture imported above
    celery_worker_process,
):
    with override_settings(CHAT_WEBHOOK_ALLOW_INSECURE=True), tenant_context(trio.alpha.pk):
        chat.webhook_save(actor=None, organization=trio.alpha, url=hook_server.url)
    now = timezone.now()
    response = api.post(
        "/api/v1/events",
        {
            "id": "demo-1",
            "type": "demo_request",
            "occurred_at": now.isoformat(),
            "email": "claire@exemple.fr",
        },
        format="json",
    )
    assert response.status_code == 202
    with tenant_context(trio.alpha.pk):
        (clock,) = Clock.objects.for_org(trio.alpha).select_related("commitment")
        assert clock.commitment.event_type == "demo_request" and clock.status == "running"
        # Time, controlled: the 2 business hours are almost over.
        soon = timezone.now()
        Clock.objects.for_org(trio.alpha).filter(pk=clock.pk).update(
            warn_at=soon + timedelta(seconds=1),
            due_at=soon + timedelta(seconds=3),
            escalate_at=soon + timedelta(seconds=5),
        )

    expected = {"sla.warned", "sla.breached", "sla.escalated"}
    deadline = time.monotonic() + 45
    notes, sent = [], []
    while time.monotonic() < deadline:
        scan.delay()
        scan.delay()  # a second scheduler, at the same time
        notes, sent = _state(trio.alpha)
        if {k for k, _r in notes} == expected and set(sent) == expected:
            break
        time.sleep(0.5)
    else:
        log = celery_worker_process.log.read_text()[-3000:]
        pytest.fail(f"not done in 45 s: {notes} {sent}\n{log}")
    for _ in range(4):  # more ticks change nothing
        scan.delay()
    time.sleep(2)
    notes, sent = _state(trio.alpha)
    # The lead has no owner yet: the sales manager is told each time.
    assert sorted(notes) == sorted(
        [
            ("sla.warned", heads.sam.pk),
            ("sla.breached", heads.sam.pk),
            ("sla.escalated", heads.sam.pk),
        ]
    )
    assert sorted(sent) == sorted(expected)
    texts = sorted(body.decode() for _headers, body in hook_server.received)
    assert len(texts) == 3 and all("claire@exemple.fr" in t for t in texts)
    with tenant_context(trio.alpha.pk):
        clock = Clock.objects.for_org(trio.alpha).get(pk=clock.pk)
    assert clock.status == "breached" and clock.warned_at and clock.escalated_at
