"""A fake HubSpot (CRM v3 objects, search, batch upsert, forms and their submissions),
as documented on developers.hubspot.com:

- ``Authorization: Bearer <private app token>``, else 401 ``{"status": "error",
  "category": "INVALID_AUTHENTICATION", ...}``;
- private apps: 190 requests per rolling 10 s; beyond it, 429 with ``errorType:
  RATE_LIMIT`` / ``policyName: TEN_SECONDLY_ROLLING`` and the ``X-HubSpot-RateLimit-*``
  headers (HubSpot sends no Retry-After);
- lists page with ``limit`` (≤ 100) and an opaque ``after`` cursor in
  ``paging.next.after``; search takes ``filterGroups`` / ``sorts`` / ``after`` and at most
  200 per page; batch endpoints take at most 100 inputs (400 VALIDATION_ERROR beyond);
- form submissions (``/form-integrations/v1/submissions/forms/{guid}``): ``limit`` ≤ 50,
  ``after`` cursor, each ``{"submittedAt": ms, "values": [{"name", "value"}], "pageUrl"}``.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from . import FakeServer, Request, Response

TOKEN = "pat-eu1-fake-token"
CLIENT_SECRET = "hubspot-client-secret-for-tests"


def _ms(at: float | None = None) -> int:
    return int((time.time() if at is None else at) * 1000)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


class FakeHubSpot(FakeServer):
    limit = 190
    window = 10.0
    list_max = 100
    search_max = 200
    batch_max = 100
    submissions_max = 50

    def __init__(self, **kwargs: Any) -> None:
        self.contacts: dict[str, dict] = {}
        self.deals: dict[str, dict] = {}
        self.forms: dict[str, dict] = {}
        self.submissions: dict[str, list[dict]] = {}
        self.upserted: list[tuple[str, dict]] = []
        self._ids = itertools.count(1001)
        super().__init__(**kwargs)

    # --- Test helpers -----------------------------------------------------------------

    def add_contact(self, email: str, **properties: Any) -> dict:
        ms = properties.pop("_modified_ms", None) or _ms()
        contact_id = str(next(self._ids))
        contact = {
            "id": contact_id,
            "properties": {
                "email": email.lower(),
                "hs_object_id": contact_id,
                "createdate": _iso(ms),
                "lastmodifieddate": _iso(ms),
                **{k: str(v) for k, v in properties.items()},
            },
            "createdAt": _iso(ms),
            "updatedAt": _iso(ms),
            "archived": False,
            "_modified": ms,
        }
        self.contacts[contact_id] = contact
        return contact

    def add_deal(self, name: str, *, amount: str, stage: str, contact_ids=(), **props) -> dict:
        ms = props.pop("_modified_ms", None) or _ms()
        deal_id = str(next(self._ids))
        deal = {
            "id": deal_id,
            "properties": {
                "dealname": name,
                "amount": amount,
                "dealstage": stage,
                "pipeline": "default",
                "createdate": _iso(ms),
                "hs_lastmodifieddate": _iso(ms),
                "hs_is_closed_won": "true" if stage == "closedwon" else "false",
                "hs_is_closed": "true" if stage in ("closedwon", "closedlost") else "false",
                "deal_currency_code": "EUR",
                **{k: str(v) for k, v in props.items()},
            },
            "createdAt": _iso(ms),
            "updatedAt": _iso(ms),
            "archived": False,
            "_contacts": list(contact_ids),
            "_modified": ms,
        }
        self.deals[deal_id] = deal
        return deal

    def update_deal(self, deal_id: str, **props: Any) -> None:
        deal = self.deals[deal_id]
        ms = max(_ms(), deal["_modified"] + 1)
        deal["properties"].update({k: str(v) for k, v in props.items()})
        stage = deal["properties"]["dealstage"]
        deal["properties"]["hs_is_closed_won"] = "true" if stage == "closedwon" else "false"
        deal["properties"]["hs_is_closed"] = (
            "true" if stage in ("closedwon", "closedlost") else "false"
        )
        deal["properties"]["hs_lastmodifieddate"] = _iso(ms)
        deal["updatedAt"] = _iso(ms)
        deal["_modified"] = ms

    def add_form(self, name: str, guid: str | None = None) -> str:
        guid = guid or str(uuid.uuid4())
        self.forms[guid] = {"id": guid, "name": name, "formType": "hubspot", "archived": False}
        self.submissions.setdefault(guid, [])
        return guid

    def add_submission(self, guid: str, *, submitted_ms: int | None = None, page_url="", **values):
        self.submissions[guid].append(
            {
                "submittedAt": submitted_ms or _ms(),
                "values": [{"name": k, "value": str(v)} for k, v in values.items()],
                "pageUrl": page_url,
            }
        )

    def contact_by_email(self, email: str) -> dict | None:
        return next(
            (c for c in self.contacts.values() if c["properties"].get("email") == email.lower()),
            None,
        )

    # --- The API ----------------------------------------------------------------------

    def authorized(self, request: Request) -> Response | None:
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return Response(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "category": "INVALID_AUTHENTICATION",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        return None

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            },
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.rate.window * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.rate.limit),
                "X-HubSpot-RateLimit-Remaining": "0",
            },
        )

    def routes(self) -> None:
        self.route("GET", r"/crm/v3/objects/(?P<kind>contacts|deals)", self.list_objects)
        self.route("POST", r"/crm/v3/objects/(?P<kind>contacts|deals)/search", self.search)
        self.route("POST", r"/crm/v3/objects/(?P<kind>contacts|deals)/batch/read", self.batch_read)
        self.route("POST", r"/crm/v3/objects/contacts/batch/upsert", self.batch_upsert)
        self.route("POST", r"/crm/v4/associations/deals?/contacts?/batch/read", self.associations)
        self.route("GET", r"/marketing/v3/forms/?", self.list_forms)
        self.route(
            "GET", r"/form-integrations/v1/submissions/forms/(?P<guid>[^/]+)", self.list_submissions
        )

    def _store(self, kind: str) -> dict[str, dict]:
        return self.contacts if kind == "contacts" else self.deals

    @staticmethod
    def _validation(message: str) -> Response:
        return Response(
            400,
            {
                "status": "error",
                "message": message,
                "category": "VALIDATION_ERROR",
                "correlationId": str(uuid.uuid4()),
            },
        )

    def _public(self, obj: dict, properties: list[str] | None, associations: list[str]) -> dict:
        props = obj["properties"]
        if properties:
            props = {k: props.get(k) for k in properties}
            props.setdefault("hs_object_id", obj["id"])
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        out["properties"] = props
        if "contacts" in associations and "_contacts" in obj:
            out["associations"] = {
                "contacts": {
                    "results": [{"id": cid, "type": "deal_to_contact"} for cid in obj["_contacts"]]
                }
            }
        return out

    def list_objects(self, request: Request, kind: str) -> Response:
        limit = int(request.arg("limit", "10"))
        if limit > self.list_max:
            return self._validation(f"limit must be at most {self.list_max}")
        after = request.arg("after")
        properties = [p for p in (request.arg("properties") or "").split(",") if p]
        associations = [a for a in (request.arg("associations") or "").split(",") if a]
        ids = sorted(self._store(kind), key=int)
        if after:
            ids = [i for i in ids if int(i) > int(after)]
        page, rest = ids[:limit], ids[limit:]
        body: dict[str, Any] = {
            "results": [self._public(self._store(kind)[i], properties, associations) for i in page]
        }
        if rest:
            body["paging"] = {
                "next": {
                    "after": page[-1],
                    "link": f"{self.base_url}/crm/v3/objects/{kind}?after={page[-1]}",
                }
            }
        return Response(200, body)

    def search(self, request: Request, kind: str) -> Response:
        data = request.json() or {}
        limit = int(data.get("limit", 10))
        if limit > self.search_max:
            return self._validation(f"limit must be at most {self.search_max}")
        objects = list(self._store(kind).values())
        for group in data.get("filterGroups", [])[:1]:
            for f in group.get("filters", []):
                name, op, value = f["propertyName"], f["operator"], f.get("value")
                if name in ("lastmodifieddate", "hs_lastmodifieddate"):
                    threshold = int(value)
                    if op == "GTE":
                        objects = [o for o in objects if o["_modified"] >= threshold]
                    elif op == "GT":
                        objects = [o for o in objects if o["_modified"] > threshold]
                elif op == "EQ":
                    objects = [o for o in objects if o["properties"].get(name) == value]
                elif op == "IN":
                    objects = [o for o in objects if o["properties"].get(name) in f["values"]]
        objects.sort(key=lambda o: (o["_modified"], int(o["id"])))
        offset = int(data.get("after") or 0)
        page = objects[offset : offset + limit]
        body: dict[str, Any] = {
            "total": len(objects),
            # The search API returns no associations (v4 associations API for those).
            "results": [self._public(o, data.get("properties"), []) for o in page],
        }
        if offset + limit < len(objects):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, body)

    def batch_read(self, request: Request, kind: str) -> Response:
        data = request.json() or {}
        inputs = data.get("inputs", [])
        if len(inputs) > self.batch_max:
            return self._validation(f"at most {self.batch_max} inputs")
        store = self._store(kind)
        if data.get("idProperty") == "email" and kind == "contacts":
            found = [self.contact_by_email(str(i["id"])) for i in inputs]
        elif data.get("idProperty"):
            return self._validation("idProperty must be a unique property")
        else:
            found = [store.get(str(i["id"])) for i in inputs]
        results = [self._public(o, data.get("properties"), []) for o in found if o]
        return Response(200, {"status": "COMPLETE", "results": results})

    def associations(self, request: Request) -> Response:
        """v4: POST /crm/v4/associations/deal/contact/batch/read."""
        inputs = (request.json() or {}).get("inputs", [])
        if len(inputs) > 1000:
            return self._validation("at most 1000 inputs")
        results = []
        for item in inputs:
            deal = self.deals.get(str(item["id"]))
            if deal and deal["_contacts"]:
                results.append(
                    {
                        "from": {"id": deal["id"]},
                        "to": [
                            {
                                "toObjectId": int(cid),
                                "associationTypes": [
                                    {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
                                ],
                            }
                            for cid in deal["_contacts"]
                        ],
                    }
                )
        return Response(200, {"status": "COMPLETE", "results": results})

    def batch_upsert(self, request: Request) -> Response:
        data = request.json() or {}
        inputs = data.get("inputs", [])
        if len(inputs) > self.batch_max:
            return self._validation(f"at most {self.batch_max} inputs")
        results = []
        for item in inputs:
            if item.get("idProperty") != "email":
                return self._validation("idProperty must be a unique property (email)")
            email = str(item["id"]).lower()
            properties = {k: str(v) for k, v in item.get("properties", {}).items()}
            self.upserted.append((email, dict(properties)))
            contact = self.contact_by_email(email)
            if contact is None:
                contact = self.add_contact(email, **properties)
                results.append({**self._public(contact, None, []), "new": True})
            else:
                ms = max(_ms(), contact["_modified"] + 1)
                contact["properties"].update(properties)
                contact["properties"]["lastmodifieddate"] = _iso(ms)
                contact["updatedAt"] = _iso(ms)
                contact["_modified"] = ms
                results.append({**self._public(contact, None, []), "new": False})
        return Response(200, {"status": "COMPLETE", "results": results})

    def list_forms(self, request: Request) -> Response:
        return Response(200, {"results": list(self.forms.values())})

    def list_submissions(self, request: Request, guid: str) -> Response:
        if guid not in self.forms:
            return Response(404, {"status": "error", "message": "form not found"})
        limit = int(request.arg("limit", "20"))
        if limit > self.submissions_max:
            return self._validation(f"limit must be at most {self.submissions_max}")
        # Newest first, like HubSpot; the cursor is an offset it keeps opaque.
        items = sorted(self.submissions[guid], key=lambda s: -s["submittedAt"])
        offset = int(request.arg("after") or 0)
        body: dict[str, Any] = {"results": items[offset : offset + limit]}
        if offset + limit < len(items):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, body)


def webhook_body(events: list[dict]) -> bytes:
    """A webhooks-API delivery: a JSON array of events."""
    import json

    return json.dumps(events).encode()
