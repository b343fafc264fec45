"""Pipedrive (CRM): MQLs pushed as a person and a lead, stage changes follow (a
rejected lead is archived), deals both ways (ours pushed, Pipedrive's pulled back with
their value and won/lost status).

API v1 (developers.pipedrive.com): ``api_token`` in the query string; answers
``{"success", "data", "additional_data": {"pagination": {"more_items_in_collection",
"next_start"}}}``; changed deals through ``/v1/recents?items=deal&since_timestamp=``.
Rate limit: a burst limit per rolling 2 seconds per token (80 on the lowest plans);
we stay at 40.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.utils.translation import gettext_lazy as _

from leads.models import Stage

from . import _normalize as norm
from .base import (
    CRM,
    Connector,
    ConnectorError,
    CredentialField,
    DealRecord,
    LeadChange,
    PullResult,
    RateLimit,
    SettingField,
    register,
)

PAGE = 100
REJECTED = frozenset({Stage.RECYCLED, Stage.DISQUALIFIED})
EPOCH = "1970-01-01 00:00:00"


def _data(response) -> Any:
    body = response.json() or {}
    if not body.get("success", False):
        raise ConnectorError(f"Pipedrive answered an error: {str(body)[:300]}")
    return body


@register
class PipedriveConnector(Connector):
    key = "pipedrive"
    label = "Pipedrive"
    kind = frozenset({CRM})
    description = _(
        "MQLs pushed to Pipedrive as people and leads; deals (value, won or lost) kept in "
        "step both ways."
    )
    docs_url = "https://pipedrive.readme.io/docs/how-to-find-the-api-token"
    credential_fields = (
        CredentialField(
            "api_token",
            _("Personal API token"),
            help_text=_("Pipedrive → your name → Personal preferences → API."),
        ),
    )
    settings_fields = (
        SettingField(
            "lead_labels",
            _("Lead labels by stage"),
            json=True,
            shape="labels",
            help_text=_('Optional: {"mql": "<label id>", "sql": "<label id>"}.'),
        ),
        SettingField(
            "since",
            _("First sync from"),
            help_text=_(
                "A date (YYYY-MM-DD): older records are not pulled. Everything when empty."
            ),
        ),
    )
    default_base_url = "https://api.pipedrive.com"
    rate_limit = RateLimit(40, 2.0)
    max_batch = PAGE
    supports_push = True
    conflict_policy = {
        "lead title, archived when rejected": "smarketing",
        "person name and e-mail": "fill empty fields only",
        "deal value, status (won/lost), stage": "crm",
    }

    def _params(self, connection, **params) -> dict:
        return {**params, "api_token": connection.credentials.get("api_token", "")}

    def check(self, connection, client) -> None:
        _data(client.get("/v1/persons", params=self._params(connection, limit=1)))

    # --- Deals in --------------------------------------------------------------------------

    def pull_deals(self, connection, client, cursor: dict) -> PullResult:
        first = norm.parse_time((connection.settings or {}).get("since"))
        since = cursor.get("since") or (
            first.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if first else EPOCH
        )
        start = int(cursor.get("start") or 0)
        body = _data(
            client.get(
                "/v1/recents",
                params=self._params(
                    connection, since_timestamp=since, items="deal", start=start, limit=PAGE
                ),
            )
        )
        extra = body.get("additional_data") or {}
        pagination = extra.get("pagination") or {}
        deals = []
        for change in body.get("data") or []:
            if change.get("item") != "deal" or not isinstance(change.get("data"), dict):
                continue
            deal = change["data"]
            if deal.get("status") == "deleted":
                continue
            person = deal.get("person_id")
            email, person_id = "", ""
            if isinstance(person, dict):
                person_id = str(person.get("value") or "")
                emails = person.get("email") or []
                primary = next((e for e in emails if e.get("primary")), emails[0] if emails else {})
                email = (primary.get("value") or "").lower()
            elif person:
                person_id = str(person)
            status = deal.get("status") if deal.get("status") in ("won", "lost") else "open"
            closed = deal.get("won_time") if status == "won" else deal.get("lost_time")
            deals.append(
                DealRecord(
                    external_id=str(deal["id"]),
                    name=deal.get("title") or f"Pipedrive deal {deal['id']}",
                    amount=deal.get("value") or 0,
                    status=status,
                    stage=str(deal.get("stage_id") or ""),
                    currency=deal.get("currency") or "",
                    created_at=norm.parse_time(deal.get("add_time")),
                    closed_at=norm.parse_time(closed or deal.get("close_time"))
                    if status != "open"
                    else None,
                    lead_email=email,
                    lead_external_id=person_id,
                    raw=deal,
                )
            )
        if pagination.get("more_items_in_collection"):
            next_start = pagination.get("next_start", start + PAGE)
            return PullResult(
                deals=deals, cursor={"since": since, "start": next_start}, has_more=True
            )
        # Done: from the last change seen (≥: the boundary second is re-read, harmlessly).
        last = extra.get("last_timestamp_on_page") or since
        return PullResult(deals=deals, cursor={"since": last}, has_more=False)

    # --- Push --------------------------------------------------------------------------------

    def _person(self, connection, client, lead) -> int:
        found = _data(
            client.get(
                "/v1/persons/search",
                params=self._params(
                    connection, term=lead.email, fields="email", exact_matching="true", limit=1
                ),
            )
        )
        items = (found.get("data") or {}).get("items") or []
        if items:
            return int(items[0]["item"]["id"])
        name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
        person: dict[str, Any] = {
            "name": name,
            "email": [{"value": lead.email, "primary": True, "label": "work"}],
        }
        if lead.phone:
            person["phone"] = [{"value": lead.phone, "primary": True, "label": "work"}]
        created = _data(client.post("/v1/persons", params=self._params(connection), json=person))
        return int(created["data"]["id"])

    def push_lead(self, connection, client, lead, change: LeadChange) -> str:
        """The person (found by e-mail, else created) is the lead's id here: deals link
        to people. Its open Pipedrive lead is created at MQL, renamed as the stage moves
        on, archived when sales rejects it."""
        person_id = int(change.external_id) if change.external_id.isdigit() else None
        if person_id is None:
            person_id = self._person(connection, client, lead)
        open_leads = (
            _data(
                client.get(
                    "/v1/leads",
                    params=self._params(
                        connection, person_id=person_id, archived_status="not_archived", limit=PAGE
                    ),
                )
            ).get("data")
            or []
        )
        stage_label = (
            str(Stage(change.to_stage).label)
            if change.to_stage in Stage.values
            else change.to_stage
        )
        title = f"{lead.first_name} {lead.last_name}".strip() or lead.email
        title = f"{title} ({stage_label})"
        labels = norm.setting_dict(connection, "lead_labels").get(change.to_stage)
        if isinstance(labels, list):
            labels = [str(label) for label in labels if isinstance(label, str | int)]
        elif not isinstance(labels, str | int) or isinstance(labels, bool):
            labels = None
        if change.to_stage in REJECTED:
            for existing in open_leads:
                _data(
                    client.patch(
                        f"/v1/leads/{existing['id']}",
                        params=self._params(connection),
                        json={"is_archived": True, "title": title},
                    )
                )
        elif change.to_stage in (Stage.OPPORTUNITY, Stage.CUSTOMER):
            pass  # a deal carries it on in Pipedrive
        elif open_leads:
            update: dict[str, Any] = {"title": title}
            if labels:
                update["label_ids"] = labels if isinstance(labels, list) else [labels]
            _data(
                client.patch(
                    f"/v1/leads/{open_leads[0]['id']}", params=self._params(connection), json=update
                )
            )
        else:
            new: dict[str, Any] = {"title": title, "person_id": person_id}
            if labels:
                new["label_ids"] = labels if isinstance(labels, list) else [labels]
            _data(client.post("/v1/leads", params=self._params(connection), json=new))
        return str(person_id)

    def push_deal(self, connection, client, deal, *, person_id: str = "") -> str:
        """A deal made in Smarketing (source "") created or updated in Pipedrive; returns
        its Pipedrive id. ``deal.external_id`` is the id when it was pushed before."""
        body: dict[str, Any] = {
            "title": deal.name,
            "value": str(deal.amount),
            "currency": deal.currency,
            "status": deal.status,
        }
        if person_id:
            body["person_id"] = int(person_id)
        if deal.external_id and deal.source == self.key:
            saved = _data(
                client.request(
                    "PUT",
                    f"/v1/deals/{deal.external_id}",
                    params=self._params(connection),
                    json=body,
                )
            )
        else:
            saved = _data(client.post("/v1/deals", params=self._params(connection), json=body))
        return str(saved["data"]["id"])
