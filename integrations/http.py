"""The HTTP client of the connectors: rate limited across workers, retried, logged.

``ConnectorClient(connection)`` calls the vendor at the connection's base URL
(``connection.settings["base_url"]``, else the connector's ``default_base_url``):

- **Rate limit**: before every call a slot is taken in a sliding window of the
  connector's ``rate_limit`` (requests per seconds) *per connection*, in Redis (a
  sorted set updated by one Lua script, timed by the Redis server's clock, so every
  worker shares it). Without Redis (embedded mode) or while it is unreachable, the
  window lives in the process. A full window waits (up to ``MAX_WAIT`` seconds).
- **Retries**: 429 waits ``Retry-After`` (seconds or an HTTP date; capped at
  ``MAX_RETRY_AFTER``, beyond which the call fails as retryable and the sync resumes at
  its next run); 5xx and network errors back off exponentially with full jitter
  (``BACKOFF_BASE * 2**attempt``, capped at ``BACKOFF_CAP``); at most ``max_attempts``.
  401/403 raise ``AuthError``, other 4xx ``ConnectorError`` at once.
- **Log**: every failed attempt becomes a ``ConnectionLog`` row; they are kept in
  ``client.logs`` and written by ``flush_logs()`` in a transaction of their own (the
  sync calls it), so a rolled-back sync keeps its error log.

**SSRF**: every call goes through ``integrations.safe_http.safe_request``: the host is
resolved once, private addresses are refused (outside DEBUG/tests, unless
``INTEGRATIONS_ALLOW_PRIVATE_URLS``), the connection goes to the vetted address (Host and
SNI kept) and redirects are never followed (a 3xx fails the call).

**Unsafe methods**: a ``POST`` may create something at the vendor. Unless the caller says
it is safe to repeat (``retry_unsafe=True``: a search, a batch read, an upsert by a
natural key), a network error or a 5xx on a POST is not retried here: the call raises a
retryable ``ConnectorError`` at once and the Celery task retries the whole job (which
looks the record up first). 429 is always retried (the vendor did nothing).

Only the standard library (http.client): no HTTP package is installed in the project.
"""

from __future__ import annotations

import contextlib
import email.utils
import json as jsonlib
import logging
import random
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from .connectors.base import AuthError, Connector, ConnectorError, RateLimit
from .safe_http import UnsafeURL, check_url, safe_request

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
MAX_ATTEMPTS = 5
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
MAX_RETRY_AFTER = 120.0
MAX_WAIT = 120.0  # for a rate-limit slot
MAX_BODY = 20 * 1024 * 1024
# Methods that may create something when repeated (see the module docstring).
UNSAFE_METHODS = frozenset({"POST"})
USER_AGENT = "Smarketing-Connector/1.0"


# --- Rate limiting ------------------------------------------------------------------------

