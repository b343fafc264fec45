"""Inbound generic webhooks: Standard Webhooks signature (good, bad, stale, replayed),
mapping (nested, batch), tenancy, the settings page, secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.utils.html import escape
from standardwebhooks.webhooks import Webhook

from leads import hooks
from leads.models import Event, Lead, WebhookEndpoint, WebhookReceipt
from smarketing import crypto
from smarketing.tenancy.db import system_context, tenant_context

pytestmark = pytest.mark.django_db

T = "2026-11-30T10:00:00+01:00"


def make_endpoint(org, membership, **kwargs):
    kwargs.setdefault("name", "Webinar tool")
    with tenant_context(org.pk):
        return hooks.webhook_endpoint_create(actor=membership, **kwargs)


@pytest.fixture
def alpha_hook(trio):
    endpoint, token, secret = make_endpoint(trio.alpha, trio.alice_membership, key="webinars")
    return endpoint, token, secret


def sign(secret: str, msg_id: str, ts: int, body: str) -> str:
    """The documented algorithm (docs/tracker.md): base64 HMAC-SHA256 of
    ``{id}.{timestamp}.{body}`` keyed with the base64-decoded part of ``whsec_…``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def send(token, secret, body, *, msg_id=None, ts=None, signature=None, headers=None):
    data = body if isinstance(body, str) else json.dumps(body)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    if headers is None:
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": signature or sign(secret, msg_id, ts, data),
        }
    return Client().post(
        f"/hooks/{token}/", data=data, content_type="application/json", headers=headers
    )


def events_of(org):
    with tenant_context(org.pk):
        return list(Event.objects.for_org(org).order_by("external_id"))


def receipts_of(org):
    with tenant_context(org.pk):
        return list(WebhookReceipt.objects.for_org(org).order_by("pk"))


# --- The signature ------------------------------------------------------------------------


def test_known_answer_vector_matches_standardwebhooks():
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, ts, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, msg_id, ts, body) == expected
    assert Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), body) == expected
    # and one with a secret of ours
    ours = hooks.generate_secret()
    assert ours.startswith("whsec_") and len(base64.b64decode(ours[6:])) == 32
    now = int(time.time())
    assert Webhook(ours).sign("msg_1", datetime.fromtimestamp(now, UTC), "{}") == sign(
        ours, "msg_1", now, "{}"
    )


def test_a_good_signature_is_accepted_and_events_get_the_hook_source(alpha_hook, trio):
    endpoint, token, secret = alpha_hook
    body = {"type": "webinar_registered", "occurred_at": T, "email": "claire@exemple.fr"}
    response = send(token, secret, body, msg_id="msg_good")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0}
    (event,) = events_of(trio.alpha)
    assert (event.source, event.external_id, event.type) == (
        "hook:webinars",
        "msg_good:0",
        "webinar_registered",
    )
    with tenant_context(trio.alpha.pk):
        assert Lead.objects.for_org(trio.alpha).get().email == "claire@exemple.fr"
        endpoint.refresh_from_db()
    assert endpoint.last_received_at is not None
    (receipt,) = receipts_of(trio.alpha)
    assert (receipt.message_id, receipt.status, receipt.accepted) == ("msg_good", 202, 1)


def test_the_api_batch_shape_passes_through(alpha_hook, trio):
    _endpoint, token, secret = alpha_hook
    body = {
        "events": [
            {"id": "a1", "type": "email_open", "occurred_at": T, "email": "a@b.fr"},
            {"id": "a2", "type": "email_click", "occurred_at": T, "email": "a@b.fr"},
        ]
    }
    assert send(token, secret, body).json() == {"accepted": 2, "duplicates": 0}
    assert [e.external_id for e in events_of(trio.alpha)] == ["a1", "a2"]


@pytest.mark.parametrize(
    "signature",
    [
        None,  # signed with another secret below
        "v1,AAAA",
        "v1",  # malformed
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,not-base64!",
        "",
    ],
)
def test_a_bad_signature_is_401_and_writes_nothing(alpha_hook, trio, signature):
    _endpoint, token, _secret = alpha_hook
    body = json.dumps({"type": "page_view", "occurred_at": T, "email": "a@b.fr"})
    msg_id, ts = "msg_bad", int(time.time())
    if signature is None:
        signature = sign(hooks.generate_secret(), msg_id, ts, body)
    response = send(token, None, body, msg_id=msg_id, ts=ts, signature=signature or " ")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"bad_signature", "missing_signature"}
    assert events_of(trio.alpha) == []
    assert receipts_of(trio.alpha) == []


