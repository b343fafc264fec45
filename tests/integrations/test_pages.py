"""The integrations settings pages: roles (admins only), 404 across tenants, secrets shown
once, the connect / edit / mapping / sync now / disconnect flow, webhooks pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations import services, webhooks_out
from integrations.models import Connection, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(trio, client_for):
    return client_for(trio.alice)


@pytest.fixture
def bob(trio, client_for):
    return client_for(trio.bob)


@pytest.fixture
def charlie(trio, client_for):
    return client_for(trio.charlie)


@pytest.fixture
def connection(trio, as_org, fake_connector, local_server):
    with as_org(trio.alpha):
        return services.connection_create(
            actor=trio.alice_membership,
            vendor="testvendor",
            name="Main",
            credentials={"api_key": "sk_live_pagesecret_987654", "account": "acme"},
            settings={"base_url": local_server.url},
        )


@pytest.fixture
def subscription(trio, as_org, local_server):
    with as_org(trio.alpha):
        sub, _secret = webhooks_out.subscription_create(
            actor=trio.alice_membership,
            url=f"{local_server.url}/hook",
            event_types=["lead.mql"],
        )
        [delivery] = webhooks_out.enqueue(
            organization=trio.alpha, event_type="lead.mql", data={"lead": {"id": 1}}
        )
    sub.delivery = delivery
    return sub


def _url(name, slug="alpha", **kwargs):
    return reverse(name, kwargs={"org_slug": slug, **kwargs})


def _object_urls(connection, subscription):
    c, s, d = connection.pk, subscription.pk, subscription.delivery.pk
    return {
        "get": [
            _url("integrations-connection", connection_id=c),
            _url("integrations-mapping", connection_id=c),
            _url("integrations-log", connection_id=c),
            _url("integrations-webhook", subscription_id=s),
            _url("integrations-delivery", delivery_id=d),
        ],
        "post": [
            _url("integrations-sync", connection_id=c),
            _url("integrations-check", connection_id=c),
            _url("integrations-enabled", connection_id=c),
            _url("integrations-disconnect", connection_id=c),
            _url("integrations-webhook-rotate", subscription_id=s),
            _url("integrations-webhook-active", subscription_id=s),
            _url("integrations-webhook-test", subscription_id=s),
            _url("integrations-webhook-delete", subscription_id=s),
            _url("integrations-delivery-redeliver", delivery_id=d),
        ],
    }


def test_admin_pages_render(alice, connection, subscription, dispatched):
    for url in [
        _url("integrations-home"),
        _url("integrations-connect", vendor="testvendor"),
        _url("integrations-webhooks"),
        *_object_urls(connection, subscription)["get"],
    ]:
        response = alice.get(url)
        assert response.status_code == 200, url
        assert b"sk_live_pagesecret_987654" not in response.content


def test_home_lists_connectors_and_health(alice, connection):
    page = alice.get(_url("integrations-home")).content.decode()
    assert "Test vendor" in page and "Main" in page
    assert reverse("integrations-connection", args=["alpha", connection.pk]) in page


def test_a_sales_rep_gets_403(bob, connection, subscription):
    urls = _object_urls(connection, subscription)
    for url in [_url("integrations-home"), _url("integrations-webhooks"), *urls["get"]]:
        assert bob.get(url).status_code == 403, url
    for url in urls["post"]:
        assert bob.post(url).status_code == 403, url


def test_an_outsider_gets_404(charlie, connection, subscription):
    urls = _object_urls(connection, subscription)
    for url in [_url("integrations-home"), *urls["get"]]:
        assert charlie.get(url).status_code == 404, url
    for url in urls["post"]:
        assert charlie.post(url).status_code == 404, url


def test_other_tenants_ids_are_404_in_ones_own_org(charlie, connection, subscription):
    """Charlie, admin of his own organization, asks for Alpha's objects by id."""
    c, s, d = connection.pk, subscription.pk, subscription.delivery.pk
    for url in [
        _url("integrations-connection", slug="charlie", connection_id=c),
        _url("integrations-mapping", slug="charlie", connection_id=c),
        _url("integrations-log", slug="charlie", connection_id=c),
        _url("integrations-webhook", slug="charlie", subscription_id=s),
        _url("integrations-delivery", slug="charlie", delivery_id=d),
    ]:
        assert charlie.get(url).status_code == 404, url
    for url in [
        _url("integrations-disconnect", slug="charlie", connection_id=c),
        _url("integrations-webhook-delete", slug="charlie", subscription_id=s),
        _url("integrations-delivery-redeliver", slug="charlie", delivery_id=d),
    ]:
        assert charlie.post(url).status_code == 404, url


def test_connect_flow(trio, as_org, alice, fake_connector, local_server, dispatched):
    response = alice.post(
        _url("integrations-connect", vendor="testvendor"),
        {
            "name": "EU",
            "api_key": "sk_new_value_abcdef",
            "account": "eu",
            "base_url": local_server.url,
            "setting_score_property": "smk_score",
            "setting_forms": '{"f1": {"content": "guide"}}',
        },
    )
    assert response.status_code == 302
    with as_org(trio.alpha):
        connection = Connection.objects.for_org(trio.alpha).get(name="EU")
    assert response["Location"] == _url("integrations-connection", connection_id=connection.pk)
    assert connection.settings == {
        "base_url": local_server.url,
        "score_property": "smk_score",
        "forms": {"f1": {"content": "guide"}},
    }
    page = alice.get(response["Location"]).content.decode()
    assert "sk_new_value_abcdef" not in page and "••••cdef" in page
    assert f"/connect/{connection.webhook_key}/" in page


