"""API authentication, scopes, errors and the schema (SPEC.md §5)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from smarketing.tenancy.models import ApiKey, hash_secret
from smarketing.tenancy.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(trio, as_org):
    with as_org(trio.alpha):
        read, read_secret = api_key_create(
            actor=trio.alice_membership, name="BI", scope=ApiKey.Scope.READ
        )
        rw, rw_secret = api_key_create(
            actor=trio.alice_membership, name="Website", scope=ApiKey.Scope.READ_WRITE
        )
    return read, read_secret, rw, rw_secret


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_key_reaches_its_organization(trio, keys):
    _, read_secret, _, rw_secret = keys
    body = bearer(read_secret).get("/api/v1/organization").json()
    assert body == {
        "id": trio.alpha.pk,
        "slug": "alpha",
        "name": "Alpha",
        "time_zone": "Europe/Paris",
        "language": "en",
        "currency": "EUR",
        "scope": "read",
        "role": None,
    }
    assert bearer(rw_secret).get("/api/v1/organization").json()["scope"] == "read_write"


def test_keys_are_stored_hashed_and_record_use(trio, keys, as_org):
    read, read_secret, _, _ = keys
    assert read.key_hash == hash_secret(read_secret)
    assert read_secret not in {read.prefix, read.key_hash, read.name}
    assert read_secret.startswith(read.prefix)
    bearer(read_secret).get("/api/v1/organization")
    with as_org(trio.alpha):
        read.refresh_from_db()
    assert read.last_used_at is not None


def test_a_read_key_cannot_write(keys):
    _, read_secret, _, rw_secret = keys
    response = bearer(read_secret).post("/api/v1/organization", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    # The read-write key passes the scope check and meets the method check.
    assert bearer(rw_secret).post("/api/v1/organization", {}, format="json").status_code == 405


def test_a_revoked_key_is_refused(trio, keys, as_org):
    read, read_secret, _, _ = keys
    with as_org(trio.alpha):
        api_key_revoke(actor=trio.alice_membership, api_key=read)
    response = bearer(read_secret).get("/api/v1/organization")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer smk_not-a-real-key", "Bearer", "Bearer a b", "Bearer \xff"]
)
def test_bad_credentials_get_401_in_the_error_format(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/organization")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_anonymous_gets_401():
    response = APIClient().get("/api/v1/organization")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_authentication_with_the_organization_header(trio, client_for):
    alice = client_for(trio.alice)
    body = alice.get("/api/v1/organization", HTTP_X_ORGANIZATION="alpha").json()
    assert (body["slug"], body["scope"], body["role"]) == ("alpha", "read_write", "owner")


def test_a_session_cannot_reach_an_organization_it_is_not_member_of(trio, client_for):
    response = client_for(trio.charlie).get("/api/v1/organization", HTTP_X_ORGANIZATION="alpha")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    unknown = client_for(trio.charlie).get("/api/v1/organization", HTTP_X_ORGANIZATION="nope")
    assert unknown.status_code == 404


def test_a_viewer_session_is_read_only(trio, client_for, as_org):
    from smarketing.tenancy.services import membership_change_role

    with as_org(trio.alpha):
        membership_change_role(
            actor=trio.alice_membership, target=trio.bob_membership, role="viewer"
        )
    bob = client_for(trio.bob)
    assert bob.get("/api/v1/organization", HTTP_X_ORGANIZATION="alpha").json()["scope"] == "read"
    response = bob.post(
        "/api/v1/organization", {}, HTTP_X_ORGANIZATION="alpha", content_type="application/json"
    )
    assert response.status_code == 403


def test_a_key_of_one_organization_never_sees_another(trio, keys):
    _, read_secret, _, _ = keys
    # The organization comes from the key, never from what the request says.
    body = bearer(read_secret).get("/api/v1/organization", HTTP_X_ORGANIZATION="charlie").json()
    assert body["slug"] == "alpha"


def test_unknown_api_paths_answer_json_404():
    response = APIClient().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_schema_and_docs_are_served_without_a_cdn():
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = schema.json()
    assert "/api/v1/organization" in spec["paths"]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    docs = APIClient().get("/api/v1/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "drf_spectacular_sidecar" in html
    assert "cdn" not in html.lower()


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    """drf-spectacular's warnings are also `check --deploy` warnings: keep them at zero."""
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