def test_a_tampered_body_is_401(alpha_hook, trio):
    _endpoint, token, secret = alpha_hook
    msg_id, ts = "msg_t", int(time.time())
    signature = sign(secret, msg_id, ts, '{"type": "page_view"}')
    body = json.dumps({"type": "demo_request", "occurred_at": T, "email": "a@b.fr"})
    response = send(token, secret, body, msg_id=msg_id, ts=ts, signature=signature)
    assert response.status_code == 401
    assert events_of(trio.alpha) == []


def test_missing_headers_are_401(alpha_hook):
    _endpoint, token, _secret = alpha_hook
    response = send(token, None, "{}", headers={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_signature"


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_stale_or_future_timestamp_is_401(alpha_hook, trio, offset):
    _endpoint, token, secret = alpha_hook
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    response = send(token, secret, body, ts=int(time.time()) + offset)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    assert events_of(trio.alpha) == []


def test_a_timestamp_within_the_window_is_accepted(alpha_hook):
    _endpoint, token, secret = alpha_hook
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert send(token, secret, body, ts=int(time.time()) - 240).status_code == 202


def test_a_replayed_message_id_is_409(alpha_hook, trio):
    _endpoint, token, secret = alpha_hook
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert send(token, secret, body, msg_id="msg_once").status_code == 202
    again = send(token, secret, body, msg_id="msg_once")  # freshly signed, same id
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "replayed"
    assert len(events_of(trio.alpha)) == 1
    assert len(receipts_of(trio.alpha)) == 1


def test_a_failed_message_can_be_redelivered_once_fixed(alpha_hook, trio):
    endpoint, token, secret = alpha_hook
    body = {"occurred_at": T, "email": "a@b.fr"}  # no type, and no default type yet
    first = send(token, secret, body, msg_id="msg_retry")
    assert first.status_code == 400
    error = first.json()["error"]
    assert error["code"] == "invalid_events" and "type" in error["fields"]["0"]
    (receipt,) = receipts_of(trio.alpha)
    assert receipt.status == 400 and "type" in receipt.error
    assert events_of(trio.alpha) == []

    with tenant_context(trio.alpha.pk):
        hooks.webhook_endpoint_update(
            actor=trio.alice_membership,
            endpoint=endpoint,
            name=endpoint.name,
            default_type="webinar_attended",
            mapping={},
        )
    second = send(token, secret, body, msg_id="msg_retry")
    assert second.status_code == 202
    (receipt,) = receipts_of(trio.alpha)
    assert (receipt.status, receipt.accepted, receipt.error) == (202, 1, "")
    assert [e.type for e in events_of(trio.alpha)] == ["webinar_attended"]
    assert send(token, secret, body, msg_id="msg_retry").status_code == 409


def test_bad_bodies_are_400_never_500(alpha_hook, trio):
    _endpoint, token, secret = alpha_hook
    assert send(token, secret, "not json").json()["error"]["code"] == "invalid_json"
    too_many = {"events": [{"type": "page_view", "occurred_at": T, "email": "a@b.fr"}] * 1001}
    response = send(token, secret, too_many)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert send(token, secret, [1, 2]).status_code == 400
    assert send(token, secret, "42").status_code == 400
    long_id = send(token, secret, {"type": "page_view"}, msg_id="m" * 150)
    assert long_id.status_code == 400
    assert events_of(trio.alpha) == []


def test_unknown_token_and_inactive_endpoint_are_404(alpha_hook, trio):
    endpoint, token, secret = alpha_hook
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert send("x" * 43, secret, body).status_code == 404
    assert send(token[:-1] + ("A" if token[-1] != "A" else "B"), secret, body).status_code == 404
    with tenant_context(trio.alpha.pk):
        hooks.webhook_endpoint_set_active(
            actor=trio.alice_membership, endpoint=endpoint, active=False
        )
    assert send(token, secret, body).status_code == 404
    assert Client().get(f"/hooks/{token}/").status_code == 405


def test_another_orgs_endpoint_never_writes_into_alpha(alpha_hook, trio):
    _endpoint, alpha_token, _alpha_secret = alpha_hook
    _other, token, secret = make_endpoint(trio.charlie_org, trio.charlie_membership, key="webinars")
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert send(token, secret, body, msg_id="msg_c").status_code == 202
    # alpha's URL with charlie's secret: refused
    assert send(alpha_token, secret, body).status_code == 401
    assert events_of(trio.alpha) == []
    assert receipts_of(trio.alpha) == []
    (event,) = events_of(trio.charlie_org)
    assert event.source == "hook:webinars"


# --- Mapping ------------------------------------------------------------------------------


def test_a_nested_payload_is_mapped(trio):
    mapping = {
        "fields": {
            "id": "submission.id",
            "email": "submission.contact.email",
            "first_name": "submission.contact.name.first",
            "company_domain": "submission.contact.company.domain",
            "occurred_at": "submission.created",
            "url": "submission.page",
            "properties.form": "submission.form.title",
            "properties.answers": "submission.answers",
            "campaign.utm_source": "submission.tracking.source",
        },
        "constants": {"type": "demo_request", "properties.channel": "webhook"},
    }
    _endpoint, token, secret = make_endpoint(
        trio.alpha, trio.alice_membership, key="forms", mapping=mapping
    )
    payload = {
        "submission": {
            "id": 981,
            "created": 1764580000,
            "page": "https://www.alpha.test/demo",
            "form": {"title": "Demo request"},
            "answers": {"seats": 25},
            "tracking": {"source": "linkedin"},
            "contact": {
                "email": "Marc@Exemple.fr",
                "name": {"first": "Marc"},
                "company": {"domain": "exemple.fr"},
            },
        }
    }
    response = send(token, secret, payload)
    assert response.status_code == 202, response.content
    (event,) = events_of(trio.alpha)
    assert (event.source, event.external_id, event.type) == ("hook:forms", "981", "demo_request")
    assert event.occurred_at == datetime.fromtimestamp(1764580000, UTC)
    assert event.url == "https://www.alpha.test/demo"
    assert event.properties == {
        "form": "Demo request",
        "answers": {"seats": 25},
        "channel": "webhook",
    }
    with tenant_context(trio.alpha.pk):
        lead = Lead.objects.for_org(trio.alpha).select_related("company").get()
        assert (lead.email, lead.first_name, lead.company.domain) == (
            "marc@exemple.fr",
            "Marc",
            "exemple.fr",
        )
        assert lead.utm_source == "linkedin"


def test_a_batch_payload_gives_one_event_per_item(trio):
    mapping = {
        "events": "data.registrations",
        "fields": {
            "email": "attendee.email",
            "properties.webinar": "$.data.webinar.title",
            "properties.rank": "rank",
        },
        "constants": {"campaign": "webinar-q4"},
    }
    _endpoint, token, secret = make_endpoint(
        trio.alpha,
        trio.alice_membership,
        key="batch",
        mapping=mapping,
        default_type="webinar_registered",
    )
    payload = {
        "data": {
            "webinar": {"title": "Scoring 101"},
            "registrations": [
                {"attendee": {"email": "a@exemple.fr"}, "rank": 1},
                {"attendee": {"email": "b@exemple.fr"}, "rank": 2},
                {"attendee": {"email": "c@exemple.fr"}, "rank": 3},
            ],
        }
    }
    response = send(token, secret, payload, msg_id="msg_batch", ts=1764580000 + 0)
    # the timestamp is far in the past: refused as stale, nothing written
    assert response.status_code == 401
    response = send(token, secret, payload, msg_id="msg_batch")
    assert response.json() == {"accepted": 3, "duplicates": 0}
    events = events_of(trio.alpha)
    assert [e.external_id for e in events] == ["msg_batch:0", "msg_batch:1", "msg_batch:2"]
    assert {e.type for e in events} == {"webinar_registered"}
    assert [e.properties for e in events] == [
        {"webinar": "Scoring 101", "rank": n} for n in (1, 2, 3)
    ]
    assert len({e.campaign_id for e in events}) == 1 and events[0].campaign_id is not None


def test_a_mapping_that_does_not_fit_the_payload_is_400_with_a_failed_receipt(trio):
    _endpoint, token, secret = make_endpoint(
        trio.alpha, trio.alice_membership, key="wrong", mapping={"events": "items"}
    )
    response = send(token, secret, {"items": {"not": "a list"}})
    assert response.status_code == 400
    assert "events" in response.json()["error"]["fields"]
    (receipt,) = receipts_of(trio.alpha)
    assert receipt.status == 400


@pytest.mark.parametrize(
    "mapping",
    [
        [],
        {"unknown": 1},
        {"fields": {"nope": "a"}},
        {"fields": {"email": ""}},
        {"fields": {"email": "a..b"}},
        {"fields": {"email": 3}},
        {"fields": {"campaign.nope": "a"}},
        {"fields": {"properties.a.b": "a"}},
        {"constants": {"email": {"a": 1}}},
        {"events": 3},
        {"fields": "email"},
    ],
)
def test_bad_mappings_are_refused(trio, mapping):
    with pytest.raises(hooks.HookError) as error:
        hooks.clean_mapping(mapping)
    assert "mapping" in error.value.fields


def test_paths():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert hooks.resolve_path(data, "a.b.1.c") == 2
    assert hooks.resolve_path(data, "a.b.-1.c") == 2
    assert hooks.resolve_path(data, "a.b.5.c") is hooks._MISSING
    assert hooks.resolve_path(data, "a.x") is hooks._MISSING


# --- Secrets at rest ---------------------------------------------------------------------------


def test_secrets_are_stored_encrypted_and_tokens_hashed(alpha_hook, trio):
    endpoint, token, secret = alpha_hook
    with system_context("test: read the raw row"), connection.cursor() as cursor:
        cursor.execute(
            "SELECT token_prefix, token_hash, secret_encrypted, mapping::text FROM "
            "leads_webhookendpoint WHERE id = %s",
            [endpoint.pk],
        )
        row = cursor.fetchone()
    raw = " ".join(str(v) for v in row)
    assert secret not in raw and secret[6:] not in raw
    assert token not in raw
    assert row[1] == hashlib.sha256(token.encode()).hexdigest()
    assert crypto.decrypt(row[2]) == secret


def test_an_unreadable_secret_is_503_not_500(alpha_hook, trio, monkeypatch):
    _endpoint, token, secret = alpha_hook
    monkeypatch.setenv("SMARKETING_ENCRYPTION_KEY", crypto.generate_key())
    monkeypatch.setattr("django.conf.settings.SECRET_KEY", "another-secret-key-" * 3)
    response = send(token, secret, {"type": "page_view", "occurred_at": T, "email": "a@b.fr"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "secret_unavailable"
    assert events_of(trio.alpha) == []


def test_crypto_round_trip_keys_and_rotation(monkeypatch):
    old = crypto.encrypt("whsec_abc")
    assert old != "whsec_abc" and crypto.decrypt(old) == "whsec_abc"
    key = crypto.generate_key()
    monkeypatch.setenv("SMARKETING_ENCRYPTION_KEY", key)
    new = crypto.encrypt("whsec_abc")
    assert crypto.decrypt(new) == "whsec_abc"
    assert crypto.decrypt(old) == "whsec_abc"  # written before the key was set
    monkeypatch.setenv("SMARKETING_ENCRYPTION_KEY", f"{crypto.generate_key()},{key}")
    assert crypto.decrypt(new) == "whsec_abc"  # the previous key still decrypts
    monkeypatch.setenv("SMARKETING_ENCRYPTION_KEY", crypto.generate_key())
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(new)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old[:-4] + "AAAA")
    monkeypatch.setenv("SMARKETING_ENCRYPTION_KEY", "not-a-key")
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")


# --- The settings page (webhook part) ----------------------------------------------------------


def page(org, suffix=""):
    return f"/o/{org.slug}/settings/tracking/{suffix}"


def test_creating_an_endpoint_shows_url_and_secret_once(client_for, trio, is_postgres):
    alice = client_for(trio.alice)
    response = alice.post(
        page(trio.alpha, "webhooks/"),
        {"name": "Form tool", "key": "", "default_type": "form_submit"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret, url = response.context["secret"], response.context["url"]
    assert secret.startswith("whsec_") and url.startswith("http://testserver/hooks/")
    html = response.content.decode()
    assert secret in html and url in html
    token = url.rsplit("/", 2)[-2]
    with tenant_context(trio.alpha.pk):
        endpoint = WebhookEndpoint.objects.for_org(trio.alpha).get()
    assert (endpoint.key, endpoint.default_type) == ("form-tool", "form_submit")
    assert endpoint.secret_encrypted != secret and secret not in endpoint.secret_encrypted
    # never again
    for path in ("", f"webhooks/{endpoint.pk}/"):
        later = alice.get(page(trio.alpha, path)).content.decode()
        assert secret not in later and token not in later
        assert endpoint.token_prefix in later
    # and it works
    body = {"email": "a@b.fr", "occurred_at": T}
    assert send(token, secret, body).status_code == 202


@pytest.mark.parametrize(
    "data",
    [
        {"name": ""},
        {"name": "X", "key": "not a slug"},
        {"name": "X", "default_type": "nonsense"},
    ],
)
def test_creating_with_bad_input_is_400(client_for, trio, data):
    response = client_for(trio.alice).post(page(trio.alpha, "webhooks/"), data)
    assert response.status_code == 400
    with tenant_context(trio.alpha.pk):
        assert not WebhookEndpoint.objects.for_org(trio.alpha).exists()


def test_a_duplicate_key_is_400(client_for, trio, alpha_hook):
    response = client_for(trio.alice).post(
        page(trio.alpha, "webhooks/"), {"name": "Other", "key": "webinars"}
    )
    assert response.status_code == 400
    assert response.context["create_form"].errors["key"]


def test_rotating_the_secret(client_for, trio, alpha_hook):
    endpoint, token, old_secret = alpha_hook
    response = client_for(trio.alice).post(
        page(trio.alpha, f"webhooks/{endpoint.pk}/rotate-secret/")
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new_secret = response.context["secret"]
    assert new_secret != old_secret and new_secret in response.content.decode()
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert send(token, old_secret, body).status_code == 401
    assert send(token, new_secret, body).status_code == 202


def test_deactivate_and_reactivate(client_for, trio, alpha_hook):
    endpoint, token, secret = alpha_hook
    alice = client_for(trio.alice)
    body = {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}
    assert (
        alice.post(page(trio.alpha, f"webhooks/{endpoint.pk}/active/"), {"active": "0"}).status_code
        == 302
    )
    assert send(token, secret, body).status_code == 404
    assert (
        alice.post(page(trio.alpha, f"webhooks/{endpoint.pk}/active/"), {"active": "1"}).status_code
        == 302
    )
    assert send(token, secret, body).status_code == 202


def test_editing_the_mapping(client_for, trio, alpha_hook):
    endpoint, _token, _secret = alpha_hook
    alice = client_for(trio.alice)
    mapping = {"fields": {"email": "contact.email"}, "constants": {"type": "email_open"}}
    response = alice.post(
        page(trio.alpha, f"webhooks/{endpoint.pk}/"),
        {"name": "Renamed", "default_type": "", "mapping": json.dumps(mapping)},
    )
    assert response.status_code == 302
    with tenant_context(trio.alpha.pk):
        endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.mapping, endpoint.key) == ("Renamed", mapping, "webinars")
    for bad in ("{not json", "[1]", json.dumps({"fields": {"nope": "x"}})):
        response = alice.post(
            page(trio.alpha, f"webhooks/{endpoint.pk}/"),
            {"name": "Again", "default_type": "", "mapping": bad},
        )
        assert response.status_code == 400
    with tenant_context(trio.alpha.pk):
        endpoint.refresh_from_db()
    assert endpoint.name == "Renamed"


def test_the_mapping_preview_writes_nothing(client_for, trio, alpha_hook):
    endpoint, _token, _secret = alpha_hook
    alice = client_for(trio.alice)
    url = page(trio.alpha, f"webhooks/{endpoint.pk}/preview/")
    mapping = json.dumps({"fields": {"email": "who"}, "constants": {"type": "email_click"}})
    response = alice.post(
        url, {"mapping": mapping, "sample": '{"who": "z@b.fr"}'}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "z@b.fr" in html and "email_click" in html and "<html" not in html
    bad = alice.post(url, {"mapping": mapping, "sample": "{"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    wrong = alice.post(
        url, {"mapping": '{"events": "x"}', "sample": "{}"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 422 and 'class="alert alert--error"' in wrong.content.decode()
    # without htmx: the whole page, with the saved mapping
    full = alice.post(url, {"sample": '{"type": "page_view", "email": "y@b.fr"}'})
    assert full.status_code == 200 and "y@b.fr" in full.content.decode()
    assert events_of(trio.alpha) == []


def test_the_page_lists_endpoints_and_receipts_in_bounded_queries(
    client_for, trio, django_assert_max_num_queries
):
    for n in range(4):
        _endpoint, token, secret = make_endpoint(
            trio.alpha, trio.alice_membership, name=f"Tool {n}", default_type="page_view"
        )
        send(token, secret, {"email": "a@b.fr", "occurred_at": T})
        send(token, secret, "broken")
    alice = client_for(trio.alice)
    alice.get(page(trio.alpha))
    with django_assert_max_num_queries(18):
        response = alice.get(page(trio.alpha))
    assert response.status_code == 200
    statuses = sorted(r.status for r in response.context["receipts"])
    assert statuses == [202] * 4 + [400] * 4
    assert all(r.endpoint.name in response.content.decode() for r in response.context["receipts"])
    (endpoint,) = [e for e in _endpoints(trio.alpha) if e.name == "Tool 0"]
    with django_assert_max_num_queries(18):
        detail = alice.get(page(trio.alpha, f"webhooks/{endpoint.pk}/"))
    assert detail.status_code == 200
    failed = [r for r in detail.context["receipts"] if r.status == 400]
    assert len(failed) == 1 and escape(failed[0].error) in detail.content.decode()


def _endpoints(org):
    with tenant_context(org.pk):
        return list(WebhookEndpoint.objects.for_org(org))


def test_sales_rep_gets_403_on_every_webhook_action(client_for, trio, alpha_hook):
    endpoint, token, secret = alpha_hook
    bob = client_for(trio.bob)
    pk = endpoint.pk
    assert bob.get(page(trio.alpha, f"webhooks/{pk}/")).status_code == 403
    for path, data in [
        ("webhooks/", {"name": "Mine"}),
        (f"webhooks/{pk}/", {"name": "Mine", "mapping": "{}"}),
        (f"webhooks/{pk}/preview/", {"sample": "{}"}),
        (f"webhooks/{pk}/active/", {"active": "0"}),
        (f"webhooks/{pk}/rotate-secret/", {}),
    ]:
        assert bob.post(page(trio.alpha, path), data).status_code == 403, path
    with tenant_context(trio.alpha.pk):
        assert WebhookEndpoint.objects.for_org(trio.alpha).count() == 1
        endpoint.refresh_from_db()
    assert endpoint.active and endpoint.name == "Webinar tool"
    assert (
        send(token, secret, {"type": "page_view", "occurred_at": T, "email": "a@b.fr"}).status_code
        == 202
    )


def test_outsider_gets_404_everywhere(client_for, trio, alpha_hook):
    endpoint, _token, _secret = alpha_hook
    charlie = client_for(trio.charlie)
    pk = endpoint.pk
    assert charlie.get(page(trio.alpha)).status_code == 404
    assert charlie.get(page(trio.alpha, f"webhooks/{pk}/")).status_code == 404
    for path in (
        "webhooks/",
        f"webhooks/{pk}/",
        f"webhooks/{pk}/preview/",
        f"webhooks/{pk}/active/",
        f"webhooks/{pk}/rotate-secret/",
    ):
        assert charlie.post(page(trio.alpha, path), {"name": "x"}).status_code == 404, path
    # and alpha's endpoint id under charlie's own organization is not found either
    assert charlie.get(page(trio.charlie_org, f"webhooks/{pk}/")).status_code == 404
    assert charlie.post(page(trio.charlie_org, f"webhooks/{pk}/rotate-secret/")).status_code == 404
    assert client_for(trio.alice).get(page(trio.alpha, "webhooks/999999/")).status_code == 404


def test_services_refuse_an_actor_of_another_org(trio, alpha_hook):
    endpoint, _token, _secret = alpha_hook
    with tenant_context(trio.alpha.pk), pytest.raises(hooks.HookError) as error:
        hooks.webhook_secret_rotate(actor=trio.charlie_membership, endpoint=endpoint)
    assert error.value.status == 404
