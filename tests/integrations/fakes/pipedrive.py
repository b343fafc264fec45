"""A fake Pipedrive (API v1, developers.pipedrive.com):

- ``?api_token=`` on every call, else 401 ``{"success": false, "error": "unauthorized
  access", "errorCode": 401}``;
- every answer is ``{"success": true, "data": …, "additional_data": {"pagination":
  {"start", "limit", "more_items_in_collection", "next_start"}}}``; ``limit`` ≤ 500;
- persons (``/v1/persons``, ``/v1/persons/search?term=&fields=email&exact_matching=``),
  leads (``/v1/leads``, ids are UUIDs, ``is_archived``), deals (``/v1/deals``; ``status``
  open / won / lost, ``value``, ``currency``, ``person_id`` expanded as ``{"value": id,
  "name", "email": [{"value", "primary"}]}``), and ``/v1/recents?since_timestamp=&items=deal``
  (changes since a ``YYYY-MM-DD HH:MM:SS`` UTC time, with ``last_timestamp_on_page``);
- rate limit: a burst limit per rolling 2-second window per token (80 on the default
  plan here); beyond it 429 ``{"success": false, "error": "Rate limit has been
  exceeded", "errorCode": 429}`` with the ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from . import FakeServer, Request, Response

API_TOKEN = "pipedrive-api-token-for-tests"
LIMIT_MAX = 500


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class FakePipedrive(FakeServer):
    limit = 80
    window = 2.0

    def __init__(self, **kwargs: Any) -> None:
        self.persons: dict[int, dict] = {}
        self.leads: dict[str, dict] = {}
        self.deals: dict[int, dict] = {}
        self._ids = itertools.count(1)
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        super().__init__(**kwargs)

    def _tick(self) -> str:
        # Pipedrive's times have a one-second resolution; each write one second later.
        self._clock = max(
            self._clock + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0)
        )
        return _stamp(self._clock)

    # --- Test helpers -----------------------------------------------------------------

    def add_person(self, name: str, email: str) -> dict:
        person_id = next(self._ids)
        now = self._tick()
        person = {
            "id": person_id,
            "name": name,
            "email": [{"label": "work", "value": email, "primary": True}],
            "phone": [],
            "add_time": now,
            "update_time": now,
        }
        self.persons[person_id] = person
        return person

    def add_deal(
        self, title: str, *, value: float, status: str = "open", person_id=None, currency="EUR"
    ) -> dict:
        deal_id = next(self._ids)
        now = self._tick()
        deal = {
            "id": deal_id,
            "title": title,
            "value": value,
            "currency": currency,
            "status": status,
            "stage_id": 1,
            "person_id": person_id,
            "add_time": now,
            "update_time": now,
            "won_time": now if status == "won" else None,
            "lost_time": now if status == "lost" else None,
            "close_time": now if status in ("won", "lost") else None,
        }
        self.deals[deal_id] = deal
        return deal

    def set_deal(self, deal_id: int, **fields: Any) -> dict:
        deal = self.deals[deal_id]
        deal.update(fields)
        now = self._tick()
        deal["update_time"] = now
        if fields.get("status") == "won":
            deal["won_time"] = deal["close_time"] = now
        if fields.get("status") == "lost":
            deal["lost_time"] = deal["close_time"] = now
        return deal

    # --- Plumbing ---------------------------------------------------------------------

    def authorized(self, request: Request) -> Response | None:
        if request.arg("api_token") != API_TOKEN:
            return Response(
                401,
                {
                    "success": False,
                    "error": "unauthorized access",
                    "errorCode": 401,
                    "error_info": "Please check developers.pipedrive.com for more information.",
                },
            )
        return None

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429,
            {"success": False, "error": "Rate limit has been exceeded", "errorCode": 429},
            {
                "x-ratelimit-limit": str(self.rate.limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(max(1, int(retry_after + 0.999))),
            },
        )

    def routes(self) -> None:
        self.route("GET", r"/v1/persons/search", self.search_persons)
        self.route("GET", r"/v1/persons", lambda r: self._list(r, list(self.persons.values())))
        self.route("POST", r"/v1/persons", self.create_person)
        self.route("PUT", r"/v1/persons/(?P<pk>\d+)", self.update_person)
        self.route("GET", r"/v1/leads", self.list_leads)
        self.route("POST", r"/v1/leads", self.create_lead)
        self.route("PATCH", r"/v1/leads/(?P<pk>[0-9a-f-]+)", self.update_lead)
        self.route(
            "GET",
            r"/v1/deals",
            lambda r: self._list(r, [self._public(d) for d in self.deals.values()]),
        )
        self.route("POST", r"/v1/deals", self.create_deal)
        self.route("PUT", r"/v1/deals/(?P<pk>\d+)", self.update_deal)
        self.route("GET", r"/v1/recents", self.recents)

    def _public(self, deal: dict) -> dict:
        out = dict(deal)
        person = self.persons.get(deal.get("person_id") or 0)
        if person is not None:
            out["person_id"] = {
                "value": person["id"],
                "name": person["name"],
                "email": person["email"],
            }
        return out

    @staticmethod
    def _pagination(request: Request, items: list) -> tuple[list, dict] | Response:
        start = int(request.arg("start", "0"))
        limit = int(request.arg("limit", "100"))
        if limit > LIMIT_MAX:
            return Response(
                400,
                {"success": False, "error": f"limit must be at most {LIMIT_MAX}", "errorCode": 400},
            )
        page = items[start : start + limit]
        more = start + limit < len(items)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        return page, pagination

    def _list(self, request: Request, items: list) -> Response:
        paged = self._pagination(request, items)
        if isinstance(paged, Response):
            return paged
        page, pagination = paged
        return Response(
            200,
            {"success": True, "data": page or None, "additional_data": {"pagination": pagination}},
        )

    # --- Persons ------------------------------------------------------------------------

    def search_persons(self, request: Request) -> Response:
        term = (request.arg("term") or "").lower()
        exact = request.arg("exact_matching") == "true"
        found = []
        for person in self.persons.values():
            emails = [e["value"].lower() for e in person["email"]]
            if (exact and term in emails) or (not exact and any(term in e for e in emails)):
                found.append(
                    {
                        "result_score": 1.0,
                        "item": {
                            "id": person["id"],
                            "type": "person",
                            "name": person["name"],
                            "emails": emails,
                        },
                    }
                )
        paged = self._pagination(request, found)
        if isinstance(paged, Response):
            return paged
        page, pagination = paged
        return Response(
            200,
            {
                "success": True,
                "data": {"items": page},
                "additional_data": {"pagination": pagination},
            },
        )

    def create_person(self, request: Request) -> Response:
        data = request.json() or {}
        if not data.get("name"):
            return Response(
                400, {"success": False, "error": "Name must be given.", "errorCode": 400}
            )
        emails = data.get("email") or []
        email = (
            emails[0]["value"]
            if emails and isinstance(emails[0], dict)
            else (emails[0] if emails else "")
        )
        person = self.add_person(data["name"], email)
        return Response(201, {"success": True, "data": person})

    def update_person(self, request: Request, pk: str) -> Response:
        person = self.persons.get(int(pk))
        if person is None:
            return Response(404, {"success": False, "error": "Person not found", "errorCode": 404})
        person.update(request.json() or {})
        person["update_time"] = self._tick()
        return Response(200, {"success": True, "data": person})

    # --- Leads --------------------------------------------------------------------------------

    def list_leads(self, request: Request) -> Response:
        leads = list(self.leads.values())
        if request.arg("person_id"):
            leads = [lead for lead in leads if str(lead["person_id"]) == request.arg("person_id")]
        status = request.arg("archived_status", "all")
        if status == "not_archived":
            leads = [lead for lead in leads if not lead["is_archived"]]
        elif status == "archived":
            leads = [lead for lead in leads if lead["is_archived"]]
        return self._list(request, leads)

    def create_lead(self, request: Request) -> Response:
        data = request.json() or {}
        if not data.get("title") or not (data.get("person_id") or data.get("organization_id")):
            return Response(
                400,
                {
                    "success": False,
                    "error": "title and person_id or organization_id are required",
                    "errorCode": 400,
                },
            )
        now = self._tick()
        lead = {
            "id": str(uuid.uuid4()),
            "title": data["title"],
            "person_id": data.get("person_id"),
            "organization_id": data.get("organization_id"),
            "label_ids": data.get("label_ids") or [],
            "value": data.get("value"),
            "is_archived": False,
            "add_time": now,
            "update_time": now,
        }
        self.leads[lead["id"]] = lead
        return Response(201, {"success": True, "data": lead})

    def update_lead(self, request: Request, pk: str) -> Response:
        lead = self.leads.get(pk)
        if lead is None:
            return Response(404, {"success": False, "error": "Lead not found", "errorCode": 404})
        lead.update(request.json() or {})
        lead["update_time"] = self._tick()
        return Response(200, {"success": True, "data": lead})

    # --- Deals ---------------------------------------------------------------------------------

    def create_deal(self, request: Request) -> Response:
        data = request.json() or {}
        if not data.get("title"):
            return Response(
                400, {"success": False, "error": "Title must be given.", "errorCode": 400}
            )
        deal = self.add_deal(
            data["title"],
            value=float(data.get("value") or 0),
            status=data.get("status") or "open",
            person_id=data.get("person_id"),
            currency=data.get("currency") or "EUR",
        )
        return Response(201, {"success": True, "data": self._public(deal)})

    def update_deal(self, request: Request, pk: str) -> Response:
        if int(pk) not in self.deals:
            return Response(404, {"success": False, "error": "Deal not found", "errorCode": 404})
        deal = self.set_deal(int(pk), **(request.json() or {}))
        return Response(200, {"success": True, "data": self._public(deal)})

    def recents(self, request: Request) -> Response:
        since = request.arg("since_timestamp") or ""
        if request.arg("items") != "deal":
            return Response(
                400, {"success": False, "error": "only items=deal in this fake", "errorCode": 400}
            )
        changed = sorted(
            (d for d in self.deals.values() if d["update_time"] >= since),
            key=lambda d: (d["update_time"], d["id"]),
        )
        paged = self._pagination(request, changed)
        if isinstance(paged, Response):
            return paged
        page, pagination = paged
        return Response(
            200,
            {
                "success": True,
                "data": [{"item": "deal", "id": d["id"], "data": self._public(d)} for d in page]
                or None,
                "additional_data": {
                    "since_timestamp": since,
                    "last_timestamp_on_page": page[-1]["update_time"] if page else since,
                    "pagination": pagination,
                },
            },
        )
