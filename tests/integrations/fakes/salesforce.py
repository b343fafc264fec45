"""A fake Salesforce (REST API, as documented on developer.salesforce.com):

- OAuth 2.0 client-credentials flow: ``POST /services/oauth2/token`` (form-encoded)
  → ``{"access_token", "instance_url", "token_type": "Bearer", …}``; a bad or expired
  token gets 401 ``[{"errorCode": "INVALID_SESSION_ID"}]`` (``expire_tokens()``);
- SOQL: ``GET /services/data/vXX.X/query?q=…`` → ``{"totalSize", "done", "records",
  "nextRecordsUrl"}``, then ``GET <nextRecordsUrl>`` (page size 2,000, smaller in tests);
  the WHERE clause understands what the connector sends: ``=``, ``!=``, ``>=``, ``>``,
  ``<``, ``IN (…)``, ``AND``, date-time literals, ``true``/``false``/``null``;
- sObject collections: ``POST /services/data/vXX.X/composite/sobjects`` (create) and
  ``PATCH`` (update, records with ``id``), at most 200 records per request, one result
  per record (``success``, ``errors``: REQUIRED_FIELD_MISSING, CANNOT_UPDATE_CONVERTED_LEAD…);
- limits: Salesforce counts API requests per 24 h and answers **403
  ``REQUEST_LIMIT_EXCEEDED``** beyond (not 429), with ``Sforce-Limit-Info:
  api-usage=n/limit`` on every answer. The fake's window is configurable so a test can
  exhaust it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from . import FakeServer, Request, Response

CLIENT_ID = "3MVG9fake.client.id"
CLIENT_SECRET = "salesforce-client-secret"
API = "v60.0"
PREFIX = {"Lead": "00Q", "Contact": "003", "Opportunity": "006", "Account": "001"}
REQUIRED = {
    "Lead": ("LastName", "Company"),
    "Contact": ("LastName",),
    "Opportunity": ("Name", "StageName", "CloseDate"),
}


def _sf_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def _parse_sf_time(text: str) -> datetime:
    text = text.replace("+0000", "+00:00").replace("Z", "+00:00")
    return datetime.fromisoformat(text)


class FakeSalesforce(FakeServer):
    limit = 100_000
    window = 24 * 3600.0
    page_size = 2000
    collection_max = 200

    def __init__(self, *, page_size: int | None = None, **kwargs: Any) -> None:
        self.records: dict[str, dict[str, dict]] = {name: {} for name in PREFIX}
        self.tokens: set[str] = set()
        self.token_calls = 0
        self._ids = itertools.count(1)
        self._locators: dict[str, list[dict]] = {}
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        if page_size:
            self.page_size = page_size
        super().__init__(**kwargs)

    # --- Test helpers -----------------------------------------------------------------

    def _tick(self) -> datetime:
        # Every write a little later than the one before (LastModifiedDate is ordered).
        self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(UTC))
        return self._clock

    def create(self, sobject: str, **fields: Any) -> dict:
        at = self._tick()
        record_id = f"{PREFIX[sobject]}{next(self._ids):012d}AAA"
        record = {"Id": record_id, "CreatedDate": _sf_time(at), "LastModifiedDate": _sf_time(at)}
        if sobject == "Lead":
            record.update(
                {
                    "IsConverted": False,
                    "ConvertedOpportunityId": None,
                    "ConvertedContactId": None,
                    "Status": "Open - Not Contacted",
                }
            )
        record.update(fields)
        if sobject == "Opportunity":
            self._derive(record)
        self.records[sobject][record_id] = record
        return record

    @staticmethod
    def _derive(opportunity: dict) -> None:
        stage = opportunity.get("StageName") or ""
        opportunity["IsWon"] = stage == "Closed Won"
        opportunity["IsClosed"] = stage in ("Closed Won", "Closed Lost")

    def update(self, sobject: str, record_id: str, **fields: Any) -> dict:
        record = self.records[sobject][record_id]
        record.update(fields)
        record["LastModifiedDate"] = _sf_time(self._tick())
        if sobject == "Opportunity":
            self._derive(record)
        return record

    def convert_lead(
        self, lead_id: str, *, amount: float, stage: str = "Prospecting", name: str | None = None
    ) -> dict:
        """What "Convert" does in Salesforce: an account, a contact, an opportunity, and
        the lead marked converted with their ids."""
        lead = self.records["Lead"][lead_id]
        account = self.create("Account", Name=lead.get("Company") or "Account")
        contact = self.create(
            "Contact",
            FirstName=lead.get("FirstName"),
            LastName=lead["LastName"],
            Email=lead.get("Email"),
            AccountId=account["Id"],
        )
        opportunity = self.create(
            "Opportunity",
            Name=name or f"{lead.get('Company')} - opportunity",
            Amount=amount,
            StageName=stage,
            CloseDate=(datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
            AccountId=account["Id"],
            ContactId=contact["Id"],
        )
        self.update(
            "Lead",
            lead_id,
            IsConverted=True,
            Status="Closed - Converted",
            ConvertedOpportunityId=opportunity["Id"],
            ConvertedContactId=contact["Id"],
            ConvertedAccountId=account["Id"],
        )
        return opportunity

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def leads_by_email(self, email: str) -> list[dict]:
        return [
            r
            for r in self.records["Lead"].values()
            if (r.get("Email") or "").lower() == email.lower()
        ]

    # --- Plumbing ---------------------------------------------------------------------

    def rate_limited_path(self, request: Request) -> bool:
        return not request.path.startswith("/services/oauth2/")

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            {"Sforce-Limit-Info": f"api-usage={self.rate.limit}/{self.rate.limit}"},
        )

    def authorized(self, request: Request) -> Response | None:
        if request.path.startswith("/services/oauth2/"):
            return None
        header = request.header("Authorization")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return Response(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        return None

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        if response.status != 403 and not request.path.startswith("/services/oauth2/"):
            used = len(self.rate._hits)
            response.headers.setdefault("Sforce-Limit-Info", f"api-usage={used}/{self.rate.limit}")
        return response

    def routes(self) -> None:
        self.route("POST", r"/services/oauth2/token", self.token)
        self.route("GET", rf"/services/data/{API}/query/?", self.query)
        self.route("GET", rf"/services/data/{API}/query/(?P<locator>[\w-]+)", self.more)
        self.route("POST", rf"/services/data/{API}/composite/sobjects", self.collection_create)
        self.route("PATCH", rf"/services/data/{API}/composite/sobjects", self.collection_update)
        self.route(
            "GET",
            rf"/services/data/{API}/limits",
            lambda request: Response(
                200,
                {
                    "DailyApiRequests": {
                        "Max": self.rate.limit,
                        "Remaining": self.rate.limit - len(self.rate._hits),
                    }
                },
            ),
        )

    # --- OAuth ---------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        self.token_calls += 1
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
        ):
            return Response(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        token = f"00Dfake!{uuid.uuid4().hex}"
        self.tokens.add(token)
        return Response(
            200,
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/00Dfake/005fake",
                "token_type": "Bearer",
                "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)),
                "signature": "fake",
            },
        )

    # --- SOQL ------------------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        soql = request.arg("q") or ""
        try:
            records = self._run(soql)
        except ValueError as error:
            return Response(400, [{"message": str(error), "errorCode": "MALFORMED_QUERY"}])
        return self._page(records)

    def more(self, request: Request, locator: str) -> Response:
        if locator not in self._locators:
            return Response(
                400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
            )
        return self._page(self._locators.pop(locator), total=None)

    def _page(self, records: list[dict], total: int | None = None) -> Response:
        page, rest = records[: self.page_size], records[self.page_size :]
        body: dict[str, Any] = {
            "totalSize": len(records) if total is None else total,
            "done": not rest,
            "records": page,
        }
        if rest:
            locator = f"01g{uuid.uuid4().hex[:12]}-{self.page_size}"
            self._locators[locator] = rest
            body["nextRecordsUrl"] = f"/services/data/{API}/query/{locator}"
        return Response(200, body)

    _SELECT = re.compile(
        r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)"
        r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
        r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
        re.IGNORECASE | re.DOTALL,
    )
    _CONDITION = re.compile(
        r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|=|>|<|\bIN\b)\s*(?P<value>\(.*?\)|'(?:[^'\\]|\\.)*'|[\w:.+-]+)\s*$",
        re.IGNORECASE | re.DOTALL,
    )

    def _literal(self, text: str) -> Any:
        text = text.strip()
        if text.startswith("'"):
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
            return _parse_sf_time(text)
        try:
            return float(text)
        except ValueError as error:
            raise ValueError(f"unexpected literal {text}") from error

    @staticmethod
    def _comparable(value: Any) -> Any:
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
            return _parse_sf_time(value)
        return value

    def _run(self, soql: str) -> list[dict]:
        match = self._SELECT.match(soql)
        if not match:
            raise ValueError("unexpected SOQL")
        sobject = match["sobject"]
        if sobject not in self.records:
            raise ValueError(f"sObject type '{sobject}' is not supported")
        fields = [f.strip() for f in match["fields"].split(",")]
        rows = list(self.records[sobject].values())
        if match["where"]:
            for part in re.split(r"\s+AND\s+", match["where"], flags=re.IGNORECASE):
                condition = self._CONDITION.match(part)
                if not condition:
                    raise ValueError(f"unexpected condition {part}")
                name, op = condition["field"], condition["op"].upper()
                raw = condition["value"]
                if op == "IN":
                    values = {self._literal(v) for v in re.findall(r"'(?:[^'\\]|\\.)*'", raw)}
                    if name == "Email":  # Salesforce compares e-mails case-insensitively
                        values = {v.lower() for v in values}
                        rows = [r for r in rows if (r.get(name) or "").lower() in values]
                    else:
                        rows = [r for r in rows if r.get(name) in values]
                    continue
                value = self._literal(raw)

                def test(row, name=name, op=op, value=value):
                    have = self._comparable(row.get(name))
                    if isinstance(have, str) and isinstance(value, str) and name == "Email":
                        have, value_ = have.lower(), value.lower()
                    else:
                        value_ = value
                    if op == "=":
                        return have == value_
                    if op == "!=":
                        return have != value_
                    if have is None:
                        return False
                    return {
                        ">=": have >= value_,
                        ">": have > value_,
                        "<": have < value_,
                        "<=": have <= value_,
                    }[op]

                rows = [r for r in rows if test(r)]
        if match["order"]:
            keys = [k.strip().split()[0] for k in match["order"].split(",")]
            rows.sort(key=lambda r: tuple(str(r.get(k) or "") for k in keys))
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        return [
            {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/{API}/sobjects/{sobject}/{r['Id']}",
                },
                **{f: r.get(f) for f in fields},
            }
            for r in rows
        ]

    # --- Collections -------------------------------------------------------------------------

    def _too_many(self, records: list) -> Response | None:
        if len(records) > self.collection_max:
            return Response(
                400,
                [
                    {
                        "message": f"Record limit exceeded: at most {self.collection_max}",
                        "errorCode": "EXCEEDED_ID_LIMIT",
                    }
                ],
            )
        return None

    def collection_create(self, request: Request) -> Response:
        data = request.json() or {}
        records = data.get("records") or []
        refused = self._too_many(records)
        if refused:
            return refused
        results = []
        for record in records:
            sobject = (record.get("attributes") or {}).get("type")
            fields = {k: v for k, v in record.items() if k != "attributes"}
            missing = [f for f in REQUIRED.get(sobject, ()) if not fields.get(f)]
            if sobject not in self.records or missing:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "REQUIRED_FIELD_MISSING",
                                "message": f"Required fields are missing: {missing}",
                                "fields": missing,
                            }
                        ],
                    }
                )
                continue
            created = self.create(sobject, **fields)
            results.append({"id": created["Id"], "success": True, "errors": []})
        return Response(200, results)

    def collection_update(self, request: Request) -> Response:
        data = request.json() or {}
        records = data.get("records") or []
        refused = self._too_many(records)
        if refused:
            return refused
        results = []
        for record in records:
            sobject = (record.get("attributes") or {}).get("type")
            record_id = record.get("id") or record.get("Id")
            existing = self.records.get(sobject, {}).get(record_id)
            if existing is None:
                results.append(
                    {
                        "id": record_id,
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "ENTITY_IS_DELETED",
                                "message": "entity is deleted",
                                "fields": [],
                            }
                        ],
                    }
                )
                continue
            if sobject == "Lead" and existing.get("IsConverted"):
                results.append(
                    {
                        "id": record_id,
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                "message": "cannot reference converted lead",
                                "fields": [],
                            }
                        ],
                    }
                )
                continue
            fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
            self.update(sobject, record_id, **fields)
            results.append({"id": record_id, "success": True, "errors": []})
        return Response(200, results)
