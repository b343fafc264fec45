"""Issue 8 review: SSRF (connector base URLs, outbound webhooks, DNS rebinding, redirects),
credentials and base-URL changes, replays with decorated headers, malformed settings
and payloads, undecryptable credentials, generated webhook tokens, POST retries, pushes
of leads that never reached MQL, and the cheap ones (receipts, sweeper, test call)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import IntegrityError
from django.test import override_settings
from django.utils import timezone, translation

from integrations import inbound, safe_http, services, webhooks_out
from integrations.connectors import _normalize as norm
from integrations.connectors.base import ConnectorError
from integrations.connectors.salesforce import _instance_ok, _on_instance
from integrations.http import ConnectorClient, allowed_base_url
from integrations.models import Connection
from smarketing.tenancy.db import tenant_context

from .fakes.connections import connect, hubspot_headers, reload

PRODUCTION = override_settings(DEBUG=False, TESTING=False, INTEGRATIONS_ALLOW_PRIVATE_URLS=False)
WT = "t" * 40


def _fake_dns(monkeypatch, table: dict[str, str]) -> list[str]:
    """Resolve the names of ``table`` to its addresses; record each resolution."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(safe_http.socket, "getaddrinfo", getaddrinfo)
    return asked


# --- P1-1 SSRF: base URLs, resolution, pinning, redirects ------------------------------------


@PRODUCTION
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8443",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/",
        "https://[::1]/",
        "https://localhost/",
        "https://metadata.google.internal/",
        "https://printer.local/",
        "https://intranet/",
        "https://user:pw@api.hubapi.com/",
        "http://api.hubapi.com/",
    ],
)
def test_private_or_plain_base_urls_are_refused_in_production(url):
    assert not allowed_base_url(url)


@PRODUCTION
def test_public_https_base_url_is_allowed_in_production():
    assert allowed_base_url("https://api.hubapi.com")
    assert allowed_base_url("https://acme.my.salesforce.com/")


@PRODUCTION
def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    _fake_dns(monkeypatch, {"api.vendor.example": "169.254.169.254"})
    with pytest.raises(safe_http.UnsafeURL):
        safe_http.safe_request("GET", "https://api.vendor.example/x")


@PRODUCTION
@pytest.mark.django_db
def test_connector_call_to_a_rebound_name_fails_without_connecting(trio, monkeypatch):
    _fake_dns(monkeypatch, {"api.vendor.example": "10.1.2.3"})
    connected = []
    monkeypatch.setattr(safe_http, "_connect", lambda *a, **k: connected.append(a))
    connection = connect(
        trio.alpha,
        "hubspot",
        base_url="https://api.vendor.example",
        credentials={"access_token": "pat-" + "x" * 20},
    )
    client = ConnectorClient(connection, sleep=lambda s: None)
    with pytest.raises(ConnectorError) as caught:
        client.get("/crm/v3/objects/contacts")
    assert not caught.value.retryable
    assert connected == []


@PRODUCTION
def test_the_connection_goes_to_the_vetted_address_resolved_once(monkeypatch):
    """DNS rebinding: the name is resolved once, and the socket opened to that address
    (a second, private answer would never be used)."""
    answers = iter(["93.184.216.34", "127.0.0.1"])
    asked = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(safe_http.socket, "getaddrinfo", getaddrinfo)
    opened = []

    def create_connection(address, timeout=None):
        opened.append(address)
        raise ConnectionRefusedError("test: not really connecting")

    monkeypatch.setattr(safe_http.socket, "create_connection", create_connection)
    with pytest.raises(OSError):
        safe_http.safe_request("POST", "https://hooks.example.com/in", body=b"{}")
    assert asked == ["hooks.example.com"]
    assert opened == [("93.184.216.34", 443)]


