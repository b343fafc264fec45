"""The connector framework: encrypted credentials, the HTTP client (rate limit shared in
Redis, 429/Retry-After, 5xx backoff), syncs with cursors and idempotent upserts, CRM
push with external ids, vendor webhooks in (signature, replay)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.db import connection as db_connection
from django.test import override_settings
from django.utils import timezone

from integrations import http, services, sync
from integrations.connectors.base import AuthError, ConnectorError, RateLimit
from integrations.mapping import apply_mapping, clean_field_mapping
from integrations.models import (
    Connection,
    ConnectionLog,
    ExternalRecord,
    Health,
    SyncCursor,
    SyncRun,
)
from leads.models import Deal, Event, Lead, Stage
from leads.services import lead_accept, lead_mark_mql

pytestmark = pytest.mark.django_db


def _connect(trio, as_org, server_url: str, **extra) -> Connection:
    with as_org(trio.alpha):
        return services.connection_create(
            actor=trio.alice_membership,
            vendor="testvendor",
            name=extra.pop("name", "Main"),
            credentials={"api_key": "sk_live_supersecret_123456", "account": "acme"},
            settings={"base_url": server_url},
        )


def _client(connection, **kwargs) -> http.ConnectorClient:
    kwargs.setdefault("sleep", lambda seconds: None)
    return http.ConnectorClient(connection, **kwargs)


# --- Credentials at rest ---------------------------------------------------------------------


def test_credentials_are_encrypted_at_rest(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT credentials_encrypted, credential_hints::text, settings::text"
                " FROM integrations_connection WHERE id = %s",
                [connection.pk],
            )
            row = cursor.fetchone()
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
    assert "supersecret" not in " ".join(str(value) for value in row)
    assert row[0].startswith("gAAAA")  # a Fernet token
    assert fresh.credentials == {"api_key": "sk_live_supersecret_123456", "account": "acme"}
    assert fresh.credential_hints == {"api_key": "••••3456", "account": "acme"}


def test_editing_keeps_a_secret_left_empty(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        services.connection_update(
            actor=trio.alice_membership,
            connection=connection,
            name="Renamed",
            credentials={"api_key": "", "account": "other"},
        )
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
    assert fresh.credentials["api_key"] == "sk_live_supersecret_123456"
    assert fresh.credentials["account"] == "other"
    assert fresh.name == "Renamed"


def test_a_required_credential_is_required(trio, as_org, fake_connector):
    with as_org(trio.alpha), pytest.raises(services.IntegrationError) as caught:
        services.connection_create(
            actor=trio.alice_membership, vendor="testvendor", credentials={"api_key": " "}
        )
    assert "api_key" in caught.value.fields


def test_only_admins_connect(trio, as_org, fake_connector):
    from smarketing.tenancy.permissions import PermissionDenied

    with as_org(trio.alpha), pytest.raises(PermissionDenied):
        services.connection_create(
            actor=trio.bob_membership, vendor="testvendor", credentials={"api_key": "x" * 20}
        )


@override_settings(DEBUG=False, TESTING=False)
def test_base_urls_must_be_https_in_production(trio, as_org, fake_connector):
    with as_org(trio.alpha), pytest.raises(services.IntegrationError):
        services.connection_create(
            actor=trio.alice_membership,
            vendor="testvendor",
            credentials={"api_key": "x" * 20},
            settings={"base_url": "http://10.0.0.1"},
        )


# --- HTTP client --------------------------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.responses = [(429, {"Retry-After": "2"}, {"error": "slow down"})]
    slept: list[float] = []
    client = _client(connection, sleep=slept.append)
    response = client.get("/me")
    assert response.status == 200
    assert slept == [2.0]
    assert len(local_server.received) == 2
    assert local_server.received[0].headers["authorization"] == "Bearer sk_live_supersecret_123456"
    assert [entry.status_code for entry in client.logs] == [429]
    with as_org(trio.alpha):
        client.flush_logs()
        logged = ConnectionLog.objects.for_org(trio.alpha).get(connection=connection, kind="http")
    assert logged.level == "warning" and logged.status_code == 429
    assert "?" not in logged.url


def test_retry_after_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert http.parse_retry_after(header, now=now.timestamp()) == pytest.approx(30)
    assert http.parse_retry_after("7") == 7.0
    assert http.parse_retry_after("soon") is None


def test_a_retry_after_too_long_fails_as_retryable(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (429, {"Retry-After": "3600"}, {})
    with pytest.raises(ConnectorError) as caught:
        _client(connection).get("/me")
    assert caught.value.retryable and caught.value.status == 429
    assert len(local_server.received) == 1


def test_5xx_backs_off_exponentially_then_gives_up(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (503, {}, {"error": "down"})
    slept: list[float] = []
    client = _client(connection, sleep=slept.append, max_attempts=4, backoff_base=1.0)
    with pytest.raises(ConnectorError) as caught:
        client.get("/me")
    assert caught.value.retryable
    assert len(local_server.received) == 4
    assert len(slept) == 3  # no wait after the last attempt
    for attempt, delay in enumerate(slept):  # full jitter under base * 2**attempt
        assert 0 <= delay <= 2**attempt


def test_5xx_then_success(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.responses = [(500, {}, {}), (502, {}, {})]
    assert _client(connection).get("/me").json() == {"ok": True}
    assert len(local_server.received) == 3


def test_401_is_an_auth_error_without_retry(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (401, {}, {"error": "bad token"})
    with pytest.raises(AuthError):
        _client(connection).get("/me")
    assert len(local_server.received) == 1


def test_network_errors_are_retried(trio, as_org, fake_connector):
    connection = _connect(trio, as_org, "http://127.0.0.1:9")  # discard port: refused
    client = _client(connection, max_attempts=2)
    with pytest.raises(ConnectorError) as caught:
        client.get("/me")
    assert caught.value.retryable
    assert len(client.logs) == 2


def test_rate_limit_is_shared_through_redis():
    """Two limiters (two workers) share one window per key in Redis."""
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    first, second = http.RateLimiter(), http.RateLimiter()
    key = f"test:{timezone.now().timestamp()}"
    first.reset(key)
    limit = RateLimit(3, 2.0)
    assert [first.try_acquire(key, limit) for _ in range(2)] == [0, 0]
    assert second.try_acquire(key, limit) == 0
    wait = second.try_acquire(key, limit)
    assert 0 < wait <= 2.0
    assert first.try_acquire(key, limit) > 0
    first.reset(key)
    assert first.try_acquire(key, limit) == 0


@override_settings(REDIS_URL=None)
def test_rate_limit_without_redis_is_process_local():
    limiter = http.RateLimiter()
    limit = RateLimit(2, 60.0)
    assert limiter.try_acquire("k", limit) == 0
    assert limiter.try_acquire("k", limit) == 0
    assert 59 < limiter.try_acquire("k", limit) <= 60


def test_acquire_waits_for_a_slot():
    limiter = http.RateLimiter()
    waits = iter([0.5, 0.25, 0.0])
    limiter.try_acquire = lambda key, limit: next(waits)  # type: ignore[method-assign]
    slept: list[float] = []
    assert limiter.acquire("k", RateLimit(1, 1), sleep=slept.append) == 0.75
    assert slept == [0.5, 0.25]


def test_the_client_respects_the_connector_limit(trio, as_org, fake_connector, local_server):
    """A limit of 2 calls per second: the third call of a burst waits."""
    connection = _connect(trio, as_org, local_server.url)
    limiter = http.RateLimiter()
    limiter.reset(f"testvendor:{connection.pk}")
    fake_connector.rate_limit = RateLimit(2, 1.0)
    try:
        slept: list[float] = []
        client = _client(connection, sleep=slept.append, rate_limiter=limiter)
        limiter_sleep = []

        def sleeping(seconds):
            limiter_sleep.append(seconds)
            limiter.reset(f"testvendor:{connection.pk}")  # time passes

        client.sleep = sleeping
        for _ in range(3):
            client.get("/me")
        assert len(limiter_sleep) == 1 and 0 < limiter_sleep[0] <= 1.0
    finally:
        fake_connector.rate_limit = RateLimit(100, 1.0)


# --- Field mapping ---------------------------------------------------------------------------


def test_mapping_reads_dotted_paths():
    record = {"properties": {"email": "a@b.test", "firstname": "Ann", "n": 5}, "tags": ["x"]}
    mapping = {
        "email": "properties.email",
        "first_name": "properties.firstname",
        "properties.count": "properties.n",
        "last_name": "properties.missing",
        "title": "",
    }
    assert apply_mapping(mapping, record) == {
        "email": "a@b.test",
        "first_name": "Ann",
        "properties": {"count": 5},
    }


def test_mapping_is_checked():
    cleaned, errors = clean_field_mapping({"email": "a.b", "nope": "x", "phone": "a..b"})
    assert cleaned == {"email": "a.b"}
    assert len(errors) == 2
    assert clean_field_mapping([1])[1]


def test_connection_mapping_overrides_defaults(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        services.connection_set_mapping(
            actor=trio.alice_membership,
            connection=connection,
            mapping={"first_name": "given", "properties.plan": ""},
        )
    assert fake_connector.field_mapping(connection) == {"email": "email", "first_name": "given"}


# --- Sync --------------------------------------------------------------------------------------


def _contacts_server(local_server, pages):
    """pages: {after: (items, next, more)}; deals: {after: (items, next)}."""

    def handler(received):
        path, _, query = received.path.partition("?")
        after = int(dict(p.split("=") for p in query.split("&") if p).get("after", 0))
        if path == "/contacts":
            items, nxt, more = pages.get(after, ([], after, False))
            return 200, {}, {"items": items, "next": nxt, "more": more}
        if path == "/deals":
            items, nxt = pages.get(("deals", after), ([], after))
            return 200, {}, {"items": items, "next": nxt}
        if path == "/leads":
            body = received.json()
            return 200, {}, {"id": body.get("id") or f"crm-{body['email']}"}
        return 200, {}, {"ok": True}

    local_server.handler = handler


def _contact(n, **extra):
    return {
        "id": n,
        "email": f"p{n}@acme.test",
        "firstName": f"P{n}",
        "plan": "pro",
        "at": "2026-01-05T10:00:00Z",
        **extra,
    }


def test_sync_pulls_pages_ingests_and_keeps_the_cursor(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    _contacts_server(
        local_server,
        {
            0: ([_contact(1), _contact(2)], 2, True),
            2: ([_contact(3)], 3, False),
            ("deals", 0): ([], 0),
        },
    )
    run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    assert run.status == SyncRun.Status.OK
    assert (run.pages, run.events_accepted, run.events_duplicate) == (3, 3, 0)
    assert run.streams["contacts"]["events"] == 3
    with as_org(trio.alpha):
        events = Event.objects.for_org(trio.alpha).filter(source="testvendor")
        assert sorted(events.values_list("external_id", flat=True)) == [
            "contact:1",
            "contact:2",
            "contact:3",
        ]
        lead = Lead.objects.for_org(trio.alpha).get(email="p1@acme.test")
        assert lead.first_name == "P1"
        assert events.get(external_id="contact:1").properties == {"plan": "pro"}
        cursor = SyncCursor.objects.for_org(trio.alpha).get(
            connection=connection, stream="contacts"
        )
        assert cursor.cursor == {"after": 3}
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
    assert fresh.status == Health.OK and fresh.last_sync_at and fresh.sync_claimed_until is None

    # The next run starts at the cursor; a replayed page is only duplicates.
    _contacts_server(local_server, {3: ([_contact(3), _contact(4)], 4, False)})
    run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    assert (run.events_accepted, run.events_duplicate) == (1, 1)
    assert "after=3" in local_server.received[-2].path


def test_a_bad_event_is_left_out_and_logged(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    _contacts_server(
        local_server,
        {0: ([_contact(1), _contact(2, email="not-an-email")], 2, False)},
    )
    run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    assert run.status == SyncRun.Status.OK and run.events_accepted == 1
    with as_org(trio.alpha):
        log = ConnectionLog.objects.for_org(trio.alpha).get(connection=connection, kind="sync")
    assert "contact:2" in log.message


def test_deals_are_upserted_by_external_id_and_won_deals_close_the_loop(
    trio, as_org, fake_connector, local_server
):
    from leads.signals import deal_won

    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        lead = Lead.objects.create(organization=trio.alpha, email="buyer@acme.test")
    won: list = []
    deal_won.connect(
        lambda sender, deal, **kw: won.append(deal.pk), dispatch_uid="t-won", weak=False
    )
    try:
        _contacts_server(
            local_server,
            {
                ("deals", 0): (
                    [
                        {
                            "id": 77,
                            "name": "Acme",
                            "amount": "1200.50",
                            "status": "open",
                            "email": "BUYER@acme.test",
                        }
                    ],
                    1,
                ),
            },
        )
        sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
        with as_org(trio.alpha):
            deal = Deal.objects.for_org(trio.alpha).get(source="testvendor", external_id="77")
        assert deal.lead_id == lead.pk and deal.status == "open" and str(deal.amount) == "1200.50"

        _contacts_server(
            local_server,
            {
                ("deals", 1): (
                    [{"id": 77, "name": "Acme", "amount": 1500, "status": "won"}],
                    2,
                ),
            },
        )
        run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
        assert (run.deals_created, run.deals_updated) == (0, 1)
        with as_org(trio.alpha):
            deal = Deal.objects.for_org(trio.alpha).get(source="testvendor", external_id="77")
            assert Deal.objects.for_org(trio.alpha).count() == 1
        assert deal.status == "won" and deal.amount == 1500 and deal.closed_at
        assert won == [deal.pk]
    finally:
        deal_won.disconnect(dispatch_uid="t-won")


def test_a_failed_sync_sets_the_health_and_keeps_the_log(
    trio, as_org, fake_connector, local_server
):
    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (401, {}, {"message": "expired token"})
    run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    assert run.status == SyncRun.Status.ERROR and "401" in run.error
    with as_org(trio.alpha):
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
        kinds = set(
            ConnectionLog.objects.for_org(trio.alpha)
            .filter(connection=connection)
            .values_list("kind", flat=True)
        )
    assert fresh.status == Health.ERROR and "401" in fresh.last_error
    assert fresh.consecutive_failures == 1 and fresh.sync_claimed_until is None
    assert {"http", "auth"} <= kinds

    _contacts_server(local_server, {})
    run = sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    with as_org(trio.alpha):
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
    assert run.status == SyncRun.Status.OK
    assert fresh.status == Health.OK and fresh.consecutive_failures == 0


def test_one_sync_at_a_time(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        Connection.objects.for_org(trio.alpha).filter(pk=connection.pk).update(
            sync_claimed_until=timezone.now() + timedelta(minutes=5)
        )
    assert sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk) is None
    assert local_server.received == []


def test_a_paused_connection_does_not_sync(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        services.connection_set_enabled(
            actor=trio.alice_membership, connection=connection, enabled=False
        )
    assert sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk) is None


def test_the_sweeper_finds_due_connections(trio, as_org, fake_connector, local_server):
    from integrations import tasks

    connection = _connect(trio, as_org, local_server.url)
    assert (trio.alpha.pk, connection.pk) in tasks.due_connections()
    with as_org(trio.alpha):
        Connection.objects.for_org(trio.alpha).filter(pk=connection.pk).update(
            last_sync_at=timezone.now()
        )
    assert (trio.alpha.pk, connection.pk) not in tasks.due_connections()
    with as_org(trio.alpha):
        Connection.objects.for_org(trio.alpha).filter(pk=connection.pk).update(
            sync_requested_at=timezone.now()
        )
    assert (trio.alpha.pk, connection.pk) in tasks.due_connections()


def test_sync_now_dispatches_on_commit(
    trio, as_org, fake_connector, local_server, dispatched, django_capture_on_commit_callbacks
):
    connection = _connect(trio, as_org, local_server.url)
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        services.connection_sync_now(actor=trio.alice_membership, connection=connection)
    assert dispatched == [("sync_connection", (trio.alpha.pk, connection.pk, "manual"))]


# --- CRM push --------------------------------------------------------------------------------


def test_mql_pushes_to_crm_and_remembers_the_external_id(
    trio, as_org, fake_connector, local_server, dispatched, django_capture_on_commit_callbacks
):
    connection = _connect(trio, as_org, local_server.url)
    _contacts_server(local_server, {})
    with as_org(trio.alpha):
        lead = Lead.objects.create(organization=trio.alpha, email="hot@acme.test")
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        assert lead_mark_mql(lead=lead, reason="score")
    pushes = [args for name, args in dispatched if name == "push_leads"]
    assert len(pushes) == 1
    org_id, connection_id, items = pushes[0]
    assert (org_id, connection_id) == (trio.alpha.pk, connection.pk)
    [[lead_id, change]] = items
    assert lead_id == lead.pk and change["to_stage"] == Stage.MQL

    pushed = sync.push_leads_to(organization_id=org_id, connection_id=connection_id, items=items)
    assert pushed == {lead.pk: "crm-hot@acme.test"}
    external = "crm-hot@acme.test"
    with as_org(trio.alpha):
        record = ExternalRecord.objects.for_org(trio.alpha).get(connection=connection, lead=lead)
    assert record.external_id == external and record.pushed_stage == "mql"

    # The next push updates the same record.
    sync.push_lead_to(
        organization_id=org_id,
        connection_id=connection_id,
        lead_id=lead_id,
        change={**change, "to_stage": "sal"},
    )
    assert local_server.received[-1].json() == {
        "email": "hot@acme.test",
        "stage": "sal",
        "id": "crm-hot@acme.test",
    }


def test_a_failed_push_is_logged_and_retryable(trio, as_org, fake_connector, local_server):
    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (503, {}, {})
    with as_org(trio.alpha):
        lead = Lead.objects.create(organization=trio.alpha, email="x@acme.test")
    client = _client(connection, max_attempts=2)
    with pytest.raises(ConnectorError) as caught:
        sync.push_lead_to(
            organization_id=trio.alpha.pk,
            connection_id=connection.pk,
            lead_id=lead.pk,
            change={"to_stage": "mql"},
            client=client,
        )
    assert caught.value.retryable
    with as_org(trio.alpha):
        fresh = Connection.objects.for_org(trio.alpha).get(pk=connection.pk)
        assert ConnectionLog.objects.for_org(trio.alpha).filter(kind="push").exists()
    assert fresh.status == Health.ERROR


def test_no_push_below_mql(
    trio, as_org, fake_connector, local_server, dispatched, django_capture_on_commit_callbacks
):
    from leads.services import lead_upsert

    _connect(trio, as_org, local_server.url)
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        lead_upsert(
            actor=trio.alice_membership, organization=trio.alpha, email="n@acme.test", data={}
        )
    assert [name for name, _ in dispatched if name.startswith("push_lead")] == []


# --- Vendor webhooks in -------------------------------------------------------------------------


def _signed(body: dict, secret="sk_live_supersecret_123456") -> tuple[bytes, str]:  # noqa: S107
    raw = json.dumps(body).encode()
    return raw, hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def _hook_url(connection) -> str:
    return f"/connect/{connection.webhook_key}/"


def test_vendor_webhook_ingests_and_refuses_replays(
    trio, as_org, fake_connector, local_server, client
):
    connection = _connect(trio, as_org, local_server.url)
    body, signature = _signed(
        {"items": [{"id": 9, "email": "w@acme.test", "at": "2026-01-05T10:00:00Z"}]}
    )
    answer = client.post(
        _hook_url(connection),
        body,
        content_type="application/json",
        headers={"X-Test-Signature": signature},
    )
    assert answer.status_code == 202 and answer.json() == {"accepted": 1, "duplicates": 0}
    with as_org(trio.alpha):
        assert (
            Event.objects.for_org(trio.alpha)
            .filter(source="testvendor", external_id="hook:9")
            .exists()
        )
    again = client.post(
        _hook_url(connection),
        body,
        content_type="application/json",
        headers={"X-Test-Signature": signature},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "replayed"


def test_vendor_webhook_with_a_bad_signature_is_refused(
    trio, as_org, fake_connector, local_server, client
):
    connection = _connect(trio, as_org, local_server.url)
    body, _signature = _signed({"items": []})
    answer = client.post(
        _hook_url(connection),
        body,
        content_type="application/json",
        headers={"X-Test-Signature": "0" * 64},
    )
    assert answer.status_code == 401
    with as_org(trio.alpha):
        assert ConnectionLog.objects.for_org(trio.alpha).filter(kind="webhook").exists()


def test_vendor_webhook_unknown_or_paused(trio, as_org, fake_connector, local_server, client):
    connection = _connect(trio, as_org, local_server.url)
    assert client.post("/connect/nope/", b"{}", content_type="application/json").status_code == 404
    with as_org(trio.alpha):
        services.connection_set_enabled(
            actor=trio.alice_membership, connection=connection, enabled=False
        )
    body, signature = _signed({"items": []})
    answer = client.post(
        _hook_url(connection),
        body,
        content_type="application/json",
        headers={"X-Test-Signature": signature},
    )
    assert answer.status_code == 404
    assert client.get(_hook_url(connection)).status_code == 405


def test_admins_hear_of_a_failing_connection_once(trio, as_org, fake_connector, local_server):
    from smarketing.notifications.models import Notification

    connection = _connect(trio, as_org, local_server.url)
    local_server.default = (401, {}, {"message": "revoked"})
    for _ in range(sync.NOTIFY_AFTER_FAILURES + 1):
        sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
    with as_org(trio.alpha):
        notified = list(
            Notification.objects.for_org(trio.alpha)
            .filter(kind="integrations.failing")
            .values_list("recipient_id", flat=True)
        )
    assert notified == [trio.alice.pk]


def test_one_push_task_per_transaction_and_batches(
    trio, as_org, fake_connector, local_server, dispatched, django_capture_on_commit_callbacks
):
    """Three MQLs in one transaction: one task; a connector with push_leads gets them in
    vendor batches of max_batch, each at its current stage."""
    connection = _connect(trio, as_org, local_server.url)
    with as_org(trio.alpha):
        leads = [
            Lead.objects.create(organization=trio.alpha, email=f"b{n}@acme.test") for n in range(3)
        ]
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        for lead in leads:
            lead_mark_mql(lead=lead, reason="score")
        lead_accept(actor=trio.bob_membership, lead=leads[0])
    pushes = [args for name, args in dispatched if name == "push_leads"]
    assert len(pushes) == 1
    items = pushes[0][2]
    assert [lead_id for lead_id, _change in items] == [lead.pk for lead in leads]
    assert items[0][1]["from_stage"] == "lead" and items[0][1]["to_stage"] == "sal"

    calls = []

    def push_leads(self, connection, client, pairs):
        calls.append([(lead.email, change.to_stage) for lead, change in pairs])
        return [
            (f"id-{lead.pk}", "") if n else ("", "refused") for n, (lead, _c) in enumerate(pairs)
        ]

    fake_connector.push_leads = push_leads
    fake_connector.max_batch = 2
    try:
        pushed = sync.push_leads_to(
            organization_id=trio.alpha.pk, connection_id=connection.pk, items=items
        )
    finally:
        del fake_connector.push_leads
        fake_connector.max_batch = 100
    assert calls == [
        [("b0@acme.test", "sal"), ("b1@acme.test", "mql")],
        [("b2@acme.test", "mql")],
    ]
    assert pushed == {leads[1].pk: f"id-{leads[1].pk}"}
    with as_org(trio.alpha):
        refused = ConnectionLog.objects.for_org(trio.alpha).filter(kind="push")
        assert {log.message for log in refused} == {
            "push of b0@acme.test: refused",
            "push of b2@acme.test: refused",
        }
