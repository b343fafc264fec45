"""Outbound Standard Webhooks: signatures (the spec's known answer), the outbox, real
delivery to a receiver on 127.0.0.1, retries with backoff, auto-disable, rotation,
redelivery, compare-and-swap claims, the signal receivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations import webhooks_out
from integrations.models import WebhookDelivery, WebhookSubscription
from leads.models import Deal, Lead, Stage
from leads.services import lead_accept, lead_mark_mql, lead_reject
from smarketing.notifications.models import Notification

pytestmark = pytest.mark.django_db

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_known_answer_vector():
    signature = webhooks_out.sign(
        secret=SPEC_SECRET,
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=datetime.fromtimestamp(1614265330, tz=UTC),
        body='{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_ignores_the_time_zone_of_the_timestamp():
    from zoneinfo import ZoneInfo

    paris = datetime.fromtimestamp(1614265330, tz=ZoneInfo("Europe/Paris"))
    assert (
        webhooks_out.sign(
            secret=SPEC_SECRET,
            message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=paris,
            body='{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_secrets_and_message_ids_have_the_spec_shapes():
    secret = webhooks_out.generate_secret()
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) == 32
    first = webhooks_out.new_message_id()
    assert first.startswith("msg_") and len(first) == 30
    assert first != webhooks_out.new_message_id()


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def subscribe(trio, as_org, local_server):
    def make(event_types=("lead.mql",), url=None, org=None, actor=None):
        with as_org(org or trio.alpha):
            return webhooks_out.subscription_create(
                actor=actor or trio.alice_membership,
                url=url or f"{local_server.url}/hook",
                event_types=list(event_types),
            )

    return make


def _lead(trio, as_org, email="lead@acme.test", **fields):
    with as_org(trio.alpha):
        return Lead.objects.create(organization=trio.alpha, email=email, **fields)


def _deliveries(trio, as_org, org=None):
    with as_org(org or trio.alpha):
        return list(WebhookDelivery.objects.for_org(org or trio.alpha).order_by("pk"))


# --- Outbox ------------------------------------------------------------------------------------


def test_mql_writes_a_delivery_in_the_same_transaction(
    trio, as_org, subscribe, dispatched, django_capture_on_commit_callbacks
):
    subscription, _secret = subscribe(["lead.mql", "deal.won"])
    subscribe(["lead.hot"], url="https://other.example.com/x")
    lead = _lead(trio, as_org)
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        lead_mark_mql(lead=lead, reason="score")
    [delivery] = _deliveries(trio, as_org)
    assert delivery.subscription_id == subscription.pk and delivery.event_type == "lead.mql"
    assert delivery.status == "pending" and delivery.message_id.startswith("msg_")
    assert delivery.payload["type"] == "lead.mql"
    assert delivery.payload["data"]["lead"]["email"] == "lead@acme.test"
    assert delivery.payload["data"]["to_stage"] == "mql"
    assert ("send_deliveries", (trio.alpha.pk, [delivery.pk])) in dispatched


def test_a_rolled_back_change_sends_nothing(trio, as_org, subscribe, dispatched):
    subscribe(["lead.mql"])
    lead = _lead(trio, as_org)
    with pytest.raises(RuntimeError), as_org(trio.alpha), transaction.atomic():
        lead_mark_mql(lead=lead, reason="score")
        raise RuntimeError
    assert _deliveries(trio, as_org) == []


def test_receivers_map_signals_to_event_types(trio, as_org, subscribe):
    from leads.services import deal_create, deal_update
    from scoring.signals import lead_became_hot

    subscribe(list(webhooks_out.EVENT_TYPES))
    lead = _lead(trio, as_org)
    other = _lead(trio, as_org, email="other@acme.test")
    with as_org(trio.alpha):
        lead_mark_mql(lead=lead, reason="score")
        lead_accept(actor=trio.bob_membership, lead=lead)
        lead_mark_mql(lead=other, reason="score")
        lead_reject(actor=trio.bob_membership, lead=other, reason="bad_fit")
        lead_became_hot.send(sender=Lead, organization=trio.alpha, lead=lead, at=timezone.now())
        deal = deal_create(
            actor=trio.alice_membership, organization=trio.alpha, name="D", amount=10, lead=lead
        )
        deal_update(actor=trio.alice_membership, deal=deal, data={"status": Deal.Status.WON})
    by_type = {d.event_type: d.payload["data"] for d in _deliveries(trio, as_org)}
    assert set(by_type) == {"lead.mql", "lead.accepted", "lead.rejected", "lead.hot", "deal.won"}
    assert by_type["lead.rejected"]["reason"] == "bad_fit"
    assert by_type["lead.rejected"]["lead"]["email"] == "other@acme.test"
    assert by_type["deal.won"]["deal"]["amount"] == "10.00"


def test_sla_and_meeting_receivers(trio, as_org, subscribe):
    from integrations import receivers

    subscribe(["sla.warned", "sla.breached", "meeting.published"])
    lead = _lead(trio, as_org)
    now = timezone.now()
    clock = SimpleNamespace(
        pk=5,
        lead=lead,
        status="warned",
        started_at=now,
        warn_at=now,
        due_at=now,
        owner_id=None,
        owner=None,
        commitment_id=3,
    )
    with as_org(trio.alpha):
        receivers.on_clock_warned(None, organization=trio.alpha, clock=clock)
        receivers.on_clock_breached(None, organization=trio.alpha, clock=clock)
        receivers.on_meeting_published(
            None, organization=trio.alpha, meeting=SimpleNamespace(pk=8, title="Week 2")
        )
    types = [d.event_type for d in _deliveries(trio, as_org)]
    assert types == ["sla.warned", "sla.breached", "meeting.published"]


def test_inactive_subscriptions_get_nothing(trio, as_org, subscribe):
    subscription, _secret = subscribe(["lead.mql"])
    with as_org(trio.alpha):
        webhooks_out.subscription_set_active(
            actor=trio.alice_membership, subscription=subscription, active=False
        )
        webhooks_out.enqueue(organization=trio.alpha, event_type="lead.mql", data={})
    assert _deliveries(trio, as_org) == []


def test_tenants_are_separate(trio, as_org, subscribe):
    subscribe(["lead.mql"], org=trio.charlie_org, actor=trio.charlie_membership)
    with as_org(trio.alpha):
        assert webhooks_out.enqueue(organization=trio.alpha, event_type="lead.mql", data={}) == []


# --- Real delivery -----------------------------------------------------------------------------


def _enqueue(trio, as_org, event_type="lead.mql", data=None):
    with as_org(trio.alpha):
        [delivery] = webhooks_out.enqueue(
            organization=trio.alpha, event_type=event_type, data=data or {"lead": {"id": 1}}
        )
    return delivery


def test_delivery_to_a_local_receiver_is_signed(trio, as_org, subscribe, local_server):
    _subscription, secret = subscribe()
    delivery = _enqueue(trio, as_org)
    result = webhooks_out.attempt(trio.alpha.pk, delivery.pk)
    assert result.status == "delivered" and result.status_code == 200
    [received] = local_server.received
    assert received.path == "/hook" and received.method == "POST"
    assert received.headers["webhook-id"] == delivery.message_id
    assert received.headers["content-type"] == "application/json"
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "lead.mql" and payload["data"] == {"lead": {"id": 1}}
    [delivery] = _deliveries(trio, as_org)
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.delivered_at
    assert delivery.last_status_code == 200 and delivery.claimed_until is None


def test_redirects_are_failures(trio, as_org, subscribe, local_server):
    subscribe()
    local_server.default = (302, {"Location": "https://example.com/"}, {})
    delivery = _enqueue(trio, as_org)
    assert webhooks_out.attempt(trio.alpha.pk, delivery.pk).status == "failed"
    assert len(local_server.received) == 1


def test_claims_are_compare_and_swap(trio, as_org, subscribe):
    subscribe()
    delivery = _enqueue(trio, as_org)
    now = timezone.now()
    assert webhooks_out.claim(trio.alpha.pk, delivery.pk, now) is True
    assert webhooks_out.claim(trio.alpha.pk, delivery.pk, now) is False
    # A claim left by a dead worker expires.
    assert webhooks_out.claim(trio.alpha.pk, delivery.pk, now + timedelta(minutes=2)) is True
    [delivery] = _deliveries(trio, as_org)
    assert delivery.attempts == 2


def test_retries_back_off_over_a_day_then_give_up_and_disable(
    trio, as_org, subscribe, local_server
):
    subscription, _secret = subscribe()
    local_server.default = (500, {}, {"error": "boom"})
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        delivery = _enqueue(trio, as_org)
        waits = []
        for _attempt in range(webhooks_out.MAX_ATTEMPTS):
            result = webhooks_out.attempt(trio.alpha.pk, delivery.pk)
            fresh = _deliveries(trio, as_org)[0]
            if result.status == "dead":
                break
            assert result.status == "failed" and fresh.last_status_code == 500
            wait = fresh.next_attempt_at - timezone.now()
            waits.append(wait)
            # Not due yet: nobody sends it.
            assert webhooks_out.attempt(trio.alpha.pk, delivery.pk).status == "skipped"
            traveller.move_to(fresh.next_attempt_at)
        assert result.status == "dead"
        expected = webhooks_out.RETRY_DELAYS
        assert len(waits) == len(expected) == webhooks_out.MAX_ATTEMPTS - 1
        for got, want in zip(waits, expected, strict=True):
            assert want * 0.89 <= got <= want * 1.11
        assert sum(waits, timedelta()) > timedelta(hours=24)
        assert len(local_server.received) == webhooks_out.MAX_ATTEMPTS
        assert "HTTP 500" in fresh.last_error

    with as_org(trio.alpha):
        subscription = WebhookSubscription.objects.for_org(trio.alpha).get(pk=subscription.pk)
        notified = set(
            Notification.objects.for_org(trio.alpha)
            .filter(kind="webhooks.disabled")
            .values_list("recipient_id", flat=True)
        )
    assert subscription.active is False and "24 hours" in subscription.disabled_reason
    assert notified == {trio.alice.pk}  # admins only, not bob


def test_a_success_resets_the_failure_count(trio, as_org, subscribe, local_server):
    subscription, _secret = subscribe()
    local_server.responses = [(503, {}, {})]
    delivery = _enqueue(trio, as_org)
    webhooks_out.attempt(trio.alpha.pk, delivery.pk)
    with as_org(trio.alpha):
        assert (
            WebhookSubscription.objects.for_org(trio.alpha)
            .get(pk=subscription.pk)
            .consecutive_failures
            == 1
        )
    second = _enqueue(trio, as_org)
    assert webhooks_out.attempt(trio.alpha.pk, second.pk).status == "delivered"
    with as_org(trio.alpha):
        fresh = WebhookSubscription.objects.for_org(trio.alpha).get(pk=subscription.pk)
    assert fresh.consecutive_failures == 0 and fresh.failing_since is None and fresh.active


def test_many_failures_within_a_day_do_not_disable(trio, as_org, subscribe, local_server):
    subscription, _secret = subscribe()
    local_server.default = (500, {}, {})
    for _ in range(webhooks_out.DISABLE_MIN_FAILURES + 2):
        delivery = _enqueue(trio, as_org)
        webhooks_out.attempt(trio.alpha.pk, delivery.pk)
    with as_org(trio.alpha):
        assert WebhookSubscription.objects.for_org(trio.alpha).get(pk=subscription.pk).active


def test_reenabling_retries_what_is_pending(
    trio, as_org, subscribe, local_server, dispatched, django_capture_on_commit_callbacks
):
    subscription, _secret = subscribe()
    delivery = _enqueue(trio, as_org)
    with as_org(trio.alpha):
        WebhookSubscription.objects.for_org(trio.alpha).filter(pk=subscription.pk).update(
            active=False, disabled_reason="x", consecutive_failures=9
        )
        WebhookDelivery.objects.for_org(trio.alpha).filter(pk=delivery.pk).update(
            status="failed", next_attempt_at=timezone.now() + timedelta(hours=5)
        )
    assert webhooks_out.attempt(trio.alpha.pk, delivery.pk).status == "skipped"
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        subscription.refresh_from_db()
        webhooks_out.subscription_set_active(
            actor=trio.alice_membership, subscription=subscription, active=True
        )
    assert ("send_deliveries", (trio.alpha.pk, [delivery.pk])) in dispatched
    assert webhooks_out.attempt(trio.alpha.pk, delivery.pk).status == "delivered"
    with as_org(trio.alpha):
        fresh = WebhookSubscription.objects.for_org(trio.alpha).get(pk=subscription.pk)
    assert fresh.active and fresh.consecutive_failures == 0 and fresh.disabled_reason == ""


def test_manual_redelivery_sends_the_same_message_again(
    trio, as_org, subscribe, local_server, dispatched, django_capture_on_commit_callbacks
):
    _subscription, secret = subscribe()
    local_server.default = (500, {}, {})
    delivery = _enqueue(trio, as_org)
    with as_org(trio.alpha):
        WebhookDelivery.objects.for_org(trio.alpha).filter(pk=delivery.pk).update(
            status="dead", attempts=8
        )
    local_server.default = (204, {}, b"")
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        webhooks_out.delivery_redeliver(actor=trio.alice_membership, delivery=delivery)
    assert ("send_deliveries", (trio.alpha.pk, [delivery.pk])) in dispatched
    assert webhooks_out.attempt(trio.alpha.pk, delivery.pk).status == "delivered"
    received = local_server.received[-1]
    assert received.headers["webhook-id"] == delivery.message_id
    Webhook(secret).verify(received.body, received.headers)


def test_rotation_signs_with_both_secrets_for_a_day(trio, as_org, subscribe, local_server):
    subscription, old = subscribe()
    start = timezone.now()
    with as_org(trio.alpha):
        new = webhooks_out.subscription_rotate_secret(
            actor=trio.alice_membership, subscription=subscription, now=start
        )
    assert new != old and new.startswith("whsec_")
    delivery = _enqueue(trio, as_org)
    webhooks_out.attempt(trio.alpha.pk, delivery.pk)
    received = local_server.received[-1]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(received.body, received.headers)
    Webhook(new).verify(received.body, received.headers)

    later = start + webhooks_out.ROTATION_OVERLAP + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        delivery = _enqueue(trio, as_org)
        webhooks_out.attempt(trio.alpha.pk, delivery.pk)
        received = local_server.received[-1]
        assert len(received.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(received.body, received.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(received.body, received.headers)


def test_the_secret_is_encrypted_at_rest(trio, as_org, subscribe):
    from django.db import connection

    subscription, secret = subscribe()
    with as_org(trio.alpha), connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_encrypted FROM integrations_webhooksubscription WHERE id = %s",
            [subscription.pk],
        )
        stored = cursor.fetchone()[0]
    assert secret not in stored and secret[6:] not in stored


def test_the_sweeper_finds_due_deliveries(trio, as_org, subscribe):
    subscribe()
    delivery = _enqueue(trio, as_org)
    due = webhooks_out.sweep(now=timezone.now() + timedelta(seconds=1))
    assert due == {trio.alpha.pk: [delivery.pk]}
    webhooks_out.claim(trio.alpha.pk, delivery.pk, timezone.now())
    assert webhooks_out.sweep(now=timezone.now() + timedelta(seconds=1)) == {}


def test_an_unreachable_receiver_is_a_failure(trio, as_org, subscribe):
    subscribe(url="http://127.0.0.1:9/hook")
    delivery = _enqueue(trio, as_org)
    result = webhooks_out.attempt(trio.alpha.pk, delivery.pk)
    assert result.status == "failed" and result.status_code is None and result.error


# --- Subscriptions ---------------------------------------------------------------------


def test_event_types_and_urls_are_checked(trio, as_org, subscribe):
    with as_org(trio.alpha):
        with pytest.raises(webhooks_out.WebhookError) as caught:
            webhooks_out.subscription_create(
                actor=trio.alice_membership, url="https://x.example.com", event_types=["nope"]
            )
        assert "event_types" in caught.value.fields
        with pytest.raises(webhooks_out.WebhookError):
            webhooks_out.subscription_create(
                actor=trio.alice_membership, url="ftp://x.example.com", event_types=["lead.mql"]
            )
    subscribe(url="https://dup.example.com/h")
    with pytest.raises(webhooks_out.WebhookError):
        subscribe(url="https://dup.example.com/h")


@override_settings(DEBUG=False, TESTING=False)
@pytest.mark.parametrize(
    "url",
    ["http://example.com/h", "https://127.0.0.1/h", "https://10.1.2.3/h", "https://localhost/h"],
)
def test_production_refuses_plain_http_and_private_addresses(trio, as_org, url):
    with as_org(trio.alpha), pytest.raises(webhooks_out.WebhookError):
        webhooks_out.subscription_create(
            actor=trio.alice_membership, url=url, event_types=["lead.mql"]
        )


def test_only_admins_manage_webhooks(trio, as_org):
    from smarketing.tenancy.permissions import PermissionDenied

    with as_org(trio.alpha), pytest.raises(PermissionDenied):
        webhooks_out.subscription_create(
            actor=trio.bob_membership, url="https://x.example.com", event_types=["lead.mql"]
        )


def test_body_is_compact_json_of_the_payload(trio, as_org, subscribe):
    subscribe()
    delivery = _enqueue(trio, as_org, data={"é": 1})
    assert json.loads(webhooks_out.body_of(delivery)) == delivery.payload
    assert " " not in webhooks_out.body_of(delivery)


def test_stage_names_used_by_the_receivers_exist():
    from integrations.receivers import STAGE_EVENTS

    assert set(STAGE_EVENTS) <= set(Stage.values)
