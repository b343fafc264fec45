"""Marketo (marketing in): leads and their activities pulled through the REST API.

developers.marketo.com:

- identity: ``GET /identity/oauth/token?grant_type=client_credentials`` with the
  LaunchPoint service's client id and secret → a bearer token (~1 h), fetched again on
  error 601/602;
- ``activities`` stream: a paging token from ``/rest/v1/activities/pagingtoken.json
  ?sinceDatetime=`` the first time (settings["since"], else 30 days back), then
  ``/rest/v1/activities.json?nextPageToken=&activityTypeIds=&batchSize=300`` page after
  page while ``moreResult``; the last ``nextPageToken`` is where the next sync resumes;
- the leads the activities name: ``/rest/v1/leads.json?filterType=id&filterValues=``
  (≤ 300 per call) for their e-mail and attributes (a "New Lead" activity becomes a
  ``custom:contact_synced`` event: how a Marketo lead arrives);
- limits: 100 calls per 20 s (we stay at 90) and batches of 300. Marketo answers over
  the limit with HTTP 200 and error 606 (615 for concurrency): we wait a window and
  try again, then give up for this run (retryable).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import _normalize as norm
from .base import (
    MARKETING,
    AuthError,
    Connector,
    ConnectorError,
    CredentialField,
    PullResult,
    RateLimit,
    SettingField,
    register,
)

BATCH = 300
WINDOW_SECONDS = 20.0
RATE_RETRIES = 3
# Standard activity types → SPEC event types.
ACTIVITY_TYPES = {
    1: "page_view",  # Visit Webpage
    2: "form_submit",  # Fill Out Form
    9: "unsubscribe",  # Unsubscribe Email
    10: "email_open",  # Open Email
    11: "email_click",  # Click Email
    12: norm.CONTACT_SYNCED,  # New Lead
}
LEAD_FIELDS = ("email", "firstName", "lastName", "title", "company", "phone", "country", "website")


@register
class MarketoConnector(Connector):
    key = "marketo"
    label = "Marketo"
    kind = frozenset({MARKETING})
    description = _("Leads and their activities (visits, forms, e-mails) from Marketo.")
    docs_url = (
        "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication"
    )
    credential_fields = (
        CredentialField("client_id", _("Client ID (LaunchPoint service)"), secret=False),
        CredentialField("client_secret", _("Client secret")),
    )
    settings_fields = (
        SettingField(
            "forms",
            _("Forms"),
            json=True,
            shape="forms",
            help_text=_(
                'What each Marketo form (by name or id) means: {"Demo request": {"type": '
                '"demo_request"}, "White paper": {"content": "white-paper-key"}}.'
            ),
        ),
        SettingField(
            "since",
            _("First sync from"),
            help_text=_("A date (YYYY-MM-DD); 30 days back when empty."),
        ),
        SettingField(
            "activity_types",
            _("Extra activity types"),
            json=True,
            shape="activity_types",
            help_text=_('Optional: {"<activity type id>": "custom:<name>"}.'),
        ),
    )
    # Admin → Web Services → REST API endpoint without /rest (https://123-ABC-456.mktorest.com).
    default_base_url = ""
    rate_limit = RateLimit(90, WINDOW_SECONDS)
    max_batch = BATCH
    streams = ("activities",)
    default_field_mapping = {
        "email": "email",
        "first_name": "firstName",
        "last_name": "lastName",
        "title": "title",
        "company": "company",
        "phone": "phone",
        "country": "country",
    }
    conflict_policy = {
        "lead attributes": "fill empty fields only",
        "score and stage": "smarketing (Marketo's own score is ignored)",
    }

    # --- Auth ------------------------------------------------------------------------------

    def _token(self, connection, client, *, fresh: bool = False) -> str:
        cached = client.cache.get("marketo_token")
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        credentials = connection.credentials
        response = client.get(
            "/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": credentials.get("client_id", ""),
                "client_secret": credentials.get("client_secret", ""),
            },
            auth=False,
            ok=lambda status: 200 <= status < 300 or status in (400, 401),
        )
        body = response.json() or {}
        if response.status != 200 or not body.get("access_token"):
            raise AuthError(f"Marketo refused the client id/secret: {body}", status=response.status)
        expires = time.monotonic() + max(60, int(body.get("expires_in") or 3600) - 60)
        client.cache["marketo_token"] = (body["access_token"], expires)
        return body["access_token"]

    def auth_headers(self, connection, client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(connection, client)}"}

    def _call(self, connection, client, path: str, params: dict) -> dict:
        """A REST call; Marketo's errors come in a 200: 601/602 → new token (once),
        606/615 → wait a window (a few times)."""
        refreshed = False
        for attempt in range(RATE_RETRIES + 2):
            body = client.get(path, params=params).json() or {}
            if body.get("success"):
                return body
            codes = {str(e.get("code")) for e in body.get("errors") or []}
            if codes & {"601", "602"} and not refreshed:
                self._token(connection, client, fresh=True)
                refreshed = True
                continue
            if codes & {"606", "615"} and attempt < RATE_RETRIES:
                client.note("warning", "http", f"Marketo rate limit ({', '.join(sorted(codes))})")
                client.sleep(WINDOW_SECONDS / 2 * (attempt + 1))
                continue
            if codes & {"606", "615"}:
                raise ConnectorError(
                    "Marketo's rate limit is reached; the sync resumes later", retryable=True
                )
            if codes & {"601", "602", "603"}:
                raise AuthError(f"Marketo refused the call: {body.get('errors')}")
            raise ConnectorError(f"Marketo answered an error: {body.get('errors')}")
        raise ConnectorError("Marketo kept refusing", retryable=True)  # pragma: no cover

    def check(self, connection, client) -> None:
        self._call(
            connection,
            client,
            "/rest/v1/leads.json",
            {"filterType": "id", "filterValues": "0", "fields": "email"},
        )

    # --- Pull --------------------------------------------------------------------------------

    def _activity_types(self, connection) -> list[int]:
        return sorted(t for t, v in self._types(connection).items() if v)

    def _types(self, connection) -> dict[int, str]:
        """The standard activity types, plus (or minus, with "") the connection's."""
        types = dict(ACTIVITY_TYPES)
        for key, value in norm.setting_dict(connection, "activity_types").items():
            if str(key).isdigit() and isinstance(value, str):
                types[int(key)] = value
        return types

    def pull(self, connection, client, stream: str, cursor: dict) -> PullResult:
        if stream != "activities":
            raise ConnectorError(f"unknown stream {stream}")
        token = cursor.get("token")
        if not token:
            since = norm.parse_time((connection.settings or {}).get("since")) or (
                timezone.now() - timedelta(days=30)
            )
            token = self._call(
                connection,
                client,
                "/rest/v1/activities/pagingtoken.json",
                {"sinceDatetime": norm.iso(since)},
            )["nextPageToken"]
        body = self._call(
            connection,
            client,
            "/rest/v1/activities.json",
            {
                "nextPageToken": token,
                "activityTypeIds": ",".join(str(t) for t in self._activity_types(connection)),
                "batchSize": BATCH,
            },
        )
        activities = body.get("result") or []
        leads = self._leads(
            connection, client, sorted({int(a["leadId"]) for a in activities if a.get("leadId")})
        )
        events = []
        for activity in activities:
            lead = leads.get(int(activity.get("leadId") or 0))
            event = self._event(connection, activity, lead)
            if event is not None:
                events.append(event)
        events = norm.sanitize_events(
            events, report=lambda message: client.note("warning", "sync", message)
        )
        next_token = body.get("nextPageToken") or token
        return PullResult(
            events=events, cursor={"token": next_token}, has_more=bool(body.get("moreResult"))
        )

    def _leads(self, connection, client, lead_ids: list[int]) -> dict[int, dict]:
        found: dict[int, dict] = {}
        fields = sorted(
            {*LEAD_FIELDS, *(p.split(".")[0] for p in self.field_mapping(connection).values())}
        )
        for chunk in norm.chunks(lead_ids, BATCH):
            body = self._call(
                connection,
                client,
                "/rest/v1/leads.json",
                {
                    "filterType": "id",
                    "filterValues": ",".join(str(i) for i in chunk),
                    "fields": ",".join(fields),
                    "batchSize": BATCH,
                },
            )
            for lead in body.get("result") or []:
                found[int(lead["id"])] = lead
        return found

    def _event(self, connection, activity: dict, lead: dict | None) -> dict | None:
        if not lead or not lead.get("email"):
            return None
        types = self._types(connection)
        event_type = types.get(int(activity.get("activityTypeId") or 0))
        at = norm.parse_time(activity.get("activityDate"))
        if not event_type or at is None:
            return None
        attributes = {a.get("name"): a.get("value") for a in activity.get("attributes") or []}
        event: dict[str, Any] = {
            **self.map_record(connection, lead),
            "id": f"activity:{activity.get('marketoGUID') or activity['id']}",
            "type": event_type,
            "occurred_at": norm.iso(at),
            "properties": {
                "marketo_lead_id": lead["id"],
                "marketo_activity_type": activity.get("activityTypeId"),
            },
        }
        primary = activity.get("primaryAttributeValue") or ""
        if event_type == "page_view" and primary:
            event["url"] = primary if "://" in primary else f"https://{primary}"
        elif event_type == "email_click":
            event["url"] = attributes.get("Link") or ""
            event["properties"]["email"] = primary
        elif event_type == "email_open":
            event["properties"]["email"] = primary
        elif event_type == "form_submit":
            event["url"] = attributes.get("Referrer URL") or ""
            event["properties"]["form"] = primary
            form = norm.form_setting(connection, primary, activity.get("primaryAttributeValueId"))
            content = norm.content_key(norm.setting_text(form, "content"))
            if norm.setting_text(form, "type"):
                event["type"] = norm.setting_text(form, "type")
            elif content:
                event["type"] = "content_download"
            if content:
                event["content"] = content
        return event
