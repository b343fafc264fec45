"""Salesforce (CRM): MQLs pushed as Leads with their status, stage changes as status
updates, Opportunities pulled back (amount, stage, won/lost) and linked to our lead
through the converted Lead (``ConvertedOpportunityId``) or the opportunity's contact.

REST API (developer.salesforce.com), version ``API_VERSION``:

- OAuth 2.0 client-credentials flow of a connected app: ``POST /services/oauth2/token``
  on the org's My Domain (the connection's base URL) → ``access_token`` and
  ``instance_url``; the token is kept (encrypted) in the connection's state and fetched
  again once when a call answers 401 ``INVALID_SESSION_ID``;
- SOQL ``GET /services/data/vXX.X/query?q=…``, then ``nextRecordsUrl`` page by page;
- sObject collections ``POST``/``PATCH /services/data/vXX.X/composite/sobjects``, at most
  200 records per request, one result per record (``allOrNone: false``);
- limits: a daily allocation of API requests; beyond it Salesforce answers 403
  ``REQUEST_LIMIT_EXCEEDED`` — treated as "rate limited, retry later" (the sync resumes
  at its next run from its cursor), not as refused credentials.
"""

# SOQL is built from our own field names; every value goes through soql_string().
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from leads.models import Stage
from smarketing.tenancy.db import tenant_context

from . import _normalize as norm
from .base import (
    CRM,
    AuthError,
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

log = logging.getLogger(__name__)

API_VERSION = "v60.0"
COLLECTION_MAX = 200
OPPORTUNITY_FIELDS = (
    "Id",
    "Name",
    "Amount",
    "StageName",
    "IsWon",
    "IsClosed",
    "CloseDate",
    "CreatedDate",
    "LastModifiedDate",
    "ContactId",
)
# Smarketing stage → the standard Lead Status picklist values (overridable per
# connection: settings["lead_status"]). Opportunity and customer happen in Salesforce
# (the lead is converted there): nothing to push.
LEAD_STATUS = {
    Stage.MQL: "Open - Not Contacted",
    Stage.SAL: "Working - Contacted",
    Stage.SQL: "Working - Contacted",
    Stage.RECYCLED: "Closed - Not Converted",
    Stage.DISQUALIFIED: "Closed - Not Converted",
}
# Lead attribute → Lead field, written only where Salesforce's is empty.
ATTRIBUTES = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "title": "Title",
    "phone": "Phone",
    "country": "Country",
}