def test_pinned_connection_keeps_the_host_name_for_the_host_header(monkeypatch):
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["host"] = self.headers.get("Host")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        asked = _fake_dns(monkeypatch, {"vendor.example.test": "127.0.0.1"})
        response = safe_http.safe_request("GET", f"http://vendor.example.test:{port}/x")
    finally:
        server.shutdown()
    assert response.status == 200 and response.body == b"ok"
    assert seen["host"] == f"vendor.example.test:{port}"
    # The name once; then only the vetted address (create_connection resolves the literal).
    assert asked == ["vendor.example.test", "127.0.0.1"]


def test_tls_uses_the_host_name_for_sni_on_the_vetted_address(monkeypatch):
    opened, wrapped = [], []

    class FakeContext:
        verify_mode = ssl.CERT_REQUIRED
        check_hostname = True

        def wrap_socket(self, sock, server_hostname=None):
            wrapped.append(server_hostname)
            return sock

    class FakeSocket:
        def setsockopt(self, *args):
            pass

        def close(self):
            pass

    def create_connection(address, timeout=None):
        opened.append(address)
        return FakeSocket()

    monkeypatch.setattr(safe_http.socket, "create_connection", create_connection)
    connection = safe_http._PinnedHTTPSConnection(
        "acme.my.salesforce.com", 443, addresses=["93.184.216.34"], timeout=5, context=FakeContext()
    )
    connection.connect()
    assert opened == [("93.184.216.34", 443)]
    assert wrapped == ["acme.my.salesforce.com"]


@pytest.mark.django_db
def test_redirects_are_not_followed_and_the_token_stays(trio, local_server):
    """The scratch test showed urllib following a 302 to another URL with the bearer."""
    local_server.responses = [(302, {"Location": f"{local_server.url}/meta"}, b"")]
    connection = connect(
        trio.alpha, "hubspot", base_url=local_server.url, credentials={"access_token": "SECRET"}
    )
    client = ConnectorClient(connection, sleep=lambda s: None)
    with pytest.raises(ConnectorError) as caught:
        client.get("/start")
    assert caught.value.status == 302
    assert [r.path for r in local_server.received] == ["/start"]


@PRODUCTION
def test_outbound_webhook_to_a_rebound_name_is_not_sent(monkeypatch):
    _fake_dns(monkeypatch, {"hooks.customer.example": "192.168.1.10"})
    code, text = webhooks_out.post("https://hooks.customer.example/in", b"{}", {})
    assert code is None and "private" in text


@PRODUCTION
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "base_url", ["https://169.254.169.254", "https://metadata.internal", "https://127.0.0.1:8443"]
)
def test_saving_a_private_base_url_is_a_field_error(trio, base_url):
    with tenant_context(trio.alpha.pk), pytest.raises(services.IntegrationError) as caught:
        services.connection_create(
            actor=trio.alice_membership,
            vendor="hubspot",
            credentials={"access_token": "pat-" + "x" * 20},
            settings={"base_url": base_url},
        )
    assert "base_url" in caught.value.fields


@PRODUCTION
def test_salesforce_instance_and_next_records_urls_stay_on_the_instance():
    assert not _instance_ok("http://acme.my.salesforce.com")
    assert not _instance_ok("https://10.0.0.1")
    assert _instance_ok("https://acme.my.salesforce.com")
    instance = "https://acme.my.salesforce.com"
    assert _on_instance(instance, "/services/data/v60.0/query/01g-2000") == (
        f"{instance}/services/data/v60.0/query/01g-2000"
    )
    assert _on_instance(instance, f"{instance}/services/x") == f"{instance}/services/x"
    with pytest.raises(ConnectorError):
        _on_instance(instance, "https://attacker.example/services/x")


# --- P1-2 base URL / credentials change --------------------------------------------------------


