"""Verification of inbound vendor requests: pure functions, plus one small replay guard.

HubSpot signs its webhooks (v3, below). ActiveCampaign signs nothing: its webhooks are
authenticated by an unguessable token in the URL we give it, compared in constant time.

HubSpot v3 (developers.hubspot.com, "Validating requests"):

- ``X-HubSpot-Request-Timestamp``: milliseconds since the epoch; a request whose
  timestamp is more than 5 minutes old is refused;
- ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(key = the app's client secret,
  message = method + URI + body + timestamp)), UTF-8; the URI is the full URL the
  request was sent to (scheme and host included) with a few percent-encoded characters
  decoded (the table in ``HUBSPOT_URI_DECODE``);
- the comparison is constant-time.

A valid request can still be captured and replayed inside the 5-minute window: the
inbound view (integrations/inbound.py) keeps a receipt per request digest (body and
signature headers) and refuses the second one with 409; and every event is ingested
idempotently on its vendor id anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

HUBSPOT_TOLERANCE_MS = 5 * 60 * 1000
# A little clock skew the other way (a timestamp slightly in the future) is tolerated;
# more than that is as suspicious as a stale one.
HUBSPOT_FUTURE_SKEW_MS = 60 * 1000
# The percent-encoded characters HubSpot decodes before signing the URI (its docs' table).
HUBSPOT_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class SignatureError(Exception):
    """A request that must be refused: ``code`` is ``missing_signature``,
    ``stale_timestamp``, ``bad_signature`` or ``replayed``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


# --- HubSpot v3 -----------------------------------------------------------------------


def hubspot_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded (either case)."""
    out = []
    i = 0
    while i < len(uri):
        chunk = uri[i : i + 3].upper()
        if uri[i] == "%" and chunk in HUBSPOT_URI_DECODE:
            out.append(HUBSPOT_URI_DECODE[chunk])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def hubspot_v3_signature(
    *, secret: str, method: str, uri: str, body: bytes | str, timestamp: str
) -> str:
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp)), all UTF-8; the body
    is signed as the bytes received."""
    if isinstance(body, str):
        body = body.encode()
    message = f"{method.upper()}{hubspot_uri(uri)}".encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # plain dicts in tests; Django's HttpHeaders is case-insensitive
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), "")
    return (value or "").strip()


def verify_hubspot_v3(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now_ms: int | None = None,
) -> tuple[str, int]:
    """Check a HubSpot v3 signature; returns (signature, timestamp in ms).

    Raises ``SignatureError`` for a missing header, a timestamp older than 5 minutes
    (or more than a minute ahead), or a signature that does not match."""
    signature = _header(headers, "X-HubSpot-Signature-v3")
    raw_timestamp = _header(headers, "X-HubSpot-Request-Timestamp")
    if not signature or not raw_timestamp:
        raise SignatureError(
            "missing_signature",
            "X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required.",
        )
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError("bad_signature", "The timestamp is not a number.") from None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if now_ms - timestamp > HUBSPOT_TOLERANCE_MS or timestamp - now_ms > HUBSPOT_FUTURE_SKEW_MS:
        raise SignatureError("stale_timestamp", "The request timestamp is more than 5 minutes old.")
    expected = hubspot_v3_signature(
        secret=secret, method=method, uri=uri, body=body, timestamp=raw_timestamp
    )
    if not constant_time_equals(expected, signature):
        raise SignatureError("bad_signature", "The signature does not match.")
    return signature, timestamp


# --- Tokens in URLs (ActiveCampaign and other unsigned senders) -----------------------


def verify_url_token(*, expected: str, given: str) -> None:
    """An unsigned sender proves itself with the secret token in its URL."""
    if not expected or not given or not constant_time_equals(expected, given):
        raise SignatureError("bad_signature", "Unknown or wrong token.")