def soql_string(value: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def soql_in(values) -> str:
    return "(" + ", ".join(soql_string(v) for v in values) + ")"


def soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _errors(body: Any) -> str:
    if isinstance(body, list):
        return ", ".join(
            str(e.get("errorCode") or e.get("statusCode") or e) for e in body if isinstance(e, dict)
        )
    if isinstance(body, dict):
        return str(body.get("error") or body.get("errorCode") or body)
    return str(body)[:200]


def _saved_state(connection) -> dict:
    """The connection's kept state (the access token across runs), or {}."""
    try:
        state = connection.state
    except Exception:  # a decryption problem: fetch a new token
        return {}
    return state if isinstance(state, dict) else {}


def _state_works(connection) -> bool:
    try:
        return isinstance(connection.state, dict)
    except Exception:
        return False


def _instance_ok(url: str) -> bool:
    """The instance URL the token answer (or the kept state) names: https to a public
    host, like a base URL (its address is checked again at each call)."""
    from integrations.http import allowed_base_url

    return isinstance(url, str) and allowed_base_url(url)


def _on_instance(instance: str, path: str) -> str:
    """A path on the instance; an absolute URL (``nextRecordsUrl``) only on the
    instance's own host — the bearer token never goes anywhere else."""
    if "://" not in path and not path.startswith("//"):
        return f"{instance}/{path.lstrip('/')}"
    wanted, given = urlsplit(instance), urlsplit(path)
    if (given.scheme, given.hostname, given.port) != (wanted.scheme, wanted.hostname, wanted.port):
        raise ConnectorError("Salesforce answered a URL on another host: refused")
    return path


@register
class SalesforceConnector(Connector):
    key = "salesforce"
    label = "Salesforce"
    kind = frozenset({CRM})
    description = _(
        "MQLs pushed to Salesforce as Leads with their status; opportunities (amount, "
        "stage, won or lost) pulled back to close the loop."
    )
    docs_url = (
        "https://help.salesforce.com/s/articleView?id=sf.connected_app_client_credentials_setup.htm"
    )
    credential_fields = (
        CredentialField(
            "client_id",
            _("Consumer key of the connected app"),
            secret=False,
            help_text=_(
                "Setup → App Manager → your connected app (client credentials flow enabled)."
            ),
        ),
        CredentialField("client_secret", _("Consumer secret")),
    )
    settings_fields = (
        SettingField(
            "lead_status",
            _("Lead Status values"),
            json=True,
            shape="text_map",
            help_text=_(
                'If your Lead Status picklist differs: {"mql": "Open - Not Contacted", '
                '"sal": "Working - Contacted", "recycled": "Closed - Not Converted"}.'
            ),
        ),
        SettingField("lead_source", _("Lead Source of pushed leads"), placeholder="Web"),
        SettingField(
            "since",
            _("First sync from"),
            help_text=_(
                "A date (YYYY-MM-DD): older records are not pulled. Everything when empty."
            ),
        ),
    )
    # The org's My Domain (https://<domain>.my.salesforce.com): set as the base URL.
    default_base_url = "https://login.salesforce.com"
    rate_limit = RateLimit(20, 1.0)
    max_batch = COLLECTION_MAX
    supports_push = True
    conflict_policy = {
        "lead status (MQL, accepted, rejected)": "smarketing",
        "lead attributes": "fill empty fields only",
        "opportunity amount, stage, won/lost, close date": "crm",
    }

    # --- Auth --------------------------------------------------------------------------

    def _token(self, connection, client, *, fresh: bool = False) -> dict:
        cached = client.cache.get("salesforce_token")
        if cached and not fresh:
            return cached
        state = _saved_state(connection)
        if (
            not fresh
            and state.get("access_token")
            and state.get("instance_url")
            and _instance_ok(state["instance_url"])
        ):
            token = {"access_token": state["access_token"], "instance_url": state["instance_url"]}
            client.cache["salesforce_token"] = token
            return token
        credentials = connection.credentials
        response = client.request(
            "POST",
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.get("client_id", ""),
                "client_secret": credentials.get("client_secret", ""),
            },
            auth=False,
            ok=lambda status: 200 <= status < 300 or status in (400, 401),
            retry_unsafe=True,  # a token request creates nothing
        )
        body = response.json() or {}
        if response.status != 200 or not body.get("access_token"):
            raise AuthError(
                f"Salesforce refused the connected app: {_errors(body)}", status=response.status
            )
        instance = str(body.get("instance_url") or client.base_url).rstrip("/")
        if not _instance_ok(instance):
            raise AuthError("Salesforce answered an instance URL that is refused (https, public)")
        token = {"access_token": body["access_token"], "instance_url": instance}
        client.cache["salesforce_token"] = token
        if _state_works(connection):
            with tenant_context(connection.organization_id):
                client.save_state(**token)
        return token

    def auth_headers(self, connection, client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(connection, client)['access_token']}"}

    def _call(self, connection, client, method: str, path: str, **kwargs) -> Any:
        """A REST call on the instance: 401 → a new token, once; 403
        REQUEST_LIMIT_EXCEEDED → retryable."""
        for attempt in range(2):
            instance = self._token(connection, client)["instance_url"].rstrip("/")
            url = _on_instance(instance, path)
            response = client.request(
                method, url, ok=lambda status: 200 <= status < 300 or status in (401, 403), **kwargs
            )
            if response.status == 401 and attempt == 0:
                self._token(connection, client, fresh=True)
                continue
            if response.status in (401, 403):
                body = response.json() if response.body else None
                codes = _errors(body)
                if "REQUEST_LIMIT_EXCEEDED" in codes:
                    raise ConnectorError(
                        "Salesforce's API request limit is reached; the sync resumes later",
                        retryable=True,
                        status=403,
                    )
                raise AuthError(
                    f"Salesforce refused the call ({response.status}): {codes}",
                    status=response.status,
                )
            return response.json()
        raise AuthError("Salesforce refused the new token")  # pragma: no cover

    def check(self, connection, client) -> None:
        self._call(connection, client, "GET", f"/services/data/{API_VERSION}/limits")

    def _query(self, connection, client, soql: str) -> list[dict]:
        """Every record of a (small) query, following nextRecordsUrl."""
        data = (
            self._call(
                connection, client, "GET", f"/services/data/{API_VERSION}/query", params={"q": soql}
            )
            or {}
        )
        records = list(data.get("records") or [])
        while data.get("nextRecordsUrl"):
            data = self._call(connection, client, "GET", data["nextRecordsUrl"]) or {}
            records += data.get("records") or []
        return records

    # --- Opportunities -----------------------------------------------------------------

    def pull_deals(self, connection, client, cursor: dict) -> PullResult:
        """One page of opportunities modified since the cursor (ascending), then their
        leads (converted into them) and contacts, in two more queries."""
        if cursor.get("next"):
            data = self._call(connection, client, "GET", cursor["next"]) or {}
        else:
            since = (
                norm.parse_time(cursor.get("since"))
                or norm.parse_time((connection.settings or {}).get("since"))
                or datetime(2000, 1, 1, tzinfo=UTC)
            )
            soql = (
                f"SELECT {', '.join(OPPORTUNITY_FIELDS)} FROM Opportunity "
                f"WHERE LastModifiedDate >= {soql_datetime(since)} ORDER BY LastModifiedDate, Id"
            )
            data = (
                self._call(
                    connection,
                    client,
                    "GET",
                    f"/services/data/{API_VERSION}/query",
                    params={"q": soql},
                )
                or {}
            )
        records = data.get("records") or []
        newest = norm.parse_time(cursor.get("newest") or cursor.get("since"))
        for record in records:
            modified = norm.parse_time(record.get("LastModifiedDate"))
            if modified and (newest is None or modified > newest):
                newest = modified
        leads = self._converted_leads(connection, client, [r["Id"] for r in records])
        contact_ids = sorted(
            {r["ContactId"] for r in records if r.get("ContactId")}
            - {found.get("ConvertedContactId") for found in leads.values()}
        )
        contacts = self._contacts(connection, client, contact_ids)
        deals = []
        for record in records:
            lead = leads.get(record["Id"]) or {}
            email = (
                lead.get("Email") or contacts.get(record.get("ContactId") or "", "") or ""
            ).lower()
            status = "won" if record.get("IsWon") else "lost" if record.get("IsClosed") else "open"
            deals.append(
                DealRecord(
                    external_id=record["Id"],
                    name=record.get("Name") or record["Id"],
                    amount=record.get("Amount") if record.get("Amount") is not None else "0",
                    status=status,
                    stage=record.get("StageName") or "",
                    created_at=norm.parse_time(record.get("CreatedDate")),
                    closed_at=norm.parse_time(record.get("CloseDate"))
                    if status != "open"
                    else None,
                    lead_email=email,
                    lead_external_id=lead.get("Id", ""),
                    raw=record,
                )
            )
        stamp = norm.iso(newest) if newest else cursor.get("since")
        if data.get("nextRecordsUrl"):
            next_cursor = {
                "since": cursor.get("since"),
                "next": data["nextRecordsUrl"],
                "newest": stamp,
            }
            return PullResult(deals=deals, cursor=next_cursor, has_more=True)
        return PullResult(deals=deals, cursor={"since": stamp} if stamp else {}, has_more=False)

    def _converted_leads(self, connection, client, opportunity_ids: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for chunk in norm.chunks(opportunity_ids, COLLECTION_MAX):
            soql = (
                "SELECT Id, Email, ConvertedOpportunityId, ConvertedContactId FROM Lead "
                f"WHERE ConvertedOpportunityId IN {soql_in(chunk)}"
            )
            for lead in self._query(connection, client, soql):
                found[lead["ConvertedOpportunityId"]] = lead
        return found

    def _contacts(self, connection, client, contact_ids: list[str]) -> dict[str, str]:
        emails: dict[str, str] = {}
        for chunk in norm.chunks(contact_ids, COLLECTION_MAX):
            soql = f"SELECT Id, Email FROM Contact WHERE Id IN {soql_in(chunk)}"
            for contact in self._query(connection, client, soql):
                emails[contact["Id"]] = contact.get("Email") or ""
        return emails

    # --- Push -------------------------------------------------------------------------------

    def _status(self, connection, stage: str) -> str:
        custom = norm.setting_dict(connection, "lead_status").get(stage)
        return (custom if isinstance(custom, str) else "") or LEAD_STATUS.get(stage, "")

    def push_lead(self, connection, client, lead, change: LeadChange) -> str:
        result = self.push_leads(connection, client, [(lead, change)])
        external_id, error = result[0]
        if error:
            raise ConnectorError(f"Salesforce refused the lead: {error}")
        return external_id

    def push_leads(
        self, connection, client, items: list[tuple[Any, LeadChange]]
    ) -> list[tuple[str, str]]:
        """Create or update many leads, 200 per collection request; returns
        ``(Salesforce id, error)`` per item, in order."""
        out: list[tuple[str, str]] = [("", "")] * len(items)
        unknown = [i for i, (_lead, change) in enumerate(items) if not change.external_id]
        existing = self._leads_by_email(connection, client, [items[i][0].email for i in unknown])
        creates: list[tuple[int, dict]] = []
        updates: list[tuple[int, dict]] = []
        for index, (lead, change) in enumerate(items):
            status = self._status(connection, change.to_stage)
            known = change.external_id or (existing.get(lead.email.lower()) or {}).get("Id", "")
            if known:
                current = existing.get(lead.email.lower()) or {}
                if current.get("IsConverted") or change.to_stage in (
                    Stage.OPPORTUNITY,
                    Stage.CUSTOMER,
                ):
                    out[index] = (known, "")  # converted in Salesforce: it owns the record now
                    continue
                record = {"attributes": {"type": "Lead"}, "id": known}
                if status:
                    record["Status"] = status
                for attribute, name in ATTRIBUTES.items():
                    value = getattr(lead, attribute, "") or ""
                    if value and current and not current.get(name):
                        record[name] = value
                updates.append((index, record))
            else:
                company = lead.company.name if lead.company_id else ""
                record = {
                    "attributes": {"type": "Lead"},
                    "Email": lead.email,
                    # Both required by Salesforce: something readable when we have nothing.
                    "LastName": lead.last_name or lead.email.split("@")[0],
                    "Company": company or lead.email.split("@")[-1],
                    "LeadSource": (connection.settings or {}).get("lead_source") or "Web",
                }
                for attribute, name in ATTRIBUTES.items():
                    value = getattr(lead, attribute, "") or ""
                    if value and name not in record:
                        record[name] = value
                if status:
                    record["Status"] = status
                creates.append((index, record))
        for method, batch in (("POST", creates), ("PATCH", updates)):
            for chunk in norm.chunks(batch, COLLECTION_MAX):
                results = (
                    self._call(
                        connection,
                        client,
                        method,
                        f"/services/data/{API_VERSION}/composite/sobjects",
                        json={"allOrNone": False, "records": [record for _i, record in chunk]},
                    )
                    or []
                )
                for (index, record), result in zip(chunk, results, strict=False):
                    if result.get("success"):
                        out[index] = (result.get("id") or record.get("id", ""), "")
                    else:
                        out[index] = (record.get("id", ""), json.dumps(result.get("errors"))[:500])
        return out

    def _leads_by_email(self, connection, client, emails: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        fields = ", ".join(["Id", "Email", "IsConverted", *ATTRIBUTES.values()])
        for chunk in norm.chunks(sorted({e.lower() for e in emails}), 100):
            soql = f"SELECT {fields} FROM Lead WHERE Email IN {soql_in(chunk)} ORDER BY CreatedDate"
            for record in self._query(connection, client, soql):
                email = (record.get("Email") or "").lower()
                # An open lead is preferred over an already converted one.
                if email not in found or (
                    found[email].get("IsConverted") and not record.get("IsConverted")
                ):
                    found[email] = record
        return found
