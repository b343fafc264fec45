"""Signature checks of inbound vendor requests, with known-answer vectors.

The HubSpot v3 vectors below were computed by hand from HubSpot's documented algorithm
(base64 of HMAC-SHA256, key = client secret, message = method + URI + body +
timestamp), independently of integrations/signatures.py; the end-to-end tests post
through ``/connect/<key>/`` and check that stale and replayed requests are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from integrations.models import ConnectionLog
from integrations.signatures import (
    SignatureError,
    hubspot_uri,
    hubspot_v3_signature,
    verify_hubspot_v3,
    verify_url_token,
)
from smarketing.tenancy.db import tenant_context

from .fakes.connections import connect, hubspot_headers
from .fakes.hubspot import CLIENT_SECRET, TOKEN

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
BODY = b'{"example_field":"example_value"}'
TIMESTAMP = "1700000000000"
# base64(HMAC-SHA256(SECRET, "POST" + "https://www.example.com/webhook_uri" + BODY + TIMESTAMP))
VECTOR_POST = "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o="
# The same for a GET whose query string HubSpot signs decoded (%3A → :, %2F → /, %40 → @).
VECTOR_GET = "VCXXRmIFfayYnTTKAmAENEDPVKn8RI73esQz3Nbopbk="


def by_hand(secret: str, message: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    ).decode()


def headers(signature: str, timestamp: str = TIMESTAMP) -> dict:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


NOW_MS = int(TIMESTAMP) + 1000


def test_known_answer_vectors():
    assert (
        by_hand(SECRET, "POSThttps://www.example.com/webhook_uri" + BODY.decode() + TIMESTAMP)
        == VECTOR_POST
    )
    assert (
        hubspot_v3_signature(
            secret=SECRET,
            method="POST",
            uri="https://www.example.com/webhook_uri",
            body=BODY,
            timestamp=TIMESTAMP,
        )
        == VECTOR_POST
    )
    assert (
        hubspot_v3_signature(
            secret=SECRET,
            method="GET",
            uri="https://www.example.com/webhook_uri?a=b%3Ac%2Fd%40e",
            body=b"",
            timestamp=TIMESTAMP,
        )
        == VECTOR_GET
    )


def test_uri_decoding_follows_hubspots_table():
    assert (
        hubspot_uri("https://x.fr/p?q=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B")
        == "https://x.fr/p?q=:/?@!$'()*,;"
    )
    # Other escapes are signed as sent.
    assert hubspot_uri("https://x.fr/p?q=a%20b%26c") == "https://x.fr/p?q=a%20b%26c"


def test_a_valid_request_passes():
    signature, timestamp = verify_hubspot_v3(
        secret=SECRET,
        method="POST",
        uri="https://www.example.com/webhook_uri",
        body=BODY,
        headers=headers(VECTOR_POST),
        now_ms=NOW_MS,
    )
    assert (signature, timestamp) == (VECTOR_POST, int(TIMESTAMP))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"body": b'{"example_field":"other_value"}'}, "bad_signature"),
        ({"uri": "https://www.example.com/other_uri"}, "bad_signature"),
        ({"method": "PUT"}, "bad_signature"),
        ({"secret": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}, "bad_signature"),
        ({"headers": headers(VECTOR_POST, str(int(TIMESTAMP) + 1))}, "bad_signature"),
        ({"headers": headers(VECTOR_POST[:-4] + "AAA=")}, "bad_signature"),
        ({"headers": {"X-HubSpot-Request-Timestamp": TIMESTAMP}}, "missing_signature"),
        ({"headers": {"X-HubSpot-Signature-v3": VECTOR_POST}}, "missing_signature"),
        ({"headers": headers(VECTOR_POST, "not-a-number")}, "bad_signature"),
        # Older than 5 minutes (by one millisecond), or too far in the future.
        ({"now_ms": int(TIMESTAMP) + 5 * 60 * 1000 + 1}, "stale_timestamp"),
        ({"now_ms": int(TIMESTAMP) - 61 * 1000}, "stale_timestamp"),
    ],
)
def test_refusals(change, code):
    arguments = {
        "secret": SECRET,
        "method": "POST",
        "uri": "https://www.example.com/webhook_uri",
        "body": BODY,
        "headers": headers(VECTOR_POST),
        "now_ms": NOW_MS,
        **change,
    }
    with pytest.raises(SignatureError) as refused:
        verify_hubspot_v3(**arguments)
    assert refused.value.code == code


def test_exactly_five_minutes_old_is_still_accepted():
    verify_hubspot_v3(
        secret=SECRET,
        method="POST",
        uri="https://www.example.com/webhook_uri",
        body=BODY,
        headers=headers(VECTOR_POST),
        now_ms=int(TIMESTAMP) + 5 * 60 * 1000,
    )


def test_header_names_are_case_insensitive():
    lowered = {k.lower(): v for k, v in headers(VECTOR_POST).items()}
    verify_hubspot_v3(
        secret=SECRET,
        method="POST",
        uri="https://www.example.com/webhook_uri",
        body=BODY,
        headers=lowered,
        now_ms=NOW_MS,
    )


def test_url_tokens_compare_in_constant_time_and_refuse_empty():
    verify_url_token(expected="s3cr3t-token", given="s3cr3t-token")
    for given in ("", "s3cr3t-tokeN", "s3cr3t"):
        with pytest.raises(SignatureError):
            verify_url_token(expected="s3cr3t-token", given=given)
    with pytest.raises(SignatureError):
        verify_url_token(expected="", given="")


# --- Through the public view ------------------------------------------------------------------


@pytest.fixture
def hubspot(trio):
    return connect(
        trio.alpha,
        "hubspot",
        base_url="http://127.0.0.1:9",
        credentials={"access_token": TOKEN, "client_secret": CLIENT_SECRET},
    )


def post(client, connection, body: bytes, hdrs: dict):
    return client.post(
        f"/connect/{connection.webhook_key}/",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in hdrs.items() if k != "Content-Type"},
    )


def form_body(ts: int) -> bytes:
    return json.dumps(
        {
            "properties": {"email": {"value": "sig@exemple.fr"}},
            "form-submissions": [{"form-id": "f-1", "timestamp": ts}],
        }
    ).encode()


def test_the_view_accepts_a_signed_request_and_refuses_its_replay(client, hubspot):
    body = form_body(int(time.time() * 1000))
    url = f"http://testserver/connect/{hubspot.webhook_key}/"
    signed = hubspot_headers(CLIENT_SECRET, "POST", url, body)
    first = post(client, hubspot, body, signed)
    assert first.status_code == 202, first.content
    assert first.json() == {"accepted": 1, "duplicates": 0}
    again = post(client, hubspot, body, signed)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "replayed"


def test_the_view_refuses_stale_and_forged_requests(client, hubspot, trio):
    body = form_body(int(time.time() * 1000))
    url = f"http://testserver/connect/{hubspot.webhook_key}/"
    stale = hubspot_headers(
        CLIENT_SECRET, "POST", url, body, int(time.time() * 1000) - 6 * 60 * 1000
    )
    response = post(client, hubspot, body, stale)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    forged = hubspot_headers("not-the-secret", "POST", url, body)
    response = post(client, hubspot, body, forged)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "bad_signature")
    # Signed for another URL (another connection's): refused too.
    other = hubspot_headers(CLIENT_SECRET, "POST", "http://testserver/connect/other/", body)
    assert post(client, hubspot, body, other).status_code == 401
    with tenant_context(trio.alpha.pk):
        assert ConnectionLog.objects.for_org(trio.alpha).filter(kind="webhook").count() == 3


def test_an_unknown_key_is_404(client, db):
    assert (
        client.post(
            "/connect/unknown-key/", data=b"[]", content_type="application/json"
        ).status_code
        == 404
    )
