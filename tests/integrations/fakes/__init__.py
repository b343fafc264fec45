"""Fake vendor servers for the connector tests: a real HTTP server on 127.0.0.1 (random
port, one thread per request) that speaks the vendor's documented payloads from an
in-memory store, and refuses requests beyond the vendor's documented rate limit the way
that vendor does (429 for most; Salesforce and Marketo answer differently, see their
modules).

Each fake records the requests it received (``fake.requests``) so tests can check
paging, batch sizes and headers, and can be told to fail the next N requests
(``fake.fail_next(n, status=503)``) to exercise retries.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class RateLimit:
    """A sliding window: at most ``limit`` requests in any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def hit(self, now: float | None = None) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until a slot frees)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._hits and self._hits[0] <= now - self.window:
                self._hits.popleft()
            if len(self._hits) >= self.limit:
                return False, 0, self._hits[0] + self.window - now
            self._hits.append(now)
            return True, self.limit - len(self._hits), 0.0


Route = tuple[str, re.Pattern[str], Callable[..., Response]]


class FakeServer:
    """Base of the fakes: routes, rate limit, recorded requests, injected failures."""

    limit = 100
    window = 10.0

    def __init__(self, *, limit: int | None = None, window: float | None = None) -> None:
        self.rate = RateLimit(limit or self.limit, window or self.window)
        self.requests: list[Request] = []
        self.throttled = 0
        self._failures: deque[int] = deque()
        self._lock = threading.RLock()
        self._routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes()

    # --- To write in subclasses ---------------------------------------------------------

    def routes(self) -> None:
        raise NotImplementedError

    def authorized(self, request: Request) -> Response | None:
        """None when the request's credentials are good, else the vendor's refusal."""
        return None

    def limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429, {"error": "rate limited"}, {"Retry-After": str(max(1, int(retry_after + 0.999)))}
        )

    def rate_limited_path(self, request: Request) -> bool:
        """Whether this request counts against the rate limit (token calls may not)."""
        return True

    # --- Plumbing -------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path))
        ]

    def dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return Response(failure, {"error": "injected failure"})
        if self.rate_limited_path(request):
            allowed, _remaining, retry_after = self.rate.hit()
            if not allowed:
                with self._lock:
                    self.throttled += 1
                return self.limited(request, retry_after)
        refusal = self.authorized(request)
        if refusal is not None:
            return refusal
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                with self._lock:
                    return handler(request, **match.groupdict())
        return Response(404, {"error": f"no route {request.method} {request.path}"})

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                    body=body,
                )
                try:
                    response = fake.dispatch(request)
                except Exception as error:  # a bug in the fake: say so, loudly
                    response = Response(500, {"error": f"fake crashed: {error!r}"})
                payload = response.encoded()
                self.send_response(response.status)
                if payload:
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def new_id(prefix: str, counter: list[int]) -> str:
    counter[0] += 1
    return f"{prefix}{counter[0]}"
