"""A fake Plezi. Plezi's public API documentation is thin; this fake follows what the
connector assumes (docs/integrations.md, "Plezi: assumptions"):

- headers ``X-Tenant-Company`` (the company id) and ``X-API-Key``, else 401
  ``{"errors": [{"status": "401", "title": "Unauthorized"}]}``;
- JSON:API documents: ``{"data": [{"id", "type", "attributes", "relationships"}],
  "included": [...], "links": {"self", "next", "last"}, "meta": {"total_count"}}``,
  pages by ``page[number]`` / ``page[size]`` (≤ 100);
- ``GET /contacts?filter[updated_since]=`` and ``GET /form_submissions?filter[created_since]=
  &include=contact,content`` (a submission's content is what was downloaded);
- a rate limit of 10 requests per second (assumed), 429 with ``Retry-After`` beyond.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from . import FakeServer, Request, Response

COMPANY = "plezi-company-42"
API_KEY = "plezi-api-key-for-tests"
PAGE_MAX = 100


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakePlezi(FakeServer):
    limit = 10
    window = 1.0

    def __init__(self, **kwargs: Any) -> None:
        self.contacts: dict[str, dict] = {}
        self.contents: dict[str, dict] = {}
        self.submissions: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._clock = datetime.now(UTC) - timedelta(hours=3)
        super().__init__(**kwargs)

    def _tick(self) -> datetime:
        self._clock = max(
            self._clock + timedelta(seconds=1), datetime.now(UTC) - timedelta(hours=1)
        )
        return self._clock

    def add_contact(self, email: str, **attributes: Any) -> dict:
        contact_id = f"c{next(self._ids)}"
        at = self._tick()
        contact = {
            "id": contact_id,
            "type": "contacts",
            "attributes": {
                "email": email,
                "created_at": _iso(at),
                "updated_at": _iso(at),
                **attributes,
            },
        }
        self.contacts[contact_id] = contact
        return contact

    def add_content(self, title: str, *, slug: str = "", content_type: str = "white_paper") -> dict:
        content_id = f"k{next(self._ids)}"
        content = {
            "id": content_id,
            "type": "contents",
            "attributes": {
                "title": title,
                "slug": slug,
                "content_type": content_type,
                "url": f"https://www.exemple.fr/{slug or content_id}",
            },
        }
        self.contents[content_id] = content
        return content

    def add_submission(
        self, contact_id: str, *, content_id: str | None = None, form_name: str = "Form"
    ) -> dict:
        submission_id = f"s{next(self._ids)}"
        at = self._tick()
        submission = {
            "id": submission_id,
            "type": "form_submissions",
            "attributes": {"created_at": _iso(at), "form_name": form_name},
            "relationships": {
                "contact": {"data": {"id": contact_id, "type": "contacts"}},
                "content": {"data": {"id": content_id, "type": "contents"} if content_id else None},
            },
        }
        self.submissions[submission_id] = submission
        return submission

    def authorized(self, request: Request) -> Response | None:
        if request.header("X-Tenant-Company") != COMPANY or request.header("X-API-Key") != API_KEY:
            return Response(401, {"errors": [{"status": "401", "title": "Unauthorized"}]})
        return None

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429,
            {"errors": [{"status": "429", "title": "Too Many Requests"}]},
            {"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )

    def routes(self) -> None:
        self.route("GET", r"/api/v1/contacts", self.list_contacts)
        self.route("GET", r"/api/v1/form_submissions", self.list_submissions)

    def _page(
        self, request: Request, items: list[dict], path: str, included: list[dict] | None = None
    ) -> Response:
        number = int(request.arg("page[number]", "1"))
        size = int(request.arg("page[size]", "25"))
        if size > PAGE_MAX:
            return Response(
                400, {"errors": [{"status": "400", "title": f"page[size] is at most {PAGE_MAX}"}]}
            )
        start = (number - 1) * size
        page = items[start : start + size]
        last = max(1, -(-len(items) // size))
        keep = {k: v[0] for k, v in request.query.items() if not k.startswith("page[")}

        def link(n: int) -> str:
            return f"{self.base_url}{path}?" + urlencode(
                {**keep, "page[number]": n, "page[size]": size}
            )

        links = {"self": link(number), "last": link(last)}
        if number < last:
            links["next"] = link(number + 1)
        body: dict[str, Any] = {"data": page, "links": links, "meta": {"total_count": len(items)}}
        if included is not None:
            body["included"] = included
        return Response(200, body, content_type="application/vnd.api+json")

    def list_contacts(self, request: Request) -> Response:
        since = request.arg("filter[updated_since]") or ""
        items = sorted(
            (c for c in self.contacts.values() if c["attributes"]["updated_at"] >= since),
            key=lambda c: (c["attributes"]["updated_at"], c["id"]),
        )
        return self._page(request, items, "/api/v1/contacts")

    def list_submissions(self, request: Request) -> Response:
        since = request.arg("filter[created_since]") or ""
        items = sorted(
            (s for s in self.submissions.values() if s["attributes"]["created_at"] >= since),
            key=lambda s: (s["attributes"]["created_at"], s["id"]),
        )
        response = self._page(request, items, "/api/v1/form_submissions")
        if response.status != 200:
            return response
        included = []
        wanted = (request.arg("include") or "").split(",")
        for submission in response.body["data"]:
            relations = submission["relationships"]
            if "contact" in wanted:
                contact = self.contacts.get(relations["contact"]["data"]["id"])
                if contact and contact not in included:
                    included.append(contact)
            content_ref = relations["content"]["data"]
            if "content" in wanted and content_ref:
                content = self.contents.get(content_ref["id"])
                if content and content not in included:
                    included.append(content)
        response.body["included"] = included
        return response
