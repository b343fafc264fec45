"""A fake Marketo (REST API, developers.marketo.com):

- identity: ``GET /identity/oauth/token?grant_type=client_credentials&client_id=
  &client_secret=`` → ``{"access_token", "token_type": "bearer", "expires_in"}``;
- REST answers are HTTP 200 with ``{"requestId", "success", "result", "errors":
  [{"code", "message"}]}``: 601 (token invalid), 602 (token expired), 1003 (bad
  value, e.g. ``batchSize`` > 300), and **606 when more than 100 calls were made in 20
  seconds** — Marketo's rate-limit answer is not a 429;
- activities: ``GET /rest/v1/activities/pagingtoken.json?sinceDatetime=`` gives a
  ``nextPageToken``; ``GET /rest/v1/activities.json?nextPageToken=&activityTypeIds=
  &batchSize=`` pages with ``nextPageToken`` / ``moreResult``;
- leads: ``GET /rest/v1/leads.json?filterType=id&filterValues=…&fields=…`` (≤ 300 values).
"""

from __future__ import annotations

import base64
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from . import FakeServer, Request, Response

CLIENT_ID = "marketo-client-id"
CLIENT_SECRET = "marketo-client-secret"
BATCH_MAX = 300


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode()


def _position(token: str) -> int:
    return int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1])


class FakeMarketo(FakeServer):
    limit = 100
    window = 20.0

    def __init__(self, **kwargs: Any) -> None:
        self.leads: dict[int, dict] = {}
        self.activities: list[dict] = []
        self.tokens: set[str] = set()
        self.token_calls = 0
        self._lead_ids = itertools.count(1)
        self._activity_ids = itertools.count(5001)
        super().__init__(**kwargs)

    # --- Test helpers -----------------------------------------------------------------

    def add_lead(self, email: str, **fields: Any) -> dict:
        lead_id = next(self._lead_ids)
        now = datetime.now(UTC)
        lead = {
            "id": lead_id,
            "email": email,
            "createdAt": _iso(now),
            "updatedAt": _iso(now),
            **fields,
        }
        self.leads[lead_id] = lead
        return lead

    def add_activity(
        self,
        lead_id: int,
        type_id: int,
        *,
        at: datetime | None = None,
        primary: str = "",
        primary_id=None,
        **attributes,
    ) -> dict:
        activity_id = next(self._activity_ids)
        activity = {
            "id": activity_id,
            "marketoGUID": str(activity_id),
            "leadId": lead_id,
            "activityDate": _iso(at or datetime.now(UTC) - timedelta(minutes=5)),
            "activityTypeId": type_id,
            "primaryAttributeValueId": primary_id,
            "primaryAttributeValue": primary,
            "attributes": [
                {"name": k.replace("_", " "), "value": v} for k, v in attributes.items()
            ],
        }
        self.activities.append(activity)
        return activity

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # --- Plumbing ---------------------------------------------------------------------

    def _error(self, code: str, message: str) -> Response:
        return Response(
            200,
            {
                "requestId": uuid.uuid4().hex[:8],
                "success": False,
                "errors": [{"code": code, "message": message}],
            },
        )

    def _ok(self, **fields: Any) -> Response:
        return Response(200, {"requestId": uuid.uuid4().hex[:8], "success": True, **fields})

    def rate_limited_path(self, request: Request) -> bool:
        return not request.path.startswith("/identity/")

    def limited(self, request: Request, retry_after: float) -> Response:
        return self._error(
            "606",
            f"Max rate limit '{self.rate.limit}' exceeded with in '{int(self.rate.window)}' secs",
        )

    def authorized(self, request: Request) -> Response | None:
        if request.path.startswith("/identity/"):
            return None
        header = request.header("Authorization")
        token = header[7:] if header.startswith("Bearer ") else request.arg("access_token", "")
        if token not in self.tokens:
            return self._error("601", "Access token invalid")
        return None

    def routes(self) -> None:
        self.route("GET", r"/identity/oauth/token", self.token)
        self.route("GET", r"/rest/v1/activities/pagingtoken\.json", self.paging_token)
        self.route("GET", r"/rest/v1/activities\.json", self.list_activities)
        self.route("GET", r"/rest/v1/leads\.json", self.list_leads)

    def token(self, request: Request) -> Response:
        self.token_calls += 1
        if (request.arg("grant_type"), request.arg("client_id"), request.arg("client_secret")) != (
            "client_credentials",
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            return Response(
                401, {"error": "unauthorized", "error_description": "Bad client credentials"}
            )
        token = f"{uuid.uuid4()}:ab"
        self.tokens.add(token)
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 3599,
                "scope": "api@example.com",
            },
        )

    def paging_token(self, request: Request) -> Response:
        since = request.arg("sinceDatetime")
        if not since:
            return self._error("1003", "sinceDatetime is required")
        at = datetime.fromisoformat(since.replace("Z", "+00:00"))
        ordered = sorted(self.activities, key=lambda a: a["id"])
        position = next(
            (i for i, a in enumerate(ordered) if a["activityDate"] >= _iso(at)), len(ordered)
        )
        return self._ok(nextPageToken=_token(position))

    def list_activities(self, request: Request) -> Response:
        token = request.arg("nextPageToken")
        types = {int(t) for t in (request.arg("activityTypeIds") or "").split(",") if t}
        batch = int(request.arg("batchSize", "300"))
        if not token or not types:
            return self._error("1003", "nextPageToken and activityTypeIds are required")
        if batch > BATCH_MAX:
            return self._error("1003", f"Invalid value for batchSize. Max is {BATCH_MAX}")
        ordered = sorted(self.activities, key=lambda a: a["id"])
        position = _position(token)
        page, cursor = [], position
        while cursor < len(ordered) and len(page) < batch:
            if ordered[cursor]["activityTypeId"] in types:
                page.append(ordered[cursor])
            cursor += 1
        more = cursor < len(ordered)
        fields: dict[str, Any] = {"nextPageToken": _token(cursor), "moreResult": more}
        if page:
            fields["result"] = page
        return self._ok(**fields)

    def list_leads(self, request: Request) -> Response:
        if request.arg("filterType") != "id":
            return self._error("1003", "only filterType=id in this fake")
        values = [v for v in (request.arg("filterValues") or "").split(",") if v]
        if len(values) > BATCH_MAX:
            return self._error("1003", f"filterValues: at most {BATCH_MAX}")
        fields = [f for f in (request.arg("fields") or "email").split(",") if f]
        found = []
        for value in values:
            lead = self.leads.get(int(value))
            if lead:
                found.append({"id": lead["id"], **{f: lead.get(f) for f in fields if f != "id"}})
        return self._ok(result=found, moreResult=False)