def _salesforce(org):
    connection = connect(
        org,
        "salesforce",
        base_url="https://old.my.salesforce.com",
        credentials={"client_id": "id-old-xxxxxxxx", "client_secret": "secret-old-xxxxxx"},
    )
    with tenant_context(org.pk):
        connection.set_state(
            {"access_token": "OLD-TOKEN", "instance_url": "https://old.my.salesforce.com"}
        )
        connection.save(update_fields=["state_encrypted"])
    return reload(connection)


@pytest.mark.django_db(transaction=True)
def test_new_base_url_host_requires_the_secrets_again(trio):
    connection = _salesforce(trio.alpha)
    with tenant_context(trio.alpha.pk), pytest.raises(services.IntegrationError) as caught:
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name=connection.name,
            credentials={"client_id": "id-new-xxxxxxxx", "client_secret": ""},
            settings={"base_url": "https://attacker.example"},
        )
    assert list(caught.value.fields) == ["client_secret"]
    kept = reload(connection)
    assert kept.settings["base_url"] == "https://old.my.salesforce.com"
    assert kept.state["access_token"] == "OLD-TOKEN"


@pytest.mark.django_db(transaction=True)
def test_new_base_url_with_new_secret_drops_the_kept_token(trio):
    connection = _salesforce(trio.alpha)
    with tenant_context(trio.alpha.pk):
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name=connection.name,
            credentials={"client_id": "id-new-xxxxxxxx", "client_secret": "secret-new-xxxxxx"},
            settings={"base_url": "https://new.my.salesforce.com"},
        )
    saved = reload(connection)
    assert saved.credentials["client_secret"] == "secret-new-xxxxxx"
    assert saved.state == {} and saved.state_encrypted == ""


@pytest.mark.django_db(transaction=True)
def test_changed_credentials_on_the_same_host_drop_the_token_too(trio):
    connection = _salesforce(trio.alpha)
    with tenant_context(trio.alpha.pk):
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name=connection.name,
            credentials={"client_id": "id-new-xxxxxxxx", "client_secret": ""},
            settings={},
        )
    saved = reload(connection)
    assert saved.credentials == {
        "client_id": "id-new-xxxxxxxx",
        "client_secret": "secret-old-xxxxxx",
    }
    assert saved.state == {}


@pytest.mark.django_db(transaction=True)
def test_renaming_only_keeps_the_token(trio):
    connection = _salesforce(trio.alpha)
    with tenant_context(trio.alpha.pk):
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name="Renamed",
            credentials={"client_id": "id-old-xxxxxxxx", "client_secret": ""},
            settings={},
        )
    assert reload(connection).state["access_token"] == "OLD-TOKEN"


# --- P2-4 replay with an extra header -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_hubspot_replay_with_an_extra_header_is_refused(client, trio):
    connection = connect(
        trio.alpha,
        "hubspot",
        base_url="http://127.0.0.1:9",
        credentials={"access_token": "pat-x" * 4, "client_secret": "cs-secret"},
    )
    body = json.dumps({"properties": {"email": {"value": "r@exemple.fr"}}}).encode()
    url = f"http://testserver/connect/{connection.webhook_key}/"
    headers = {
        k: v
        for k, v in hubspot_headers("cs-secret", "POST", url, body).items()
        if k != "Content-Type"
    }

    def send(extra):
        return client.post(
            f"/connect/{connection.webhook_key}/",
            data=body,
            content_type="application/json",
            headers={**headers, **extra},
        )

    assert send({}).status_code == 202
    assert send({}).status_code == 409
    assert send({"X-Any-Token": "1"}).status_code == 409
    assert send({"X-Request-Signature-Nonce": "2"}).status_code == 409


@pytest.mark.django_db(transaction=True)
def test_activecampaign_replay_key_is_the_body(client, trio):
    connection = _ac(trio.alpha, {})
    assert _post(client, connection, BODY).status_code == 202
    assert _post(client, connection, BODY, extra="&utm=1").status_code == 409


# --- P2-5 malformed settings and payloads ---------------------------------------------------


