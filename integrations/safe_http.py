"""Outbound HTTP to URLs that tenants typed (connector base URLs, webhook endpoints),
without letting them reach our own network (SSRF).

``safe_request(method, url, body=, headers=, timeout=, max_body=)`` is the one way the
integrations app calls out (integrations/http.py for the connectors,
integrations/webhooks_out.py for the outbound webhooks):

- the URL is checked first (``check_url``): http(s) only (plain http only where private
  addresses are allowed), no credentials in it, no private IP literal and no
  ``localhost`` / ``*.local`` / ``*.internal`` / ``*.localhost`` name;
- the host name is **resolved once**; every address it resolves to must be global
  (``ipaddress.is_global``: no loopback, RFC 1918, link-local — the cloud metadata
  service at 169.254.169.254 —, CGNAT, unique-local…), otherwise the call is refused;
- the connection is made **to the vetted address**, with the name kept for the ``Host``
  header and, over TLS, for SNI and the certificate check: a DNS answer that changes
  between the check and the connection (DNS rebinding) cannot move the call;
- redirects are **never followed** (a 3xx is the answer), so an ``Authorization`` header
  never travels to another host; no proxy from the environment is used.

Private addresses are allowed when ``settings.INTEGRATIONS_ALLOW_PRIVATE_URLS`` is set,
or in DEBUG and the tests (the fake vendors listen on 127.0.0.1).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

from django.conf import settings

MAX_BODY = 20 * 1024 * 1024
PRIVATE_SUFFIXES = (".local", ".internal", ".localhost", ".home.arpa")


class UnsafeURL(ValueError):
    """The URL may not be called (scheme, credentials, private host or address)."""


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def allow_private() -> bool:
    return bool(
        getattr(settings, "INTEGRATIONS_ALLOW_PRIVATE_URLS", False)
        or settings.DEBUG
        or getattr(settings, "TESTING", False)
    )


def private_host_name(host: str) -> bool:
    """A private IP literal, or a name that only means something inside a network."""
    host = (host or "").strip().lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(PRIVATE_SUFFIXES) or "." not in host
    return not address.is_global


def check_url(url: str, *, private: bool | None = None) -> urllib.parse.SplitResult:
    """The parsed URL, or ``UnsafeURL`` (no resolution here)."""
    private = allow_private() if private is None else private
    parsed = urllib.parse.urlsplit(url or "")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise UnsafeURL("an https:// URL is required")
    if parsed.scheme == "http" and not private:
        raise UnsafeURL("an https:// URL is required")
    if parsed.username or parsed.password or "@" in parsed.netloc:
        raise UnsafeURL("credentials in the URL are not allowed")
    try:
        parsed.port  # noqa: B018 (raises on a bad port)
    except ValueError as error:
        raise UnsafeURL("the URL's port is invalid") from error
    if not private and private_host_name(parsed.hostname):
        raise UnsafeURL("this address is not reachable from the Internet")
    return parsed


def resolve(host: str, port: int, *, private: bool | None = None) -> list[str]:
    """The addresses to connect to, each vetted; ``UnsafeURL`` when one is not global
    (all of them are checked: a name that also resolves to a private address is out),
    ``OSError`` when the name does not resolve."""
    private = allow_private() if private is None else private
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = info[4][0]
        if not private and not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
            raise UnsafeURL("the URL resolves to a private address")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"{host} does not resolve")
    return addresses


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as error:
            last = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to vetted addresses; ``host`` stays the name (Host header)."""

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to vetted addresses, with the name for SNI and the certificate check."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: list[str],
        timeout: float,
        context: ssl.SSLContext | None = None,
    ):
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def safe_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
    max_body: int = MAX_BODY,
    context: ssl.SSLContext | None = None,
) -> RawResponse:
    """One request, no redirect followed. Raises ``UnsafeURL`` (refused before any
    connection) or ``OSError`` (network, TLS, protocol errors; ``TimeoutError``)."""
    private = allow_private()
    parsed = check_url(url, private=private)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = resolve(host, port, private=private)
    if parsed.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
            host, port, addresses=addresses, timeout=timeout, context=context
        )
    else:
        connection = _PinnedHTTPConnection(host, port, addresses=addresses, timeout=timeout)
    target = parsed.path or "/"
    if parsed.query:
        target += "?" + parsed.query
    try:
        connection.request(method.upper(), target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read(max_body)
        return RawResponse(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=data,
        )
    except http.client.HTTPException as error:  # a broken answer: a network failure
        raise ConnectionError(f"{type(error).__name__}: {error}") from error
    finally:
        connection.close()
