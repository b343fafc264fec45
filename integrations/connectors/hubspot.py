"""HubSpot: marketing in (webhooks, contacts, form submissions) and CRM both ways
(contacts pushed with their lifecycle stage, deals pulled back).

API (developers.hubspot.com), with a private app's access token (``Bearer``):

- webhooks, signed v3 (integrations/signatures.py), two kinds of delivery:
  * a workflow's "Send a webhook" action (e.g. a workflow triggered by a form
    submission): one JSON object, the enrolled contact (its ``properties`` as
    ``{"name": {"value": …}}`` in the classic format or plain values in a customised
    body), with its ``form-submissions`` — each becomes a form event;
  * the webhooks API: a JSON array of ``{"subscriptionType": "contact.creation" …,
    "objectId"}`` events that name a record without its content — they ask for a sync
    (``Connection.sync_requested_at``) that pulls the records through the API;
- ``contacts`` stream: ``POST /crm/v3/objects/contacts/search`` by
  ``lastmodifieddate`` ≥ the cursor, ascending, 100 per page, ``after`` paging;
- ``form_submissions`` stream: ``GET /marketing/v3/forms`` then, per form,
  ``GET /form-integrations/v1/submissions/forms/{guid}`` (newest first, 50 per page,
  ``after`` paging) down to the newest submission seen last time;
- deals: search by ``hs_lastmodifieddate``, then their contacts through
  ``POST /crm/v4/associations/deal/contact/batch/read`` and the contacts' e-mails
  through ``POST /crm/v3/objects/contacts/batch/read`` (the search API returns no
  associations);
- push: ``POST /crm/v3/objects/contacts/batch/upsert`` by e-mail (≤ 100 inputs).

Limits: private apps may make 190 requests per 10 s; we stay at 170.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Stage

from . import _normalize as norm
from .base import (
    CRM,
    MARKETING,
    Connector,
    ConnectorError,
    CredentialField,
    DealRecord,
    InboundRequest,
    LeadChange,
    PullResult,
    RateLimit,
    SettingField,
    VerifiedWebhook,
    WebhookRejected,
    register,
)

log = logging.getLogger(__name__)

PAGE = 100
SUBMISSIONS_PAGE = 50
CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "company",
    "phone",
    "country",
    "website",
    "createdate",
    "lastmodifieddate",
    "lifecyclestage",
]
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "createdate",
    "hs_lastmodifieddate",
    "hs_is_closed_won",
    "hs_is_closed",
    "deal_currency_code",
]
# Smarketing stage → HubSpot's lifecycle stage (internal values). HubSpot's lifecycle
# only moves forward; a rejected lead keeps its stage and gets a lead status instead.
LIFECYCLE = {
    Stage.SUBSCRIBER: "subscriber",
    Stage.LEAD: "lead",
    Stage.MQL: "marketingqualifiedlead",
    Stage.SAL: "marketingqualifiedlead",
    Stage.SQL: "salesqualifiedlead",
    Stage.OPPORTUNITY: "opportunity",
    Stage.CUSTOMER: "customer",
}
LEAD_STATUS = {
    Stage.MQL: "NEW",
    Stage.SAL: "IN_PROGRESS",
    Stage.SQL: "IN_PROGRESS",
    Stage.OPPORTUNITY: "OPEN_DEAL",
    Stage.RECYCLED: "BAD_TIMING",
    Stage.DISQUALIFIED: "UNQUALIFIED",
}
# Lead attribute → HubSpot contact property, pushed only where HubSpot's is empty.
PUSHED_ATTRIBUTES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "title": "jobtitle",
    "phone": "phone",
}
WEBHOOK_OBJECT_TYPES = {"0-1": "contacts", "0-3": "deals"}
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
# HubSpot's search API stops at 10,000 results: restart from the newest change before.
SEARCH_WINDOW = 9_900


def _email_of(event: dict) -> str:
    email = event.get("email")
    return email.strip().lower() if isinstance(email, str) else ""


def _rank(stage: str) -> int:
    return LIFECYCLE_ORDER.index(stage) if stage in LIFECYCLE_ORDER else -1


def _flat_properties(properties: Any) -> dict[str, Any]:
    """Classic contact JSON has ``{"email": {"value": "a@b.fr", "versions": […]}}``."""
    if not isinstance(properties, dict):
        return {}
    flat = {}
    for name, value in properties.items():
        if isinstance(value, dict):
            value = value.get("value")
        if value is not None and not isinstance(value, dict | list):
            flat[name] = value
    return flat


@register
class HubSpotConnector(Connector):
    key = "hubspot"
    label = "HubSpot"
    kind = frozenset({MARKETING, CRM})
    description = _(
        "Forms, contacts and deals from HubSpot; MQLs and stage changes pushed back as "
        "contacts' lifecycle stages."
    )
    docs_url = "https://developers.hubspot.com/docs/api/private-apps"
    credential_fields = (
        CredentialField(
            "access_token",
            _("Private app access token"),
            help_text=_(
                "Settings → Integrations → Private apps; scopes crm.objects.contacts "
                "read/write, crm.objects.deals.read, forms."
            ),
            placeholder="pat-eu1-…",
        ),
        CredentialField(
            "client_secret",
            _("Client secret (verifies webhook signatures)"),
            required=False,
            help_text=_("The app's client secret, shown next to its access token."),
        ),
    )
    settings_fields = (
        SettingField(
            "forms",
            _("Forms"),
            json=True,
            shape="forms",
            help_text=_(
                'What each HubSpot form (by its GUID) means: {"<guid>": {"type": '
                '"demo_request"}, "<guid>": {"content": "white-paper-key"}}. Other forms '
                "are form submissions."
            ),
        ),
        SettingField(
            "score_property",
            _("Contact property for the score"),
            help_text=_("Optional: a number property of yours that receives the score."),
            placeholder="smarketing_score",
        ),
        SettingField(
            "since",
            _("First sync from"),
            help_text=_(
                "A date (YYYY-MM-DD): older records are not pulled. Everything when empty."
            ),
        ),
    )
    default_base_url = "https://api.hubapi.com"
    rate_limit = RateLimit(170, 10.0)
    max_batch = 100
    streams = ("contacts", "form_submissions")
    supports_webhooks = True
    supports_push = True
    default_field_mapping = {
        "email": "properties.email",
        "first_name": "properties.firstname",
        "last_name": "properties.lastname",
        "title": "properties.jobtitle",
        "company": "properties.company",
        "phone": "properties.phone",
        "country": "properties.country",
    }
    conflict_policy = {
        "lifecycle stage": "smarketing",
        "score": "smarketing",
        "contact attributes": "fill empty fields only, both ways",
        "deal amount, stage, won/lost": "crm",
    }

    # --- Auth -------------------------------------------------------------------------

    def auth_headers(self, connection, client) -> dict[str, str]:
        token = connection.credentials.get("access_token", "")
        return {"Authorization": f"Bearer {token}"}

    def check(self, connection, client) -> None:
        client.get("/crm/v3/objects/contacts", params={"limit": 1})

    # --- Webhooks ---------------------------------------------------------------------

    def verify_webhook(self, connection, request: InboundRequest) -> Any:
        from integrations.signatures import SignatureError, verify_hubspot_v3

        secret = connection.credentials.get("client_secret", "")
        if not secret:
            raise WebhookRejected(
                "this connection has no client secret to verify signatures",
                code="not_configured",
                status=401,
            )
        try:
            signature, _timestamp = verify_hubspot_v3(
                secret=secret,
                method=request.method,
                uri=request.url,
                body=request.body,
                headers=request.headers,
                now_ms=norm.to_ms(request.received_at),
            )
        except SignatureError as error:
            raise WebhookRejected(error.message, code=error.code, status=401) from error
        try:
            # The signature covers method, URL, body and timestamp: one delivery.
            return VerifiedWebhook(json.loads(request.body), replay_key=f"v3:{signature}")
        except ValueError as error:
            raise WebhookRejected(
                "the body is not JSON", code="invalid_json", status=400
            ) from error

    def webhook_to_events(self, connection, payload: Any) -> list[dict]:
        if isinstance(payload, VerifiedWebhook):
            payload = payload.payload
        if isinstance(payload, list):
            self._request_sync_for(connection, payload)
            return []
        if not isinstance(payload, dict):
            return []
        record = {"properties": _flat_properties(payload.get("properties"))}
        if not record["properties"]:
            # A customised body: the chosen properties at the top level.
            record = {"properties": _flat_properties(payload)}
        base = self.map_record(connection, record)
        submissions = payload.get("form-submissions") or []
        events = []
        for submission in submissions if isinstance(submissions, list) else []:
            if not isinstance(submission, dict):
                continue
            guid = str(submission.get("form-id") or "")
            at = norm.from_ms(submission.get("timestamp"))
            if not guid or at is None:
                continue
            events.append(
                self._form_event(
                    connection,
                    base,
                    guid=guid,
                    at=at,
                    url=submission.get("page-url") or "",
                    extra={
                        "form": submission.get("title") or "",
                        "conversion_id": submission.get("conversion-id") or "",
                    },
                )
            )
        if not events and base.get("email"):
            # No submission list (a customised body): one form event for the delivery.
            guid = str(payload.get("form-id") or payload.get("formId") or "webhook")
            at = norm.from_ms(payload.get("timestamp") or payload.get("submittedAt"))
            body_digest = norm.digest(json.dumps(payload, sort_keys=True, default=str))
            event = self._form_event(
                connection, base, guid=guid, at=at or timezone.now(), url="", extra={}
            )
            if at is None:
                event["id"] = f"webhook:{body_digest}"
            events.append(event)
        return norm.sanitize_events(events)

    def _request_sync_for(self, connection, deliveries: list) -> None:
        """Webhooks-API events name records (contact or deal ids) without their content:
        the next sync pulls what changed."""
        from integrations.models import Connection

        wanted = False
        for item in deliveries:
            if not isinstance(item, dict):
                continue
            kind = str(item.get("subscriptionType") or "")
            object_type = WEBHOOK_OBJECT_TYPES.get(str(item.get("objectTypeId") or ""), "")
            if kind.startswith(("contact.", "deal.")) or object_type:
                wanted = True
        if wanted:
            Connection.objects.for_org(connection.organization_id).filter(
                pk=connection.pk, sync_requested_at=None
            ).update(sync_requested_at=timezone.now())

    # --- Mapping --------------------------------------------------------------------------

    def _form_settings(self, connection, guid: str) -> dict:
        forms = norm.setting_dict(connection, "forms")
        entry = forms.get(guid) or {}
        return entry if isinstance(entry, dict) else {}

    def _form_event(
        self, connection, base: dict, *, guid: str, at: datetime, url: str, extra: dict
    ) -> dict:
        """A form submission: ``form_submit`` unless the connection's form settings say
        it is a content download (``content`` key), a demo request, a webinar…"""
        settings = self._form_settings(connection, guid)
        content = norm.content_key(norm.setting_text(settings, "content"))
        event_type = norm.setting_text(settings, "type") or (
            "content_download" if content else "form_submit"
        )
        event = {
            **base,
            # The same id from the webhook and from the submissions API: one event; the
            # e-mail tells apart two people who submit the form in the same millisecond.
            "id": f"form:{guid}:{norm.to_ms(at)}:{norm.digest(_email_of(base), length=12)}",
            "type": event_type,
            "occurred_at": norm.iso(at),
            "url": url,
            "properties": {
                **(base.get("properties") or {}),
                "hubspot_form": guid,
                **{k: v for k, v in extra.items() if v},
            },
        }
        if content:
            event["content"] = content
        campaign = norm.content_key(norm.setting_text(settings, "campaign"))
        if campaign:
            event["campaign"] = campaign
        return event

    # --- Pull -----------------------------------------------------------------------------

    def pull(self, connection, client, stream: str, cursor: dict) -> PullResult:
        if stream == "contacts":
            return self._pull_contacts(connection, client, cursor)
        if stream == "form_submissions":
            return self._pull_submissions(connection, client, cursor)
        raise ConnectorError(f"unknown stream {stream}")

    def _search(self, connection, client, kind: str, prop: str, cursor: dict, properties):
        first = norm.parse_time((connection.settings or {}).get("since"))
        since = int(cursor.get("since") or (norm.to_ms(first) if first else 0))
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": prop, "operator": "GTE", "value": str(since)}]}
            ],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": properties,
            "limit": PAGE,
        }
        if cursor.get("after"):
            body["after"] = cursor["after"]
        data = (
            client.post(f"/crm/v3/objects/{kind}/search", json=body, retry_unsafe=True).json() or {}
        )
        results = data.get("results") or []
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        newest = since
        for item in results:
            at = norm.parse_time((item.get("properties") or {}).get(prop) or item.get("updatedAt"))
            if at is not None:
                newest = max(newest, norm.to_ms(at))
        if after and str(after).isdigit() and int(after) >= SEARCH_WINDOW:
            # Everything older than the newest seen is read (ascending order): go on
            # from there with a fresh search.
            next_cursor = {"since": max(newest, int(cursor.get("newest") or 0))}
        elif after:
            next_cursor = {
                "since": since,
                "after": after,
                "newest": max(newest, cursor.get("newest", 0)),
            }
        else:
            # Done: next time from the newest change seen (≥: the boundary is re-read,
            # harmlessly — ids make it a duplicate).
            next_cursor = {"since": max(newest, int(cursor.get("newest") or 0))}
        return results, next_cursor, bool(after)

    def _pull_contacts(self, connection, client, cursor: dict) -> PullResult:
        results, next_cursor, more = self._search(
            connection, client, "contacts", "lastmodifieddate", cursor, CONTACT_PROPERTIES
        )
        events = []
        for contact in results:
            props = contact.get("properties") or {}
            event = self.map_record(connection, {"properties": props})
            created = norm.parse_time(props.get("createdate") or contact.get("createdAt"))
            if not event.get("email") or created is None:
                continue
            event.update(
                {
                    "id": f"contact:{contact['id']}",
                    "type": norm.CONTACT_SYNCED,
                    "occurred_at": norm.iso(created),
                    "properties": {**(event.get("properties") or {}), "hubspot_id": contact["id"]},
                }
            )
            events.append(event)
        return PullResult(events=self._sane(client, events), cursor=next_cursor, has_more=more)

    def _forms(self, client) -> list[str]:
        if "hubspot_forms" not in client.cache:
            data = client.get("/marketing/v3/forms/", params={"limit": 100}).json() or {}
            client.cache["hubspot_forms"] = sorted(
                str(f["id"]) for f in data.get("results") or [] if not f.get("archived")
            )
        return client.cache["hubspot_forms"]

    def _pull_submissions(self, connection, client, cursor: dict) -> PullResult:
        """Form by form, newest first, down to the newest submission seen last time.
        Cursor: ``{"seen": {guid: ms}, "form": guid being read, "after": page,
        "newest": ms of the newest submission of this pass}``."""
        forms = self._forms(client)
        seen: dict[str, int] = dict(cursor.get("seen") or {})
        current = cursor.get("form") or (forms[0] if forms else None)
        if current is None or current not in forms:
            return PullResult(cursor={"seen": seen}, has_more=False)
        params: dict[str, Any] = {"limit": SUBMISSIONS_PAGE}
        if cursor.get("after"):
            params["after"] = cursor["after"]
        data = client.get(
            f"/form-integrations/v1/submissions/forms/{current}", params=params
        ).json()
        data = data or {}
        floor = int(seen.get(current) or 0)
        newest = int(cursor.get("newest") or floor)
        events = []
        reached_seen = False
        for submission in data.get("results") or []:
            submitted = int(submission.get("submittedAt") or 0)
            if submitted <= floor:
                reached_seen = True
                break
            newest = max(newest, submitted)
            values = {v.get("name"): v.get("value") for v in submission.get("values") or []}
            base = self.map_record(connection, {"properties": values})
            if not base.get("email"):
                continue
            at = norm.from_ms(submitted)
            events.append(
                self._form_event(
                    connection,
                    base,
                    guid=current,
                    at=at,
                    url=submission.get("pageUrl") or "",
                    extra={},
                )
            )
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        if after and not reached_seen:
            next_cursor = {"seen": seen, "form": current, "after": after, "newest": newest}
            return PullResult(events=self._sane(client, events), cursor=next_cursor, has_more=True)
        seen[current] = newest
        position = forms.index(current)
        if position + 1 < len(forms):
            next_cursor = {"seen": seen, "form": forms[position + 1]}
            return PullResult(events=self._sane(client, events), cursor=next_cursor, has_more=True)
        return PullResult(events=self._sane(client, events), cursor={"seen": seen}, has_more=False)

    @staticmethod
    def _sane(client, events: list[dict]) -> list[dict]:
        return norm.sanitize_events(
            events, report=lambda message: client.note("warning", "sync", message)
        )

    # --- Deals ----------------------------------------------------------------------------

    def pull_deals(self, connection, client, cursor: dict) -> PullResult:
        results, next_cursor, more = self._search(
            connection, client, "deals", "hs_lastmodifieddate", cursor, DEAL_PROPERTIES
        )
        contacts_of = self._deal_contacts(client, [d["id"] for d in results])
        emails = self._emails(client, sorted({c for ids in contacts_of.values() for c in ids}))
        deals = []
        for deal in results:
            props = deal.get("properties") or {}
            won = props.get("hs_is_closed_won") == "true" or props.get("dealstage") == "closedwon"
            closed = props.get("hs_is_closed") == "true" or props.get("dealstage") in (
                "closedwon",
                "closedlost",
            )
            status = "won" if won else "lost" if closed else "open"
            contact_ids = contacts_of.get(str(deal["id"]), [])
            contact_id = next(
                (c for c in contact_ids if emails.get(c)), contact_ids[0] if contact_ids else ""
            )
            deals.append(
                DealRecord(
                    external_id=str(deal["id"]),
                    name=props.get("dealname") or f"HubSpot deal {deal['id']}",
                    amount=props.get("amount") or "0",
                    status=status,
                    stage=props.get("dealstage") or "",
                    currency=props.get("deal_currency_code") or "",
                    created_at=norm.parse_time(props.get("createdate") or deal.get("createdAt")),
                    closed_at=norm.parse_time(props.get("closedate")) if closed else None,
                    lead_email=emails.get(contact_id, ""),
                    lead_external_id=contact_id,
                    raw=deal,
                )
            )
        return PullResult(deals=deals, cursor=next_cursor, has_more=more)

    def _deal_contacts(self, client, deal_ids: list[str]) -> dict[str, list[str]]:
        if not deal_ids:
            return {}
        data = (
            client.post(
                "/crm/v4/associations/deal/contact/batch/read",
                json={"inputs": [{"id": str(i)} for i in deal_ids]},
                retry_unsafe=True,  # a read
            ).json()
            or {}
        )
        out: dict[str, list[str]] = {}
        for row in data.get("results") or []:
            out[str(row["from"]["id"])] = [str(to["toObjectId"]) for to in row.get("to") or []]
        return out

    def _emails(self, client, contact_ids: list[str]) -> dict[str, str]:
        emails: dict[str, str] = {}
        for chunk in norm.chunks(contact_ids, PAGE):
            data = (
                client.post(
                    "/crm/v3/objects/contacts/batch/read",
                    json={"inputs": [{"id": c} for c in chunk], "properties": ["email"]},
                    retry_unsafe=True,  # a read
                ).json()
                or {}
            )
            for contact in data.get("results") or []:
                email = (contact.get("properties") or {}).get("email") or ""
                emails[str(contact["id"])] = email.lower()
        return emails

    # --- Push -----------------------------------------------------------------------------

    def push_lead(self, connection, client, lead, change: LeadChange) -> str:
        external_id, error = self.push_leads(connection, client, [(lead, change)])[0]
        if error:
            raise ConnectorError(f"HubSpot did not take the contact: {error}")
        return external_id

    def push_leads(
        self, connection, client, items: list[tuple[Any, LeadChange]]
    ) -> list[tuple[str, str]]:
        """Upsert contacts by e-mail, 100 per call: the stage (Smarketing's) always —
        never backwards from what HubSpot has on a first push —, the attributes HubSpot
        has empty the first time we push a lead. ``(contact id, error)`` per item."""
        first_time = [lead.email for lead, change in items if not change.external_id]
        current = self._current(client, first_time)
        inputs = []
        for lead, change in items:
            properties: dict[str, str] = {}
            known = current.get(lead.email.lower()) if not change.external_id else None
            if not change.external_id:
                known = known or {}
                for attribute, prop in PUSHED_ATTRIBUTES.items():
                    value = getattr(lead, attribute, "") or ""
                    if value and not known.get(prop):
                        properties[prop] = value
                if lead.company_id and not known.get("company"):
                    properties["company"] = lead.company.name
            lifecycle = LIFECYCLE.get(change.to_stage)
            if lifecycle and _rank(lifecycle) >= _rank((known or {}).get("lifecyclestage") or ""):
                properties["lifecyclestage"] = lifecycle
            status = LEAD_STATUS.get(change.to_stage)
            if status:
                properties["hs_lead_status"] = status
            score_property = (connection.settings or {}).get("score_property")
            if score_property:
                properties[score_property] = str(lead.score)
            inputs.append({"id": lead.email, "idProperty": "email", "properties": properties})
        ids: dict[str, str] = {}
        for chunk in norm.chunks(inputs, PAGE):
            data = (
                client.post(
                    "/crm/v3/objects/contacts/batch/upsert",
                    json={"inputs": chunk},
                    retry_unsafe=True,  # an upsert by e-mail: repeating it changes nothing
                ).json()
                or {}
            )
            for result in data.get("results") or []:
                email = ((result.get("properties") or {}).get("email") or "").lower()
                ids[email] = str(result["id"])
        return [
            (ids[lead.email.lower()], "") if lead.email.lower() in ids else ("", "not upserted")
            for lead, _change in items
        ]

    def _current(self, client, emails: list[str]) -> dict[str, dict[str, Any]]:
        """HubSpot's values of these contacts (by e-mail); unknown e-mails are absent
        (HubSpot answers 207 multi-status for them)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in norm.chunks(sorted({e.lower() for e in emails}), PAGE):
            data = (
                client.post(
                    "/crm/v3/objects/contacts/batch/read",
                    json={
                        "idProperty": "email",
                        "inputs": [{"id": email} for email in chunk],
                        "properties": [
                            "email",
                            *PUSHED_ATTRIBUTES.values(),
                            "company",
                            "lifecyclestage",
                        ],
                    },
                    retry_unsafe=True,  # a read
                ).json()
                or {}
            )
            for contact in data.get("results") or []:
                props = contact.get("properties") or {}
                found[(props.get("email") or "").lower()] = props
        return found