BODY = (
    b"type=subscribe&date_time=2026-12-01T10:00:00Z&contact[email]=a@b.fr&contact[id]=3"
    b"&form[id]=7&form[name]=F"
)


def _ac(org, forms):
    return connect(
        org,
        "activecampaign",
        base_url="https://x.api-us1.com",
        credentials={"api_key": "k" * 20, "webhook_token": WT},
        settings={"forms": forms},
    )


def _post(client, connection, body, extra=""):
    return client.post(
        f"/connect/{connection.webhook_key}/?token={WT}{extra}",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )


@pytest.mark.django_db(transaction=True)
def test_activecampaign_string_form_setting_is_ignored(client, trio):
    connection = _ac(trio.alpha, {"7": "white-paper"})
    client.raise_request_exception = False
    response = _post(client, connection, BODY)
    assert response.status_code == 202 and response.json()["accepted"] == 1


@pytest.mark.django_db(transaction=True)
def test_activecampaign_plain_field_named_like_a_group(client, trio):
    connection = _ac(trio.alpha, {})
    client.raise_request_exception = False
    for body in (
        b"type=subscribe&date_time=2026-12-01T10:00:00Z&contact[email]=a@b.fr&form=x",
        b"type=subscribe&date_time=2026-12-01T10:00:00Z&form=x&contact[email]=c@b.fr&form[id]=7",
        b"type=subscribe&date_time=2026-12-01T10:00:00Z&contact=x",
    ):
        assert _post(client, connection, body).status_code == 202


def test_form_setting_ignores_entries_that_are_not_objects():
    class C:
        settings = {"forms": {"Demo": "demo_request", "7": {"type": "demo_request"}}}

    assert norm.form_setting(C(), "Demo") == {}
    assert norm.form_setting(C(), "x", 7) == {"type": "demo_request"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("vendor", "settings", "field"),
    [
        ("activecampaign", {"forms": {"7": "white-paper"}}, "setting_forms"),
        ("hubspot", {"forms": ["guid"]}, "setting_forms"),
        ("marketo", {"forms": {"Demo": {"type": "no such type"}}}, "setting_forms"),
        ("marketo", {"activity_types": {"abc": "custom:x"}}, "setting_activity_types"),
        ("salesforce", {"lead_status": {"mql": 3}}, "setting_lead_status"),
        ("pipedrive", {"lead_labels": {"mql": {"id": 1}}}, "setting_lead_labels"),
    ],
)
def test_json_settings_of_the_wrong_shape_are_field_errors(trio, vendor, settings, field):
    from integrations.connectors.base import get_connector

    connector = get_connector(vendor)
    credentials = {spec.name: "v" * 40 for spec in connector.credential_fields}
    with tenant_context(trio.alpha.pk), pytest.raises(services.IntegrationError) as caught:
        services.connection_create(
            actor=trio.alice_membership,
            vendor=vendor,
            credentials=credentials,
            settings={"base_url": "https://api.example.com", **settings},
        )
    assert field in caught.value.fields


@pytest.mark.django_db(transaction=True)
def test_json_settings_of_the_right_shape_are_kept(trio):
    with tenant_context(trio.alpha.pk):
        connection = services.connection_create(
            actor=trio.alice_membership,
            vendor="marketo",
            credentials={"client_id": "c" * 10, "client_secret": "s" * 20},
            settings={
                "base_url": "https://123-abc-456.mktorest.com",
                "forms": {"Demo": {"type": "demo_request"}, "WP": {"content": "wp"}},
                "activity_types": {"46": "", "13": "custom:score_change"},
            },
        )
    assert connection.settings["forms"]["Demo"] == {"type": "demo_request"}


# --- P2-6 undecryptable credentials ---------------------------------------------------------


def _undecryptable(org):
    connection = connect(
        org, "hubspot", base_url="https://api.hubapi.com", credentials={"access_token": "x" * 20}
    )
    with tenant_context(org.pk):
        Connection.objects.for_org(org).filter(pk=connection.pk).update(
            credentials_encrypted="gAAAAAB-not-a-fernet-token"
        )
    return reload(connection)


