"""A fake ActiveCampaign (API v3, developers.activecampaign.com) and its webhooks:

- ``Api-Token`` header on every call, else 403 ``{"message": "No Result found for
  Subscriber with id 0"}``-style refusal (AC answers 403 for a bad key);
- ``GET /api/3/contacts?limit=&offset=&orders[udate]=ASC&filters[updated_after]=`` →
  ``{"contacts": [...], "meta": {"total": "n"}}`` (``limit`` ≤ 100);
- 5 requests per second per account; beyond it 429 (with ``Retry-After``);
- webhooks are form-encoded (``type=subscribe&date_time=…&contact[email]=…``) and not
  signed: ``webhook_body`` builds one as AC sends it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from . import FakeServer, Request, Response

API_KEY = "activecampaign-api-key-for-tests"
WEBHOOK_TOKEN = "ac-webhook-token-0123456789abcdef"


def _ac_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


class FakeActiveCampaign(FakeServer):
    limit = 5
    window = 1.0

    def __init__(self, **kwargs: Any) -> None:
        self.contacts: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        super().__init__(**kwargs)

    def add_contact(self, email: str, **fields: Any) -> dict:
        self._clock += timedelta(seconds=1)
        contact_id = str(next(self._ids))
        contact = {
            "id": contact_id,
            "email": email,
            "firstName": "",
            "lastName": "",
            "phone": "",
            "cdate": _ac_time(self._clock),
            "udate": _ac_time(self._clock),
            **fields,
        }
        self.contacts[contact_id] = contact
        return contact

    def authorized(self, request: Request) -> Response | None:
        if request.header("Api-Token") != API_KEY:
            return Response(403, {"message": "You are not authorized to access this resource"})
        return None

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})

    def routes(self) -> None:
        self.route("GET", r"/api/3/contacts", self.list_contacts)

    def list_contacts(self, request: Request) -> Response:
        limit = int(request.arg("limit", "20"))
        if limit > 100:
            return Response(422, {"errors": [{"title": "limit must be at most 100"}]})
        offset = int(request.arg("offset", "0"))
        after = request.arg("filters[updated_after]") or ""
        items = sorted(
            (c for c in self.contacts.values() if not after or c["udate"] >= after),
            key=lambda c: (c["udate"], int(c["id"])),
        )
        return Response(
            200, {"contacts": items[offset : offset + limit], "meta": {"total": str(len(items))}}
        )


def webhook_body(
    kind: str, *, email: str, at: datetime | None = None, contact_id: str = "42", **extra: str
) -> bytes:
    """A webhook as ActiveCampaign posts it (``application/x-www-form-urlencoded``)."""
    fields = {
        "type": kind,
        "date_time": (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00"),
        "initiated_from": "public",
        "initiated_by": "public",
        "list": "1",
        "contact[id]": contact_id,
        "contact[email]": email,
        "contact[first_name]": "Inès",
        "contact[last_name]": "Lambert",
        "contact[phone]": "",
        "contact[orgname]": "Exemple SA",
        "contact[tags]": "",
        "contact[ip]": "203.0.113.7",
        **extra,
    }
    return urlencode(fields).encode()
