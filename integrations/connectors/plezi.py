"""Plezi (marketing in): contacts and content downloads.

Plezi publishes little about its REST API; what this connector assumes is written down
in docs/integrations.md ("Plezi: assumptions") and kept in the constants below, so that
a difference with the real API is a one-line change:

- base URL ``https://app.plezi.co/api/v1``; every call carries ``X-Tenant-Company`` (the
  company id, shown in Plezi's settings next to the API key) and ``X-API-Key``;
- JSON:API documents (``data`` / ``included`` / ``links.next``), pages by
  ``page[number]`` and ``page[size]`` (100);
- ``contacts`` stream: ``/contacts?filter[updated_since]=`` in ``updated_at`` order;
- ``content_downloads`` stream: ``/form_submissions?filter[created_since]=&include=
  contact,content``; a submission with a content is a ``content_download`` of that
  content (its slug, else its title, is the content key), without one a ``form_submit``.

The ``next`` link is read for its page number only: the request is always built on the
connection's own base URL, so a link elsewhere never receives the API key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.utils.translation import gettext_lazy as _

from . import _normalize as norm
from .base import (
    MARKETING,
    Connector,
    ConnectorError,
    CredentialField,
    PullResult,
    RateLimit,
    register,
)

PAGE = 100
CONTACTS_PATH = "/contacts"
SUBMISSIONS_PATH = "/form_submissions"
CONTACTS_SINCE = "filter[updated_since]"
SUBMISSIONS_SINCE = "filter[created_since]"


def _next_page(links: dict) -> int | None:
    nxt = (links or {}).get("next")
    if not nxt:
        return None
    values = parse_qs(urlsplit(nxt).query).get("page[number]")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


@register
class PleziConnector(Connector):
    key = "plezi"
    label = "Plezi"
    kind = frozenset({MARKETING})
    description = _("Contacts and content downloads (white papers, guides) from Plezi.")
    docs_url = "https://help.plezi.co/"
    credential_fields = (
        CredentialField("tenant_company", _("Company id (X-Tenant-Company)"), secret=False),
        CredentialField("api_key", _("API key")),
    )
    default_base_url = "https://app.plezi.co/api/v1"
    # Not published by Plezi: we assume 10 requests per second and stay at 5.
    rate_limit = RateLimit(5, 1.0)
    max_batch = PAGE
    streams = ("contacts", "content_downloads")
    default_field_mapping = {
        "email": "attributes.email",
        "first_name": "attributes.first_name",
        "last_name": "attributes.last_name",
        "title": "attributes.job_title",
        "company": "attributes.company",
        "phone": "attributes.phone",
        "country": "attributes.country",
    }
    conflict_policy = {
        "contact attributes": "fill empty fields only",
        "score and stage": "smarketing (Plezi's own scoring is ignored)",
    }

    def auth_headers(self, connection, client) -> dict[str, str]:
        credentials = connection.credentials
        return {
            "X-Tenant-Company": str(credentials.get("tenant_company", "")),
            "X-API-Key": credentials.get("api_key", ""),
            "Accept": "application/vnd.api+json",
        }

    def check(self, connection, client) -> None:
        client.get(CONTACTS_PATH, params={"page[number]": 1, "page[size]": 1})

    def pull(self, connection, client, stream: str, cursor: dict) -> PullResult:
        if stream == "contacts":
            path, since_param, stamp = CONTACTS_PATH, CONTACTS_SINCE, "updated_at"
        elif stream == "content_downloads":
            path, since_param, stamp = SUBMISSIONS_PATH, SUBMISSIONS_SINCE, "created_at"
        else:
            raise ConnectorError(f"unknown stream {stream}")
        since = cursor.get("since") or ""
        page = int(cursor.get("page") or 1)
        params: dict[str, Any] = {"page[number]": page, "page[size]": PAGE}
        if since:
            params[since_param] = since
        if stream == "content_downloads":
            params["include"] = "contact,content"
        document = client.get(path, params=params).json() or {}
        items = document.get("data") or []
        newest = cursor.get("newest") or since
        for item in items:
            value = (item.get("attributes") or {}).get(stamp) or ""
            newest = max(newest, value)
        if stream == "contacts":
            events = [e for e in (self._contact_event(connection, c) for c in items) if e]
        else:
            included = {(i.get("type"), i.get("id")): i for i in document.get("included") or []}
            events = [
                e for e in (self._download_event(connection, s, included) for s in items) if e
            ]
        events = norm.sanitize_events(
            events, report=lambda message: client.note("warning", "sync", message)
        )
        next_page = _next_page(document.get("links") or {})
        if next_page and items:
            return PullResult(
                events=events,
                cursor={"since": since, "page": next_page, "newest": newest},
                has_more=True,
            )
        return PullResult(events=events, cursor={"since": newest} if newest else {}, has_more=False)

    def _contact_event(self, connection, contact: dict) -> dict | None:
        event = self.map_record(connection, contact)
        created = norm.parse_time((contact.get("attributes") or {}).get("created_at"))
        if not event.get("email") or created is None:
            return None
        event.update(
            {
                "id": f"contact:{contact['id']}",
                "type": norm.CONTACT_SYNCED,
                "occurred_at": norm.iso(created),
                "properties": {**(event.get("properties") or {}), "plezi_id": contact["id"]},
            }
        )
        return event

    def _download_event(self, connection, submission: dict, included: dict) -> dict | None:
        relations = submission.get("relationships") or {}
        contact_ref = (relations.get("contact") or {}).get("data") or {}
        contact = included.get(("contacts", contact_ref.get("id")))
        at = norm.parse_time((submission.get("attributes") or {}).get("created_at"))
        if contact is None or at is None:
            return None
        event = self.map_record(connection, contact)
        if not event.get("email"):
            return None
        content_ref = (relations.get("content") or {}).get("data") or {}
        content = included.get(("contents", content_ref.get("id"))) if content_ref else None
        attributes = (content or {}).get("attributes") or {}
        key = norm.content_key(attributes.get("slug") or attributes.get("title") or "")
        event.update(
            {
                "id": f"submission:{submission['id']}",
                "type": "content_download" if key else "form_submit",
                "occurred_at": norm.iso(at),
                "properties": {
                    **(event.get("properties") or {}),
                    "form": (submission.get("attributes") or {}).get("form_name") or "",
                    "plezi_content": attributes.get("title") or "",
                },
            }
        )
        if key:
            event["content"] = key
            if attributes.get("url"):
                event["url"] = attributes["url"]
        return event