@pytest.mark.django_db(transaction=True)
def test_update_with_undecryptable_credentials_asks_for_them(trio):
    connection = _undecryptable(trio.alpha)
    with tenant_context(trio.alpha.pk), pytest.raises(services.IntegrationError) as caught:
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name=connection.name,
            credentials={"access_token": ""},
            settings={},
        )
    assert "access_token" in caught.value.fields
    with tenant_context(trio.alpha.pk):
        services.connection_update(
            actor=trio.alice_membership,
            connection=reload(connection),
            name=connection.name,
            credentials={"access_token": "pat-new-" + "y" * 20},
            settings={},
        )
    assert reload(connection).credentials["access_token"] == "pat-new-" + "y" * 20


@pytest.mark.django_db(transaction=True)
def test_check_with_undecryptable_credentials_is_a_message(trio):
    connection = _undecryptable(trio.alpha)
    with tenant_context(trio.alpha.pk), translation.override("en"):
        message = services.connection_check(actor=trio.alice_membership, connection=connection)
    assert "decrypt" in message
    assert reload(connection).status == "error"


@pytest.mark.django_db(transaction=True)
def test_edit_page_with_undecryptable_credentials_is_no_500(trio, client_for):
    connection = _undecryptable(trio.alpha)
    page = client_for(trio.alice)
    url = f"/o/{trio.alpha.slug}/settings/integrations/{connection.pk}/"
    response = page.post(url, {"name": "HubSpot", "access_token": "", "base_url": ""})
    assert response.status_code == 400
    response = page.post(url, {"name": "HubSpot", "access_token": "pat-" + "z" * 20})
    assert response.status_code == 302


