"""The chat channel: an incoming webhook on a local HTTP server (127.0.0.1) receives one
signed message per notification event, retried with back-off, logged."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from smarketing.notifications import chat
from smarketing.notifications.models import ChatDelivery, ChatWebhook
from smarketing.notifications.services import notify
from smarketing.notifications.tasks import sweep_chat_deliveries
from smarketing.tenancy.db import system_context, tenant_context

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("insecure_ok")]


@pytest.fixture
def insecure_ok():
    with override_settings(CHAT_WEBHOOK_ALLOW_INSECURE=True):
        yield


class _Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.received.append((dict(self.headers), body))
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/secrettoken1234"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(trio, hook_server):
    with tenant_context(trio.alpha.pk):
        return chat.webhook_save(
            actor=trio.alice_membership, organization=trio.alpha, url=hook_server.url
        )


def _notify(trio, key="sla.breached:1", kind="sla.breached"):
    with tenant_context(trio.alpha.pk):
        notify(
            organization=trio.alpha,
            recipients=[trio.alice, trio.bob],
            kind=kind,
            title="Follow-up deadline missed: Claire (due 12/01 10:30)",
            body="Demo request → 2 h",
            url="/o/alpha/leads/1/",
            dedupe_key=key,
        )


def _deliveries(org):
    with tenant_context(org.pk):
        return list(ChatDelivery.objects.for_org(org).order_by("pk"))


def _deliver_all(org, now=None):
    with tenant_context(org.pk):
        due = chat.due_deliveries(organization=org, now=now)
        return [chat.deliver(organization=org, delivery_id=pk, now=now) for pk in due]


def test_the_url_is_stored_encrypted_and_shown_as_a_hint(trio, webhook, hook_server):
    assert hook_server.url not in webhook.url_encrypted
    assert chat.webhook_url(webhook) == hook_server.url
    assert (
        webhook.url_hint.startswith("http://127.0.0.1:") and "secrettoken" not in webhook.url_hint
    )
    assert webhook.kinds == ["sla.*"] and webhook.active


def test_one_message_per_event_not_per_recipient(trio, webhook):
    _notify(trio)
    _notify(trio)  # the same event again
    _notify(trio, key="lead.hot:9", kind="lead.hot")  # not a kind the channel wants
    (delivery,) = _deliveries(trio.alpha)
    assert delivery.kind == "sla.breached" and delivery.status == ChatDelivery.Status.PENDING
    assert delivery.text.startswith("Follow-up deadline missed: Claire")
    assert delivery.text.endswith("/o/alpha/leads/1/>")


def test_delivery_is_signed_and_logged(trio, webhook, hook_server):
    _notify(trio)
    assert _deliver_all(trio.alpha) == [True]
    ((headers, body),) = hook_server.received
    assert json.loads(body) == {"text": _deliveries(trio.alpha)[0].text}
    timestamp = headers[chat.TIMESTAMP_HEADER]
    secret = chat.webhook_secret(webhook)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers[chat.SIGNATURE_HEADER] == "v1=" + expected.hexdigest()
    (delivery,) = _deliveries(trio.alpha)
    assert delivery.status == ChatDelivery.Status.SENT and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.delivered_at is not None
    # Sent once: a second sender finds nothing to claim.
    with tenant_context(trio.alpha.pk):
        assert not chat.deliver(organization=trio.alpha, delivery_id=delivery.pk)
    assert len(hook_server.received) == 1


def test_server_errors_are_retried_with_back_off(trio, webhook, hook_server):
    hook_server.statuses = [500, 503]
    _notify(trio)
    start = timezone.now()
    assert _deliver_all(trio.alpha, start) == [False]
    (delivery,) = _deliveries(trio.alpha)
    assert delivery.status == ChatDelivery.Status.PENDING and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    gap = delivery.next_attempt_at - start
    assert timedelta(seconds=55) < gap < timedelta(seconds=65)  # 1 minute
    assert _deliver_all(trio.alpha, start + timedelta(seconds=30)) == []  # not due yet
    assert _deliver_all(trio.alpha, delivery.next_attempt_at) == [False]
    delivery = _deliveries(trio.alpha)[0]
    assert delivery.attempts == 2 and delivery.last_status_code == 503
    assert timedelta(minutes=4) < delivery.next_attempt_at - timezone.now() <= timedelta(minutes=5)
    assert _deliver_all(trio.alpha, delivery.next_attempt_at) == [True]
    delivery = _deliveries(trio.alpha)[0]
    assert delivery.status == ChatDelivery.Status.SENT and delivery.attempts == 3
    assert len(hook_server.received) == 3


def test_an_unreachable_server_is_retried_then_failed(trio, webhook, hook_server):
    _notify(trio)
    hook_server.shutdown()
    hook_server.server_close()
    now = timezone.now()
    for _attempt in range(chat.MAX_ATTEMPTS):
        with tenant_context(trio.alpha.pk):
            ChatDelivery.objects.for_org(trio.alpha).update(next_attempt_at=now)
        assert _deliver_all(trio.alpha, now) == [False]
    (delivery,) = _deliveries(trio.alpha)
    assert delivery.status == ChatDelivery.Status.FAILED
    assert delivery.attempts == chat.MAX_ATTEMPTS and delivery.last_status_code is None


def test_a_client_error_fails_at_once(trio, webhook, hook_server):
    hook_server.statuses = [404]
    _notify(trio)
    assert _deliver_all(trio.alpha) == [False]
    (delivery,) = _deliveries(trio.alpha)
    assert delivery.status == ChatDelivery.Status.FAILED and delivery.last_status_code == 404


def test_the_sweeper_sends_what_is_due_in_every_organization(trio, webhook, hook_server):
    _notify(trio)
    assert sweep_chat_deliveries() == 1
    assert len(hook_server.received) == 1
    assert sweep_chat_deliveries() == 0


def test_a_dead_workers_claim_is_taken_back(trio, webhook, hook_server):
    _notify(trio)
    long_ago = timezone.now() - timedelta(minutes=10)
    with tenant_context(trio.alpha.pk):
        ChatDelivery.objects.for_org(trio.alpha).update(
            status=ChatDelivery.Status.SENDING, claimed_at=long_ago, attempts=1
        )
    assert _deliver_all(trio.alpha) == [True]


def test_an_inactive_webhook_gets_nothing(trio, webhook):
    with tenant_context(trio.alpha.pk):
        chat.webhook_save(actor=trio.alice_membership, organization=trio.alpha, active=False)
    _notify(trio)
    assert _deliveries(trio.alpha) == []


def test_kinds_and_urls_are_validated(trio, webhook):
    with tenant_context(trio.alpha.pk), pytest.raises(chat.ChatError):
        chat.webhook_save(actor=trio.alice_membership, organization=trio.alpha, kinds=["nope.*"])
    with override_settings(CHAT_WEBHOOK_ALLOW_INSECURE=False):
        for url in ("http://hooks.slack.com/x", "https://127.0.0.1/x", "ftp://x", "nonsense"):
            with pytest.raises(chat.ChatError):
                chat.validate_url(url)
        assert chat.validate_url("https://hooks.slack.com/services/T/B/x")


def test_only_managers_configure_it(trio):
    from smarketing.tenancy.permissions import PermissionDenied

    with tenant_context(trio.alpha.pk), pytest.raises(PermissionDenied):
        chat.webhook_save(
            actor=trio.bob_membership, organization=trio.alpha, url="https://hooks.slack.com/x"
        )


def test_each_organization_has_its_own(trio, webhook):
    with system_context("test: every webhook"):
        assert list(ChatWebhook.unscoped.values_list("organization_id", flat=True)) == [
            trio.alpha.pk
        ]
    with tenant_context(trio.charlie_org.pk):
        assert chat.webhook_for(trio.charlie_org) is None


# --- the settings page ------------------------------------------------------------------


def test_the_settings_page(trio, client_for, hook_server):
    url = "/o/alpha/notifications/chat-webhook/"
    assert client_for(trio.charlie).get(url).status_code == 404
    assert client_for(trio.bob).get(url).status_code == 403
    alice = client_for(trio.alice)
    assert alice.get(url).status_code == 200
    response = alice.post(url, {"action": "save", "url": "not a url", "kinds": ["sla.*"]})
    assert response.status_code == 400
    response = alice.post(
        url,
        {"action": "save", "url": hook_server.url, "kinds": ["sla.*", "lead.hot"], "active": "on"},
    )
    assert response.status_code == 302
    with tenant_context(trio.alpha.pk):
        webhook = chat.webhook_for(trio.alpha)
    assert webhook.kinds == ["sla.*", "lead.hot"] and chat.webhook_url(webhook) == hook_server.url
    page = alice.get(url)
    assert hook_server.url not in page.content.decode()  # the address is a secret
    assert alice.post(url, {"action": "test"}).status_code == 302
    assert len(_deliveries(trio.alpha)) == 1
    assert alice.post(url, {"action": "delete"}).status_code == 302
    with tenant_context(trio.alpha.pk):
        assert chat.webhook_for(trio.alpha) is None


def test_notify_many_is_notify_for_each_event(trio, webhook):
    from smarketing.notifications.services import Event, notify_many

    events = [
        Event(recipients=(trio.alice, trio.bob), kind="sla.warned", title="A", dedupe_key="k1"),
        Event(
            recipients=(trio.bob.pk, trio.charlie.pk),
            kind="sla.breached",
            title="B",
            dedupe_key="k2",
        ),
    ]
    with tenant_context(trio.alpha.pk):
        created = notify_many(organization=trio.alpha, events=events)
        again = notify_many(organization=trio.alpha, events=events)
    # charlie is not a member of alpha: skipped; the same events twice: nothing new.
    assert sorted((n.dedupe_key, n.recipient_id) for n in created) == [
        ("k1", trio.alice.pk),
        ("k1", trio.bob.pk),
        ("k2", trio.bob.pk),
    ]
    assert again == []
    assert [d.dedupe_key for d in _deliveries(trio.alpha)] == ["k1", "k2"]
