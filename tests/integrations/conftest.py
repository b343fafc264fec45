"""Fixtures of the integrations framework tests: a test connector, a local HTTP receiver
(a real server on 127.0.0.1), recorded task dispatches."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils.translation import gettext_lazy as _

from integrations.connectors import base
from integrations.connectors.base import (
    CRM,
    MARKETING,
    Connector,
    CredentialField,
    DealRecord,
    PullResult,
    RateLimit,
    SettingField,
    WebhookRejected,
)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class LocalServer:
    """``responses``: a list of (status, headers, body) served in order, then ``default``;
    or ``handler(received) -> (status, headers, body)``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    responses: list[tuple[int, dict, Any]] = field(default_factory=list)
    default: tuple[int, dict, Any] = (200, {}, {"ok": True})
    handler: Callable[[Received], tuple[int, dict, Any]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, received: Received) -> tuple[int, dict, Any]:
        with self.lock:
            self.received.append(received)
            if self.handler is not None:
                return self.handler(received)
            if self.responses:
                return self.responses.pop(0)
            return self.default


@pytest.fixture
def local_server():
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            status, headers, payload = state.answer(received)
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_PUT = _serve

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


# --- A test connector ----------------------------------------------------------------------


class FakeConnector(Connector):
    """Pulls ``GET /contacts?after=<cursor>`` and ``GET /deals?after=`` from a local
    server; webhooks signed with ``X-Test-Signature: hex(HMAC-SHA256(secret, body))``;
    pushes with ``POST /leads``."""

    key = "testvendor"
    label = "Test vendor"
    kind = frozenset({MARKETING, CRM})
    credential_fields = (
        CredentialField("api_key", _("API key")),
        CredentialField("account", _("Account"), secret=False, required=False),
    )
    settings_fields = (
        SettingField("score_property", _("Score property")),
        SettingField("forms", _("Forms"), json=True),
    )
    default_base_url = "https://api.testvendor.invalid"
    rate_limit = RateLimit(100, 1.0)
    streams = ("contacts",)
    supports_webhooks = True
    supports_push = True
    default_field_mapping = {
        "email": "email",
        "first_name": "firstName",
        "properties.plan": "plan",
    }
    conflict_policy = {"deals": "crm"}

    def auth_headers(self, connection, client):
        return {"Authorization": f"Bearer {connection.credentials.get('api_key', '')}"}

    def check(self, connection, client):
        client.get("/me")

    def verify_webhook(self, connection, request):
        secret = connection.credentials.get("api_key", "").encode()
        expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Test-Signature", "")
        if not hmac.compare_digest(expected, given):
            raise WebhookRejected("bad signature")
        return json.loads(request.body)

    def webhook_to_events(self, connection, payload):
        return [
            {
                "id": f"hook:{item['id']}",
                "type": "form_submit",
                "occurred_at": item["at"],
                **self.map_record(connection, item),
            }
            for item in payload.get("items", [])
        ]

    def pull(self, connection, client, stream, cursor):
        data = client.get("/contacts", params={"after": cursor.get("after", 0)}).json()
        events = [
            {
                "id": f"contact:{item['id']}",
                "type": "content_download",
                "occurred_at": item["at"],
                **self.map_record(connection, item),
            }
            for item in data["items"]
        ]
        return PullResult(
            events=events, cursor={"after": data["next"]}, has_more=bool(data.get("more"))
        )

    def pull_deals(self, connection, client, cursor):
        data = client.get("/deals", params={"after": cursor.get("after", 0)}).json()
        deals = [
            DealRecord(
                external_id=str(item["id"]),
                name=item["name"],
                amount=item["amount"],
                status=item["status"],
                lead_email=item.get("email", ""),
                lead_external_id=item.get("person", ""),
            )
            for item in data["items"]
        ]
        return PullResult(deals=deals, cursor={"after": data["next"]})

    def push_lead(self, connection, client, lead, change):
        body = {"email": lead.email, "stage": change.to_stage, "id": change.external_id}
        return client.post("/leads", json=body).json()["id"]


@pytest.fixture
def fake_connector():
    base.register(FakeConnector)
    yield FakeConnector
    base.unregister(FakeConnector.key)


@pytest.fixture
def dispatched(monkeypatch):
    """Celery ``.delay`` calls of the integrations tasks, recorded instead of sent."""
    from integrations import tasks

    calls: list[tuple[str, tuple]] = []
    for name in ("sync_connection", "push_lead", "push_leads", "send_deliveries"):
        task = getattr(tasks, name)
        monkeypatch.setattr(
            task, "delay", lambda *args, _name=name: calls.append((_name, args)), raising=False
        )
    return calls