# --- P2-7 ActiveCampaign webhook token ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_activecampaign_token_is_generated_and_shown_once(trio, client_for):
    page = client_for(trio.alice)
    response = page.post(
        f"/o/{trio.alpha.slug}/settings/integrations/connect/activecampaign/",
        {
            "name": "AC",
            "api_key": "k" * 20,
            "webhook_token": "",
            "base_url": "https://x.api-us1.com",
        },
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    with tenant_context(trio.alpha.pk):
        connection = Connection.objects.for_org(trio.alpha).get(vendor="activecampaign")
    token = connection.credentials["webhook_token"]
    assert len(token) >= 40
    assert f"/connect/{connection.webhook_key}/?token={token}" in response.content.decode()
    detail = page.get(f"/o/{trio.alpha.slug}/settings/integrations/{connection.pk}/")
    assert token not in detail.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_short_activecampaign_token_is_refused(trio):
    with tenant_context(trio.alpha.pk), pytest.raises(services.IntegrationError) as caught:
        services.connection_create(
            actor=trio.alice_membership,
            vendor="activecampaign",
            credentials={"api_key": "k" * 20, "webhook_token": "short-token"},
            settings={"base_url": "https://x.api-us1.com"},
        )
    assert "webhook_token" in caught.value.fields


# --- P2-8 POST retries ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_plain_post_is_not_retried_on_5xx(trio, local_server):
    local_server.responses = [(503, {}, {}), (200, {}, {"id": 1})]
    connection = connect(
        trio.alpha, "pipedrive", base_url=local_server.url, credentials={"api_token": "t" * 20}
    )
    client = ConnectorClient(connection, sleep=lambda s: None)
    with pytest.raises(ConnectorError) as caught:
        client.post("/v1/persons", json={"name": "x"})
    assert caught.value.retryable
    assert len(local_server.received) == 1


@pytest.mark.django_db
def test_a_plain_post_is_not_retried_on_a_network_error(trio, monkeypatch):
    connection = connect(
        trio.alpha, "pipedrive", base_url="http://127.0.0.1:9", credentials={"api_token": "t" * 20}
    )
    sent = []

    def broken(*args, **kwargs):
        sent.append(args)
        raise ConnectionResetError("reset")

    monkeypatch.setattr("integrations.http.safe_request", broken)
    client = ConnectorClient(connection, sleep=lambda s: None)
    with pytest.raises(ConnectorError) as caught:
        client.post("/v1/persons", json={"name": "x"})
    assert caught.value.retryable and len(sent) == 1


@pytest.mark.django_db
def test_a_repeatable_post_and_a_429_are_retried(trio, local_server):
    local_server.responses = [(503, {}, {}), (429, {"Retry-After": "0"}, {}), (200, {}, {})]
    connection = connect(
        trio.alpha, "hubspot", base_url=local_server.url, credentials={"access_token": "t" * 20}
    )
    client = ConnectorClient(connection, sleep=lambda s: None)
    client.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": []}, retry_unsafe=True)
    assert len(local_server.received) == 3


# --- P2-9 rolled-back stage changes -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_stage_change_is_not_pushed_later(trio, monkeypatch):
    from integrations import receivers, tasks
    from leads.ingest import ingest_events
    from leads.models import Lead

    connect(
        trio.alpha, "hubspot", base_url="https://x.example", credentials={"access_token": "t" * 20}
    )
    sent = []
    monkeypatch.setattr(tasks.push_leads, "delay", lambda *a: sent.append(a))
    now = timezone.now()
    with tenant_context(trio.alpha.pk):
        ingest_events(
            organization=trio.alpha,
            source="t",
            now=now,
            events=[
                {
                    "id": "e1",
                    "type": "page_view",
                    "occurred_at": now.isoformat(),
                    "email": "one@exemple.fr",
                },
                {
                    "id": "e2",
                    "type": "page_view",
                    "occurred_at": now.isoformat(),
                    "email": "two@exemple.fr",
                },
            ],
        )
        one, two = list(Lead.objects.for_org(trio.alpha).order_by("email"))
    with pytest.raises(RuntimeError), tenant_context(trio.alpha.pk):
        receivers._push_on_commit(trio.alpha, one, one.stage, "mql", now)
        raise RuntimeError("rollback")
    with tenant_context(trio.alpha.pk):
        receivers._push_on_commit(trio.alpha, two, two.stage, "mql", now)
    pushed = [item[0] for call in sent for item in call[2]]
    assert pushed == [two.pk]


@pytest.mark.django_db(transaction=True)
def test_push_skips_leads_below_mql_and_stages_already_pushed(trio):
    from integrations.models import ExternalRecord
    from integrations.sync import push_leads_to
    from leads.ingest import ingest_events
    from leads.models import Lead

    # An unreachable CRM: any call would fail the push.
    connection = connect(
        trio.alpha, "hubspot", base_url="http://127.0.0.1:9", credentials={"access_token": "t" * 20}
    )
    now = timezone.now()
    with tenant_context(trio.alpha.pk):
        ingest_events(
            organization=trio.alpha,
            source="t",
            now=now,
            events=[
                {
                    "id": "e1",
                    "type": "page_view",
                    "occurred_at": now.isoformat(),
                    "email": "a@exemple.fr",
                }
            ],
        )
        lead = Lead.objects.for_org(trio.alpha).get()
    change = {"from_stage": "lead", "to_stage": "mql", "at": now.isoformat()}
    assert (
        push_leads_to(
            organization_id=trio.alpha.pk, connection_id=connection.pk, items=[(lead.pk, change)]
        )
        == {}
    )
    with tenant_context(trio.alpha.pk):
        Lead.objects.for_org(trio.alpha).filter(pk=lead.pk).update(stage="mql")
        ExternalRecord.objects.create(
            organization=trio.alpha,
            connection=connection,
            lead=lead,
            external_id="123",
            pushed_stage="mql",
            pushed_at=now,
        )
    assert (
        push_leads_to(
            organization_id=trio.alpha.pk, connection_id=connection.pk, items=[(lead.pk, change)]
        )
        == {}
    )


# --- P3 -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_integrity_error_that_is_no_replay_is_a_503(client, trio, monkeypatch):
    connection = _ac(trio.alpha, {})

    def conflict(**kwargs):
        raise IntegrityError("duplicate key value violates unique constraint leads_lead_email")

    monkeypatch.setattr(inbound, "ingest_connector_events", conflict)
    response = _post(client, connection, BODY)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "retry_later"
    monkeypatch.undo()
    assert _post(client, connection, BODY).status_code == 202  # the receipt was rolled back


@pytest.mark.django_db(transaction=True)
def test_the_test_call_is_tried_once_with_a_short_timeout(trio, local_server):
    local_server.default = (503, {}, {})
    connection = connect(
        trio.alpha, "hubspot", base_url=local_server.url, credentials={"access_token": "t" * 20}
    )
    started = time.monotonic()
    with tenant_context(trio.alpha.pk):
        message = services.connection_check(actor=trio.alice_membership, connection=connection)
    assert message and len(local_server.received) == 1
    assert time.monotonic() - started < 5


def test_the_sweeper_sends_expiring_sync_tasks(monkeypatch):
    from integrations import tasks

    sent = []
    monkeypatch.setattr(tasks, "due_connections", lambda: [(1, 2)])
    monkeypatch.setattr(
        tasks.sync_connection, "apply_async", lambda args, **kw: sent.append((args, kw))
    )
    assert tasks.sweep_connections() == 1
    assert sent == [((1, 2, "schedule"), {"expires": tasks.SYNC_EXPIRES})]


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_lost_its_claim_stops_and_leaves_the_new_claim(trio, monkeypatch):
    from datetime import timedelta

    from integrations import sync

    connection = connect(
        trio.alpha, "hubspot", base_url="http://127.0.0.1:9", credentials={"access_token": "t" * 20}
    )
    now = timezone.now()
    token = sync._claim(trio.alpha.pk, connection.pk, now)
    assert token and not sync._claim(trio.alpha.pk, connection.pk, now)
    # Our claim expired; another worker took the connection over.
    later = now + sync.CLAIM_FOR + timedelta(seconds=1)
    other = sync._claim(trio.alpha.pk, connection.pk, later)
    assert other and other != token
    with tenant_context(trio.alpha.pk), pytest.raises(sync.ClaimLost):
        sync._renew(trio.alpha.pk, connection.pk, token, later)
    sync._release(trio.alpha.pk, connection.pk, token)  # not ours: nothing happens
    fresh = reload(connection)
    assert fresh.sync_claim_token == other and fresh.sync_claimed_until is not None
    sync._release(trio.alpha.pk, connection.pk, other)
    fresh = reload(connection)
    assert fresh.sync_claim_token == "" and fresh.sync_claimed_until is None


@pytest.mark.django_db(transaction=True)
def test_a_token_generated_on_edit_is_shown_once_too(trio, client_for):
    connection = connect(
        trio.alpha,
        "activecampaign",
        base_url="https://x.api-us1.com",
        credentials={"api_key": "k" * 20, "webhook_token": WT},
    )
    with tenant_context(trio.alpha.pk):
        Connection.objects.for_org(trio.alpha).filter(pk=connection.pk).update(
            credentials_encrypted="gAAAAAB-not-a-fernet-token"
        )
    page = client_for(trio.alice)
    response = page.post(
        f"/o/{trio.alpha.slug}/settings/integrations/{connection.pk}/",
        {
            "name": "AC",
            "api_key": "n" * 20,
            "webhook_token": "",
            "base_url": "https://x.api-us1.com",
        },
    )
    token = reload(connection).credentials["webhook_token"]
    assert response.status_code == 200 and token != WT
    assert f"?token={token}" in response.content.decode()