def test_connect_with_missing_credentials_is_a_400(alice, fake_connector):
    response = alice.post(_url("integrations-connect", vendor="testvendor"), {"name": "x"})
    assert response.status_code == 400
    assert alice.get(_url("integrations-connect", vendor="nope")).status_code == 404


def test_edit_mapping_sync_pause_disconnect(trio, as_org, alice, connection, dispatched):
    detail = _url("integrations-connection", connection_id=connection.pk)
    edit = {
        "name": "Renamed",
        "api_key": "",
        "account": "x",
        "base_url": connection.settings["base_url"],
        "setting_score_property": "s",
    }
    assert alice.post(detail, edit).status_code == 302
    with as_org(trio.alpha):
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
    assert fresh.name == "Renamed" and fresh.credentials["api_key"] == "sk_live_pagesecret_987654"
    assert fresh.settings["score_property"] == "s" and "forms" not in fresh.settings
    assert alice.post(detail, {**edit, "setting_forms": "{bad"}).status_code == 400

    mapping = _url("integrations-mapping", connection_id=connection.pk)
    assert alice.post(mapping, {"mapping": '{"first_name": "given"}'}).status_code == 302
    assert alice.post(mapping, {"mapping": "{not json"}).status_code == 400
    assert alice.post(mapping, {"mapping": '{"nope": "x"}'}).status_code == 400
    with as_org(trio.alpha):
        assert Connection.objects.for_org(trio.alpha).get(pk=connection.pk).field_mapping == {
            "first_name": "given"
        }

    assert alice.post(_url("integrations-sync", connection_id=connection.pk)).status_code == 302
    enabled = _url("integrations-enabled", connection_id=connection.pk)
    assert alice.post(enabled, {"enabled": "0"}).status_code == 302
    with as_org(trio.alpha):
        assert Connection.objects.for_org(trio.alpha).get(pk=connection.pk).status == "disabled"
    assert alice.post(enabled, {"enabled": "1"}).status_code == 302

    assert (
        alice.post(_url("integrations-disconnect", connection_id=connection.pk)).status_code == 302
    )
    with as_org(trio.alpha):
        assert not Connection.objects.for_org(trio.alpha).filter(pk=connection.pk).exists()


def test_check_reports_the_result(alice, connection, local_server):
    url = _url("integrations-check", connection_id=connection.pk)
    response = alice.post(url, follow=True)
    assert "The credentials work." in response.content.decode()
    local_server.default = (401, {}, {"error": "no"})
    response = alice.post(url, follow=True)
    assert "failed" in response.content.decode()


def test_webhook_secret_is_shown_once(trio, as_org, alice, local_server):
    response = alice.post(
        _url("integrations-webhooks"),
        {"url": f"{local_server.url}/in", "event_types": ["lead.mql", "deal.won"]},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert "whsec_" in page
    secret = page.split('value="whsec_', 1)[1].split('"', 1)[0]
    with as_org(trio.alpha):
        subscription = WebhookSubscription.objects.for_org(trio.alpha).get()
    assert subscription.event_types == ["lead.mql", "deal.won"]
    detail = alice.get(_url("integrations-webhook", subscription_id=subscription.pk))
    assert secret not in detail.content.decode()
    rotated = alice.post(_url("integrations-webhook-rotate", subscription_id=subscription.pk))
    assert rotated["Cache-Control"] == "no-store" and "whsec_" in rotated.content.decode()
    assert secret not in rotated.content.decode()


def test_webhook_create_refuses_bad_input(alice):
    response = alice.post(_url("integrations-webhooks"), {"url": "https://x.example.com"})
    assert response.status_code == 400


def test_webhook_edit_redeliver_disable(trio, as_org, alice, subscription, dispatched):
    detail = _url("integrations-webhook", subscription_id=subscription.pk)
    response = alice.post(
        detail, {"url": subscription.url, "event_types": ["lead.hot", "sla.breached"]}
    )
    assert response.status_code == 302
    with as_org(trio.alpha):
        WebhookDelivery.objects.for_org(trio.alpha).update(status="dead", attempts=8)
    page = alice.get(detail + "?status=dead").content.decode()
    assert subscription.delivery.message_id in page
    redeliver = _url("integrations-delivery-redeliver", delivery_id=subscription.delivery.pk)
    assert alice.post(redeliver).status_code == 302
    with as_org(trio.alpha):
        delivery = WebhookDelivery.objects.for_org(trio.alpha).get(pk=subscription.delivery.pk)
        assert delivery.status == "pending" and delivery.attempts == 0
    active = _url("integrations-webhook-active", subscription_id=subscription.pk)
    assert alice.post(active, {"active": "0"}).status_code == 302
    assert "Re-enable" in alice.get(detail).content.decode()
    assert alice.post(active, {"active": "1"}).status_code == 302
    with as_org(trio.alpha):
        assert WebhookSubscription.objects.for_org(trio.alpha).get(pk=subscription.pk).active
    test = _url("integrations-webhook-test", subscription_id=subscription.pk)
    assert alice.post(test).status_code == 302
    with as_org(trio.alpha):
        assert (
            WebhookDelivery.objects.for_org(trio.alpha).filter(event_type="webhook.test").exists()
        )


def test_get_on_post_only_actions_is_405(alice, connection, subscription):
    for url in _object_urls(connection, subscription)["post"]:
        assert alice.get(url).status_code == 405, url
