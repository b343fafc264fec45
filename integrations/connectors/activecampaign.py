"""ActiveCampaign (marketing in): webhooks, and a pull of contacts.

developers.activecampaign.com:

- webhooks are ``application/x-www-form-urlencoded`` (``type=subscribe``, ``date_time``,
  ``contact[email]``, ``form[id]``, ``campaign[name]``, ``link[url]``…) and **not
  signed**: the URL given to ActiveCampaign carries a secret token
  (``/connect/<key>/?token=<webhook token>``), compared in constant time; a replayed
  delivery is refused by the inbound receipts and its events are idempotent anyway
  (their ids are derived from the delivery's content);
- API v3 (``Api-Token`` header) on the account's URL (``https://<account>.api-us1.com``):
  ``/api/3/contacts`` ordered by update, 100 per page; 5 requests per second per
  account (we stay at 4).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.utils.translation import gettext_lazy as _

from . import _normalize as norm
from .base import (
    MARKETING,
    Connector,
    ConnectorError,
    CredentialField,
    InboundRequest,
    PullResult,
    RateLimit,
    SettingField,
    VerifiedWebhook,
    WebhookRejected,
    register,
)

PAGE = 100
# Webhook types → SPEC event types ("subscribe" may be refined by the form settings).
WEBHOOK_TYPES = {
    "subscribe": "form_submit",
    "unsubscribe": "unsubscribe",
    "open": "email_open",
    "click": "email_click",
    "forward": "custom:email_forward",
    "share": "custom:email_share",
    "reply": "custom:email_reply",
}


@register
class ActiveCampaignConnector(Connector):
    key = "activecampaign"
    label = "ActiveCampaign"
    kind = frozenset({MARKETING})
    description = _("Subscriptions, forms, opens and clicks from ActiveCampaign, as they happen.")
    docs_url = "https://developers.activecampaign.com/page/webhooks"
    credential_fields = (
        CredentialField("api_key", _("API key"), help_text=_("Settings → Developer.")),
        CredentialField(
            "webhook_token",
            _("Webhook token"),
            required=False,
            generate=32,
            min_length=32,
            help_text=_(
                "Leave empty: Smarketing generates one and shows the webhook URL to give "
                "ActiveCampaign once (it does not sign its webhooks). Yours must have at "
                "least 32 characters."
            ),
        ),
    )
    settings_fields = (
        SettingField(
            "forms",
            _("Forms"),
            json=True,
            shape="forms",
            help_text=_(
                'What each form (by id or name) means: {"7": {"content": "case-study-key"}, '
                '"Demo": {"type": "demo_request"}}.'
            ),
        ),
    )
    default_base_url = ""  # https://<account>.api-us1.com
    rate_limit = RateLimit(4, 1.0)
    max_batch = PAGE
    streams = ("contacts",)
    supports_webhooks = True
    default_field_mapping = {
        "email": "contact.email",
        "first_name": "contact.first_name",
        "last_name": "contact.last_name",
        "phone": "contact.phone",
        "company": "contact.orgname",
    }
    conflict_policy = {
        "contact attributes": "fill empty fields only",
        "score and stage": "smarketing",
    }

    def auth_headers(self, connection, client) -> dict[str, str]:
        return {"Api-Token": connection.credentials.get("api_key", "")}

    def check(self, connection, client) -> None:
        client.get("/api/3/contacts", params={"limit": 1})

    # --- Webhooks ---------------------------------------------------------------------

    def verify_webhook(self, connection, request: InboundRequest) -> Any:
        from integrations.signatures import SignatureError, verify_url_token

        given = (parse_qs(urlsplit(request.url).query).get("token") or [""])[0]
        try:
            verify_url_token(expected=connection.credentials.get("webhook_token", ""), given=given)
        except SignatureError as error:
            raise WebhookRejected("unknown or missing webhook token", code="bad_token") from error
        try:
            fields = parse_qs(
                request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError as error:
            raise WebhookRejected(
                "the body is not form-encoded text", code="invalid_body", status=400
            ) from error
        if "type" not in fields:
            raise WebhookRejected(
                "not an ActiveCampaign webhook (no type)", code="invalid_body", status=400
            )
        payload = {name: values[-1] for name, values in fields.items()}
        # Unsigned: a delivery is its body (its date_time and ids make it unique).
        key = "body:" + hashlib.sha256(request.body).hexdigest()
        return VerifiedWebhook(payload, replay_key=key)

    def webhook_to_events(self, connection, payload: Any) -> list[dict]:
        if isinstance(payload, VerifiedWebhook):
            payload = payload.payload
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type", "")
        event_type = WEBHOOK_TYPES.get(kind)
        at = norm.parse_time(payload.get("date_time"))
        if event_type is None or at is None:
            return []  # sent, bounce, update, deal and tag changes: not engagement
        nested = _nest(payload)
        event: dict[str, Any] = self.map_record(connection, nested)
        if not event.get("email"):
            return []
        form, campaign, link, contact = (
            _group(nested, "form"),
            _group(nested, "campaign"),
            _group(nested, "link"),
            _group(nested, "contact"),
        )
        event.update(
            {
                "id": "ac:{}:{}".format(
                    kind,
                    norm.digest(
                        contact.get("id"),
                        payload.get("date_time"),
                        form.get("id"),
                        campaign.get("id"),
                        _group(nested, "message").get("id"),
                        link.get("url"),
                        length=24,
                    ),
                ),
                "type": event_type,
                "occurred_at": norm.iso(at),
                "properties": {
                    **(event.get("properties") or {}),
                    "activecampaign_contact": contact.get("id", ""),
                    **({"form": form["name"]} if form.get("name") else {}),
                    **({"email": campaign["name"]} if campaign.get("name") else {}),
                },
            }
        )
        if link.get("url"):
            event["url"] = link["url"]
        if campaign.get("name"):
            key = norm.content_key(campaign["name"])
            if key:
                event["campaign"] = key
        if kind == "subscribe" and form:
            setting = norm.form_setting(connection, form.get("id"), form.get("name"))
            content = norm.content_key(norm.setting_text(setting, "content"))
            if norm.setting_text(setting, "type"):
                event["type"] = norm.setting_text(setting, "type")
            elif content:
                event["type"] = "content_download"
            if content:
                event["content"] = content
        return norm.sanitize_events([event])

    # --- Pull ---------------------------------------------------------------------------

    def pull(self, connection, client, stream: str, cursor: dict) -> PullResult:
        if stream != "contacts":
            raise ConnectorError(f"unknown stream {stream}")
        since = cursor.get("since") or ""
        offset = int(cursor.get("offset") or 0)
        params: dict[str, Any] = {"limit": PAGE, "offset": offset, "orders[udate]": "ASC"}
        if since:
            params["filters[updated_after]"] = since
        body = client.get("/api/3/contacts", params=params).json() or {}
        contacts = body.get("contacts") or []
        total = int((body.get("meta") or {}).get("total") or 0)
        newest = cursor.get("newest") or since
        events = []
        for contact in contacts:
            newest = max(newest, contact.get("udate") or "")
            created = norm.parse_time(contact.get("cdate"))
            if not contact.get("email") or created is None:
                continue
            record = {
                "contact": {
                    "email": contact.get("email"),
                    "first_name": contact.get("firstName"),
                    "last_name": contact.get("lastName"),
                    "phone": contact.get("phone"),
                    "orgname": contact.get("orgname"),
                }
            }
            event = self.map_record(connection, record)
            event.update(
                {
                    "id": f"contact:{contact['id']}",
                    "type": norm.CONTACT_SYNCED,
                    "occurred_at": norm.iso(created),
                    "properties": {
                        **(event.get("properties") or {}),
                        "activecampaign_contact": contact["id"],
                    },
                }
            )
            events.append(event)
        events = norm.sanitize_events(
            events, report=lambda message: client.note("warning", "sync", message)
        )
        if contacts and offset + len(contacts) < total:
            return PullResult(
                events=events,
                cursor={"since": since, "offset": offset + len(contacts), "newest": newest},
                has_more=True,
            )
        return PullResult(events=events, cursor={"since": newest} if newest else {}, has_more=False)


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    """``{"contact[email]": "a@b.fr"}`` → ``{"contact": {"email": "a@b.fr"}}``. A group
    always wins over a plain field of the same name (``form=x`` next to ``form[id]=7``);
    deeper brackets are ignored."""
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        if "[" in name and name.endswith("]"):
            head, _, rest = name.partition("[")
            inner = rest[:-1]
            if not head or "[" in inner or "]" in inner:
                continue
            group = nested.get(head)
            if not isinstance(group, dict):
                group = nested[head] = {}
            group[inner] = value
        elif not isinstance(nested.get(name), dict):
            nested.setdefault(name, value)
    return nested


def _group(nested: dict[str, Any], name: str) -> dict[str, Any]:
    """A bracketed group of the payload, {} when absent or a plain field."""
    value = nested.get(name)
    return value if isinstance(value, dict) else {}
