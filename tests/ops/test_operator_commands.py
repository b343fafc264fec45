"""``manage.py create_organization`` and ``manage.py create_api_key`` (operator commands)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from smarketing.tenancy.models import ApiKey, Membership, Organization
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_create_organization_creates_the_owner(as_org):
    out, _ = run(
        "create_organization", "beta", "--name", "Beta SAS", "--owner", "Dana@Beta.TEST",
        "--password", "a long enough password", "--full-name", "Dana Roussel",
    )  # fmt: skip
    org = Organization.objects.get(slug="beta")
    assert (org.name, org.language, org.time_zone, org.currency) == (
        "Beta SAS", "fr", "Europe/Paris", "EUR",
    )  # fmt: skip
    user = get_user_model().objects.get(email="dana@beta.test")
    assert user.check_password("a long enough password")
    assert user.full_name == "Dana Roussel"
    with as_org(org):
        membership = Membership.objects.for_org(org).get()
    assert (membership.user, membership.role) == (user, Role.OWNER)
    assert "created organization beta" in out


def test_create_organization_without_password_leaves_it_unusable():
    run("create_organization", "gamma", "--name", "Gamma", "--owner", "eve@gamma.test")
    assert not get_user_model().objects.get(email="eve@gamma.test").has_usable_password()


def test_create_organization_reuses_an_existing_user(trio, as_org):
    _, err = run(
        "create_organization", "delta", "--name", "Delta", "--owner", trio.alice.email,
        "--password", "ignored password",
    )  # fmt: skip
    trio.alice.refresh_from_db()
    assert not trio.alice.check_password("ignored password")
    assert "--password ignored" in err
    org = Organization.objects.get(slug="delta")
    with as_org(org):
        assert Membership.objects.for_org(org).get().user == trio.alice
    assert get_user_model().objects.filter(email__iexact=trio.alice.email).count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alpha", "--name", "Again", "--owner", "x@y.test"], "already taken"),
        (["Not A Slug", "--name", "X", "--owner", "x@y.test"], "not a valid slug"),
        (["admin", "--name", "X", "--owner", "x@y.test"], "already taken"),
        (["omega", "--name", "X", "--owner", "not-an-email"], "not an e-mail"),
        (["omega", "--name", "   ", "--owner", "x@y.test"], "name"),
    ],
)
def test_create_organization_refuses_bad_input(trio, args, message):
    users_before = get_user_model().objects.count()
    orgs_before = Organization.objects.count()
    with pytest.raises(CommandError, match=message):
        run("create_organization", *args)
    # Refused means nothing changed, not even the owner's user.
    assert get_user_model().objects.count() == users_before
    assert Organization.objects.count() == orgs_before


def test_create_api_key_prints_the_key_alone_and_it_authenticates(trio, capfd, as_org):
    call_command("create_api_key", "alpha", "--scope", "rw", "--name", "Website")
    out, err = capfd.readouterr()
    # Not even a log line on stdout: scripts capture it with $(...).
    assert out.endswith("\n") and out.count("\n") == 1
    key = out.strip()
    assert key.startswith(ApiKey.PREFIX) and " " not in key
    assert key not in err
    with as_org(trio.alpha):
        stored = ApiKey.objects.for_org(trio.alpha).get()
    assert (stored.name, stored.scope, stored.created_by) == ("Website", "read_write", None)
    assert stored.key_hash != key and key.startswith(stored.prefix)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/organization")
    assert response.status_code == 200
    assert response.json()["slug"] == "alpha"
    assert response.json()["scope"] == "read_write"


def test_create_api_key_defaults_to_read_only(trio, as_org):
    out, _ = run("create_api_key", "charlie")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.strip()}")
    body = client.get("/api/v1/organization").json()
    assert (body["slug"], body["scope"]) == ("charlie", "read")
    with as_org(trio.charlie_org):
        assert ApiKey.objects.for_org(trio.charlie_org).get().name.startswith("Operator key")


def test_create_api_key_refuses_unknown_organization_and_scope(trio):
    with pytest.raises(CommandError, match="no organization"):
        run("create_api_key", "nowhere")
    with pytest.raises(CommandError):
        run("create_api_key", "alpha", "--scope", "admin")