_SLIDING_WINDOW = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.floor(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    """Sliding window per key: ``acquire(key, limit)`` blocks until a slot is free."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[str, deque[float]] = {}
        self._redis = None
        self._redis_url: str | None = None
        self._script = None

    def _client(self):
        url = getattr(settings, "REDIS_URL", None)
        if not url:
            return None
        if self._redis is None or self._redis_url != url:
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            self._redis_url = url
            self._script = self._redis.register_script(_SLIDING_WINDOW)
        return self._redis

    def try_acquire(self, key: str, limit: RateLimit) -> float:
        """0 when a slot was taken, else the seconds to wait before trying again."""
        client = self._client()
        if client is not None:
            import redis

            try:
                wait_us = self._script(
                    keys=[f"smarketing:connector:rate:{key}"],
                    args=[limit.requests, int(limit.per_seconds * 1_000_000), uuid.uuid4().hex],
                )
                return int(wait_us) / 1_000_000
            except redis.RedisError as error:
                log.warning("connector rate limit: Redis unavailable, in-process (%s)", error)
        return self._try_local(key, limit)

    def _try_local(self, key: str, limit: RateLimit) -> float:
        now = time.monotonic()
        with self._lock:
            window = self._local.setdefault(key, deque())
            while window and window[0] <= now - limit.per_seconds:
                window.popleft()
            if len(window) < limit.requests:
                window.append(now)
                return 0.0
            return max(0.001, window[0] + limit.per_seconds - now)

    def acquire(
        self,
        key: str,
        limit: RateLimit,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT,
    ) -> float:
        """Wait for a slot; return the seconds waited. Raises ``ConnectorError``
        (retryable) after ``max_wait`` (0: never wait)."""
        waited = 0.0
        while True:
            wait = self.try_acquire(key, limit)
            if not wait:
                return waited
            if waited + wait > max_wait:
                raise ConnectorError("rate limit: no free slot in time", retryable=True)
            sleep(wait)
            waited += wait

    def reset(self, key: str) -> None:
        """Tests."""
        with self._lock:
            self._local.pop(key, None)
        client = self._client()
        if client is not None:
            import redis

            with contextlib.suppress(redis.RedisError):
                client.delete(f"smarketing:connector:rate:{key}")


limiter = RateLimiter()


# --- Responses and the client ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return jsonlib.loads(self.body)
        except ValueError as error:
            raise ConnectorError(f"the answer is not JSON ({self.url})") from error


@dataclass
class PendingLog:
    level: str
    kind: str
    message: str
    method: str = ""
    url: str = ""
    status_code: int | None = None
    duration_ms: int | None = None
    at: datetime = field(default_factory=timezone.now)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt from 0)."""
    return random.uniform(0, min(cap, base * (2**attempt)))  # noqa: S311 (not crypto)


def allowed_base_url(url: str) -> bool:
    """https to a public host name in production (no private IP literal, no
    localhost/.local/.internal name, no credentials in the URL); http and private
    addresses too when DEBUG or testing (fakes on 127.0.0.1) or
    ``INTEGRATIONS_ALLOW_PRIVATE_URLS``. The address it resolves to is checked at each
    call (integrations/safe_http.py)."""
    try:
        check_url(url)
    except UnsafeURL:
        return False
    return True


class ConnectorClient:
    def __init__(
        self,
        connection,
        connector: Connector | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = BACKOFF_BASE,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.connection = connection
        self.connector = connector or connection.connector
        if self.connector is None:
            raise ConnectorError(f"unknown connector {connection.vendor!r}")
        self.limiter = rate_limiter or limiter
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.cache: dict[str, Any] = {}
        self.logs: list[PendingLog] = []
        self.calls = 0
        self.rate_waited = 0.0

    # -- Configuration --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        custom = (self.connection.settings or {}).get("base_url") or ""
        if custom:
            if not allowed_base_url(custom):
                raise ConnectorError("the base URL must be an https URL of a public host")
            return custom.rstrip("/")
        return self.connector.default_base_url.rstrip("/")

    @property
    def rate_key(self) -> str:
        return f"{self.connection.vendor}:{self.connection.pk}"

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        if path.startswith(("http://", "https://")):
            url = path
            if not allowed_base_url(url):
                raise ConnectorError("URLs must be https URLs of a public host")
        else:
            url = f"{self.base_url}/{path.lstrip('/')}"
        if params:
            pairs = []
            for key, value in params.items():
                if value is None:
                    continue
                if isinstance(value, list | tuple):
                    pairs.extend((key, str(v)) for v in value)
                else:
                    pairs.append((key, str(value)))
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(pairs)
        return url

    def save_state(self, **values: Any) -> None:
        """Keep values (tokens…) on the connection across runs, encrypted."""
        from smarketing.tenancy.db import tenant_context

        from .models import Connection

        state = dict(self.connection.state)
        state.update(values)
        self.connection.set_state(state)
        org_id = self.connection.organization_id
        with tenant_context(org_id):  # the sync calls vendors outside any transaction
            Connection.objects.for_org(org_id).filter(pk=self.connection.pk).update(
                state_encrypted=self.connection.state_encrypted
            )

    # -- Calls ------------------------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        ok: Callable[[int], bool] | None = None,
        retry_unsafe: bool = False,
    ) -> Response:
        """One call with rate limiting and retries; returns a 2xx response (or what
        ``ok(status)`` accepts). ``retry_unsafe``: a POST that may be repeated (a read,
        an upsert); other POSTs are not retried here on a network error or a 5xx."""
        method = method.upper()
        repeatable = retry_unsafe or method not in UNSAFE_METHODS
        url = self.url_for(path, params)
        body: bytes | None = None
        base_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            base_headers["Content-Type"] = "application/json"
        elif isinstance(data, bytes):
            body = data
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            base_headers["Content-Type"] = "application/x-www-form-urlencoded"
        accept = ok or (lambda status: 200 <= status < 300)
        last_error: ConnectorError | None = None
        for attempt in range(self.max_attempts):
            call_headers = dict(base_headers)
            if auth:
                call_headers.update(self.connector.auth_headers(self.connection, self))
            call_headers.update(headers or {})
            self.rate_waited += self.limiter.acquire(
                self.rate_key, self.connector.rate_limit, sleep=self.sleep, max_wait=self.max_wait
            )
            started = time.monotonic()
            self.calls += 1
            try:
                response = self._send(method, url, body, call_headers)
            except UnsafeURL as error:
                self._log("error", f"{method} refused: {error}", method, url, None, 0)
                raise ConnectorError(f"the URL is refused: {error}") from error
            except OSError as error:
                elapsed = int((time.monotonic() - started) * 1000)
                reason = getattr(error, "reason", error)
                last_error = ConnectorError(f"network error: {reason}", retryable=True)
                self._log("error", f"{method} failed: {reason}", method, url, None, elapsed)
                if not repeatable:
                    raise last_error from error
                self._backoff(attempt)
                continue
            elapsed = int((time.monotonic() - started) * 1000)
            status = response.status
            if accept(status):
                return response
            snippet = response.text[:300]
            if status == 429:
                wait = parse_retry_after(response.headers.get("retry-after"))
                self._log("warning", f"429 rate limited: {snippet}", method, url, status, elapsed)
                last_error = ConnectorError(
                    "the vendor's rate limit was hit", retryable=True, status=429
                )
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise last_error
                if attempt + 1 < self.max_attempts:
                    self.sleep(wait if wait is not None else self._delay(attempt))
                continue
            if status >= 500:
                self._log("error", f"{status}: {snippet}", method, url, status, elapsed)
                last_error = ConnectorError(
                    f"the vendor answered {status}", retryable=True, status=status
                )
                if not repeatable:
                    raise last_error
                self._backoff(attempt)
                continue
            self._log("error", f"{status}: {snippet}", method, url, status, elapsed)
            if status in (401, 403):
                raise AuthError(
                    f"the vendor refused the credentials ({status}): {snippet}", status=status
                )
            raise ConnectorError(f"the vendor answered {status}: {snippet}", status=status)
        assert last_error is not None
        raise last_error

    def _delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base)

    def _backoff(self, attempt: int) -> None:
        if attempt + 1 < self.max_attempts:
            self.sleep(self._delay(attempt))

    def _send(self, method: str, url: str, body: bytes | None, headers: dict) -> Response:
        raw = safe_request(
            method, url, body=body, headers=headers, timeout=self.timeout, max_body=MAX_BODY
        )
        return Response(status=raw.status, headers=raw.headers, body=raw.body, url=url)

    # -- Log --------------------------------------------------------------------------

    def _log(self, level, message, method="", url="", status=None, duration=None) -> None:
        safe_url = urllib.parse.urlsplit(url)._replace(query="").geturl()[:500]
        self.logs.append(
            PendingLog(
                level=level,
                kind="http",
                message=message[:2000],
                method=method,
                url=safe_url,
                status_code=status,
                duration_ms=duration,
            )
        )

    def note(self, level: str, kind: str, message: str) -> None:
        self.logs.append(PendingLog(level=level, kind=kind, message=message[:2000]))

    def flush_logs(self) -> int:
        """Write the pending log rows (in the connection's tenant)."""
        from smarketing.tenancy.db import tenant_context

        from .models import ConnectionLog

        if not self.logs:
            return 0
        with tenant_context(self.connection.organization_id):
            return self._write_logs(ConnectionLog)

    def _write_logs(self, ConnectionLog) -> int:
        rows = [
            ConnectionLog(
                organization_id=self.connection.organization_id,
                connection_id=self.connection.pk,
                at=entry.at,
                level=entry.level,
                kind=entry.kind,
                message=entry.message,
                method=entry.method,
                url=entry.url,
                status_code=entry.status_code,
                duration_ms=entry.duration_ms,
            )
            for entry in self.logs
        ]
        ConnectionLog.objects.bulk_create(rows)
        self.logs = []
        return len(rows)
