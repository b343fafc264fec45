"""The organization pages: home, settings, members, invitations, API keys, kiosk tokens.

Every page under /o/alpha/ answers charlie 404; every id of Alpha answers 404 from
within /o/charlie/; anonymous visitors go to the log-in page; bad input is a 4xx with
the form again; list pages run a bounded number of queries.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from smarketing.tenancy.models import ApiKey, Invitation, KioskToken, Membership, hash_secret
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.selectors import find_api_key
from smarketing.tenancy.services import (
    api_key_create,
    invitation_create,
    kiosk_token_create,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha_things(trio, as_org):
    """One of each tenant object in Alpha, for the id-based URLs."""
    with as_org(trio.alpha):
        invitation = invitation_create(
            actor=trio.alice_membership, email="dana@example.test", role=Role.VIEWER
        )
        api_key, _secret = api_key_create(
            actor=trio.alice_membership, name="Website", scope=ApiKey.Scope.READ
        )
        kiosk, _token = kiosk_token_create(actor=trio.alice_membership, name="Open space")
    return {
        "membership_id": trio.bob_membership.pk,
        "invitation_id": invitation.pk,
        "api_key_id": api_key.pk,
        "kiosk_token_id": kiosk.pk,
    }


# (url name, the id kwarg it takes or None, methods it answers)
PAGES = [
    ("org-home", None, ["get"]),
    ("org-settings", None, ["get", "post"]),
    ("org-members", None, ["get", "post"]),
    ("org-member-role", "membership_id", ["post"]),
    ("org-member-remove", "membership_id", ["get", "post"]),
    ("org-invitation-revoke", "invitation_id", ["post"]),
    ("org-api-keys", None, ["get", "post"]),
    ("org-api-key-revoke", "api_key_id", ["post"]),
    ("org-kiosk-tokens", None, ["get", "post"]),
    ("org-kiosk-token-revoke", "kiosk_token_id", ["post"]),
]
CASES = [(name, key, method) for name, key, methods in PAGES for method in methods]


def url(name: str, slug: str, key: str | None, things: dict) -> str:
    kwargs = {"org_slug": slug}
    if key:
        kwargs[key] = things[key]
    return reverse(name, kwargs=kwargs)


def test_every_page_is_listed():
    from smarketing.tenancy import urls

    assert {p.name for p in urls.urlpatterns} == {name for name, _key, _methods in PAGES}


@pytest.mark.parametrize("name,key,method", CASES)
def test_outsider_gets_404_everywhere_in_alpha(client_for, trio, alpha_things, name, key, method):
    c = client_for(trio.charlie)
    response = getattr(c, method)(url(name, "alpha", key, alpha_things), {"role": "viewer"})
    assert response.status_code == 404


@pytest.mark.parametrize("name,key,method", [c for c in CASES if c[1]])
def test_alpha_ids_are_404_from_charlies_organization(
    client_for, trio, alpha_things, as_org, name, key, method
):
    c = client_for(trio.charlie)
    response = getattr(c, method)(url(name, "charlie", key, alpha_things), {"role": "viewer"})
    assert response.status_code == 404
    # ...and nothing in Alpha changed.
    with as_org(trio.alpha):
        assert Membership.objects.for_org(trio.alpha).get(pk=trio.bob_membership.pk).role == (
            Role.SALES_REP
        )
        assert Invitation.objects.for_org(trio.alpha).get().revoked_at is None
        assert ApiKey.objects.for_org(trio.alpha).get().revoked_at is None
        assert KioskToken.objects.for_org(trio.alpha).get().revoked_at is None


@pytest.mark.parametrize("name,key,method", CASES)
def test_anonymous_is_sent_to_login(client, trio, alpha_things, name, key, method):
    response = getattr(client, method)(url(name, "alpha", key, alpha_things))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


def test_unknown_organization_is_404(client_for, trio):
    assert client_for(trio.alice).get("/o/nope/").status_code == 404


# --- Home -----------------------------------------------------------------------------


def test_home_for_an_owner(client_for, trio):
    response = client_for(trio.alice).get("/o/alpha/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Alice" in body
    assert response.context["team_size"] == 2
    steps = {s["url_name"]: s["done"] for s in response.context["steps"]}
    assert steps["org-members"] is True  # bob is there
    assert steps["org-api-keys"] is False
    for link in ["/o/alpha/members/", "/o/alpha/api-keys/", "/o/alpha/settings/", "/api/v1/docs/"]:
        assert f'href="{link}"' in body


def test_home_ticks_the_api_key_step(client_for, trio, alpha_things):
    response = client_for(trio.alice).get("/o/alpha/")
    steps = {s["url_name"]: s["done"] for s in response.context["steps"]}
    assert steps["org-api-keys"] is True


def test_home_for_a_sales_rep_has_no_admin_links(client_for, trio):
    response = client_for(trio.bob).get("/o/alpha/")
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["steps"] == []
    assert "/o/alpha/api-keys/" not in body
    assert 'href="/o/alpha/settings/"' not in body
    assert 'href="/o/alpha/members/"' in body


# --- Settings -------------------------------------------------------------------------


def test_settings_update(client_for, trio):
    c = client_for(trio.alice)
    assert c.get("/o/alpha/settings/").status_code == 200
    response = c.post(
        "/o/alpha/settings/",
        {"name": "Alpha SA", "time_zone": "America/New_York", "language": "en", "currency": "usd"},
    )
    assert response.status_code == 302
    trio.alpha.refresh_from_db()
    assert (trio.alpha.name, trio.alpha.time_zone, trio.alpha.language, trio.alpha.currency) == (
        "Alpha SA",
        "America/New_York",
        "en",
        "USD",
    )


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"currency": "EU"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"language": "de"}, "language"),
        ({"name": "  "}, "name"),
    ],
)
def test_settings_bad_input(client_for, trio, overrides, field):
    data = {"name": "Alpha", "time_zone": "Europe/Paris", "language": "fr", "currency": "EUR"}
    data.update(overrides)
    response = client_for(trio.alice).post("/o/alpha/settings/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    trio.alpha.refresh_from_db()
    assert trio.alpha.name == "Alpha"


def test_settings_are_for_admins(client_for, trio):
    c = client_for(trio.bob)
    assert c.get("/o/alpha/settings/").status_code == 403
    data = {"name": "Hacked", "time_zone": "UTC", "language": "en", "currency": "USD"}
    assert c.post("/o/alpha/settings/", data).status_code == 403
    trio.alpha.refresh_from_db()
    assert trio.alpha.name == "Alpha"


# --- Members --------------------------------------------------------------------------


def role_of(org, membership_id, as_org):
    with as_org(org):
        return Membership.objects.for_org(org).get(pk=membership_id).role


def test_members_page_for_an_owner(client_for, trio, alpha_things):
    response = client_for(trio.alice).get("/o/alpha/members/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "bob@alpha.test" in body and "alice@alpha.test" in body
    assert 'name="email"' in body  # invite form
    assert "dana@example.test" in body  # open invitation
    assert "/accounts/invitations/" in body  # its copyable accept link
    assert reverse("org-member-role", args=["alpha", trio.bob_membership.pk]) in body
    # The invite form offers exactly the roles alice may give.
    assert [c[0] for c in response.context["invite_form"].fields["role"].choices] == Role.values


def test_members_page_is_read_only_for_a_sales_rep(client_for, trio, alpha_things):
    response = client_for(trio.bob).get("/o/alpha/members/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "alice@alpha.test" in body
    assert 'name="email"' not in body
    assert "dana@example.test" not in body
    assert "/role/" not in body
    assert reverse("org-member-remove", args=["alpha", trio.alice_membership.pk]) not in body
    # bob may leave, though
    assert reverse("org-member-remove", args=["alpha", trio.bob_membership.pk]) in body


def test_admin_cannot_give_owner(client_for, trio, as_org):
    carol = UserFactory(email="carol@alpha.test")
    MembershipFactory(organization=trio.alpha, user=carol, role=Role.ADMIN)
    c = client_for(carol)
    response = c.get("/o/alpha/members/")
    choices = [c[0] for c in response.context["invite_form"].fields["role"].choices]
    assert Role.OWNER not in choices
    response = c.post("/o/alpha/members/", {"email": "eve@example.test", "role": Role.OWNER})
    assert response.status_code == 400
    assert response.context["invite_form"].errors["role"]
    # nor change or remove an owner
    role_url = reverse("org-member-role", args=["alpha", trio.alice_membership.pk])
    assert c.post(role_url, {"role": Role.VIEWER}).status_code == 403
    assert c.post(role_url, {"role": Role.OWNER}).status_code == 400  # not a choice for her
    remove_url = reverse("org-member-remove", args=["alpha", trio.alice_membership.pk])
    assert c.post(remove_url).status_code == 403
    assert role_of(trio.alpha, trio.alice_membership.pk, as_org) == Role.OWNER


def test_change_role(client_for, trio, as_org):
    c = client_for(trio.alice)
    role_url = reverse("org-member-role", args=["alpha", trio.bob_membership.pk])
    response = c.post(role_url, {"role": Role.SALES_MANAGER})
    assert response.status_code == 302
    assert response["Location"] == "/o/alpha/members/"
    assert role_of(trio.alpha, trio.bob_membership.pk, as_org) == Role.SALES_MANAGER


def test_change_role_with_htmx_returns_the_row(client_for, trio, as_org):
    c = client_for(trio.alice)
    role_url = reverse("org-member-role", args=["alpha", trio.bob_membership.pk])
    response = c.post(role_url, {"role": Role.MARKETER}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="member-{trio.bob_membership.pk}"')
    assert "<html" not in body
    assert role_of(trio.alpha, trio.bob_membership.pk, as_org) == Role.MARKETER


@pytest.mark.parametrize("role", ["", "superuser", "owner' OR 1=1"])
def test_change_role_bad_input(client_for, trio, as_org, role):
    role_url = reverse("org-member-role", args=["alpha", trio.bob_membership.pk])
    response = client_for(trio.alice).post(role_url, {"role": role})
    assert response.status_code == 400
    assert role_of(trio.alpha, trio.bob_membership.pk, as_org) == Role.SALES_REP


def test_last_owner_cannot_be_demoted_or_removed(client_for, trio, as_org):
    c = client_for(trio.alice)
    own = trio.alice_membership.pk
    response = c.post(reverse("org-member-role", args=["alpha", own]), {"role": Role.ADMIN})
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    response = c.post(
        reverse("org-member-role", args=["alpha", own]),
        {"role": Role.ADMIN},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422  # htmx swaps the row with its error
    assert "at least one owner" in response.content.decode()
    response = c.post(reverse("org-member-remove", args=["alpha", own]))
    assert response.status_code == 400
    assert "at least one owner" in response.content.decode()
    assert role_of(trio.alpha, own, as_org) == Role.OWNER


def test_remove_a_member(client_for, trio, as_org):
    c = client_for(trio.alice)
    remove_url = reverse("org-member-remove", args=["alpha", trio.bob_membership.pk])
    confirm = c.get(remove_url)
    assert confirm.status_code == 200
    assert "bob@alpha.test" in confirm.content.decode()
    response = c.post(remove_url)
    assert response.status_code == 302
    with as_org(trio.alpha):
        assert not Membership.objects.for_org(trio.alpha).filter(user=trio.bob).exists()
    assert client_for(trio.bob).get("/o/alpha/").status_code == 404


def test_remove_with_htmx_returns_nothing(client_for, trio):
    remove_url = reverse("org-member-remove", args=["alpha", trio.bob_membership.pk])
    response = client_for(trio.alice).post(remove_url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content == b""


def test_a_member_may_leave(client_for, trio, as_org):
    c = client_for(trio.bob)
    response = c.post(reverse("org-member-remove", args=["alpha", trio.bob_membership.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    with as_org(trio.alpha):
        assert not Membership.objects.for_org(trio.alpha).filter(user=trio.bob).exists()


def test_non_admin_posts_get_403(client_for, trio, alpha_things, as_org):
    c = client_for(trio.bob)
    alice_id = trio.alice_membership.pk
    assert (
        c.post("/o/alpha/members/", {"email": "x@example.test", "role": "viewer"}).status_code
        == 403
    )
    assert (
        c.post(reverse("org-member-role", args=["alpha", alice_id]), {"role": "viewer"}).status_code
        == 403
    )
    assert c.get(reverse("org-member-remove", args=["alpha", alice_id])).status_code == 403
    assert c.post(reverse("org-member-remove", args=["alpha", alice_id])).status_code == 403
    inv = alpha_things["invitation_id"]
    assert c.post(reverse("org-invitation-revoke", args=["alpha", inv])).status_code == 403
    key = alpha_things["api_key_id"]
    assert c.post(reverse("org-api-key-revoke", args=["alpha", key])).status_code == 403
    kiosk = alpha_things["kiosk_token_id"]
    assert c.post(reverse("org-kiosk-token-revoke", args=["alpha", kiosk])).status_code == 403
    page = c.post("/o/alpha/api-keys/", {"name": "mine", "scope": "read"})
    assert page.status_code == 403
    assert "403" in page.content.decode()
    with as_org(trio.alpha):
        assert role_of(trio.alpha, alice_id, as_org) == Role.OWNER
        assert Invitation.objects.for_org(trio.alpha).get().revoked_at is None
        assert ApiKey.objects.for_org(trio.alpha).count() == 1


def test_invite_and_revoke(client_for, trio, as_org):
    c = client_for(trio.alice)
    response = c.post("/o/alpha/members/", {"email": "dana@example.test", "role": "viewer"})
    assert response.status_code == 302
    with as_org(trio.alpha):
        invitation = Invitation.objects.for_org(trio.alpha).get()
    response = c.post(reverse("org-invitation-revoke", args=["alpha", invitation.pk]))
    assert response.status_code == 302
    with as_org(trio.alpha):
        invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert f'id="invitation-{invitation.pk}"' not in c.get("/o/alpha/members/").content.decode()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"email": "not an email", "role": "viewer"}, "email"),
        ({"email": "", "role": "viewer"}, "email"),
        ({"email": "dana@example.test", "role": "wizard"}, "role"),
        ({"email": "BOB@alpha.test", "role": "viewer"}, "email"),  # already a member
    ],
)
def test_invite_bad_input(client_for, trio, as_org, data, field):
    response = client_for(trio.alice).post("/o/alpha/members/", data)
    assert response.status_code == 400
    assert response.context["invite_form"].errors[field]
    with as_org(trio.alpha):
        assert not Invitation.objects.for_org(trio.alpha).exists()


def test_members_page_queries_are_bounded(
    client_for, trio, as_org, django_assert_max_num_queries, django_assert_num_queries
):
    c = client_for(trio.alice)
    c.get("/o/alpha/members/")  # warm the session and caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert c.get("/o/alpha/members/").status_code == 200
    for i in range(15):
        MembershipFactory(organization=trio.alpha, role=Role.MARKETER)
        with as_org(trio.alpha):
            invitation_create(
                actor=trio.alice_membership, email=f"guest{i}@example.test", role=Role.VIEWER
            )
    with django_assert_num_queries(len(few) + 0):
        response = c.get("/o/alpha/members/")
    assert len(response.context["rows"]) == 17
    with django_assert_max_num_queries(20):
        c.get("/o/alpha/members/")


# --- API keys -------------------------------------------------------------------------


def test_api_key_is_shown_once_and_only_its_hash_is_stored(client_for, trio, as_org):
    c = client_for(trio.alice)
    assert c.get("/o/alpha/api-keys/").status_code == 200
    response = c.post("/o/alpha/api-keys/", {"name": "Website forms", "scope": "read_write"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("smk_") and len(secret) > 40
    assert secret in response.content.decode()

    with as_org(trio.alpha):
        key = ApiKey.objects.for_org(trio.alpha).get()
    assert key.key_hash == hash_secret(secret)
    assert secret not in {key.name, key.prefix, key.key_hash}
    assert secret.startswith(key.prefix)
    assert (key.scope, key.created_by) == (ApiKey.Scope.READ_WRITE, trio.alice)

    listing = c.get("/o/alpha/api-keys/").content.decode()
    assert secret not in listing
    assert key.prefix in listing
    assert "Website forms" in listing


def test_revoke_api_key(client_for, trio, as_org):
    c = client_for(trio.alice)
    secret = c.post("/o/alpha/api-keys/", {"name": "CRM", "scope": "read"}).context["secret"]
    assert find_api_key(secret) is not None
    with as_org(trio.alpha):
        key = ApiKey.objects.for_org(trio.alpha).get()
    response = c.post(reverse("org-api-key-revoke", args=["alpha", key.pk]))
    assert response.status_code == 302
    with as_org(trio.alpha):
        key.refresh_from_db()
    assert key.revoked_at is not None
    assert find_api_key(secret) is None
    assert "Revoked" in c.get("/o/alpha/api-keys/").content.decode()


@pytest.mark.parametrize(
    "data,field",
    [({"name": "", "scope": "read"}, "name"), ({"name": "x", "scope": "admin"}, "scope")],
)
def test_api_key_bad_input(client_for, trio, as_org, data, field):
    response = client_for(trio.alice).post("/o/alpha/api-keys/", data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    with as_org(trio.alpha):
        assert not ApiKey.objects.for_org(trio.alpha).exists()


def test_api_keys_page_is_for_admins(client_for, trio):
    assert client_for(trio.bob).get("/o/alpha/api-keys/").status_code == 403


def test_api_keys_page_queries_are_bounded(client_for, trio, as_org, django_assert_max_num_queries):
    c = client_for(trio.alice)
    with as_org(trio.alpha):
        for i in range(20):
            api_key_create(actor=trio.alice_membership, name=f"key {i}", scope="read")
    c.get("/o/alpha/api-keys/")
    with django_assert_max_num_queries(15):
        response = c.get("/o/alpha/api-keys/")
    assert len(response.context["api_keys"]) == 20


# --- Kiosk tokens ---------------------------------------------------------------------


def test_kiosk_token_shown_once_and_revoked(client_for, trio, as_org):
    c = client_for(trio.alice)
    assert c.get("/o/alpha/kiosk-tokens/").status_code == 200
    response = c.post("/o/alpha/kiosk-tokens/", {"name": "Open space"})
    assert response.status_code == 200
    token = response.context["token"]
    # The address to open on the TV is given with it, and it works.
    tv_url = f"http://testserver/tv/{token}/"
    assert tv_url in response.content.decode()
    assert Client().get(tv_url).status_code == 200
    with as_org(trio.alpha):
        kiosk = KioskToken.objects.for_org(trio.alpha).get()
    assert kiosk.token_hash == hash_secret(token)
    assert token not in c.get("/o/alpha/kiosk-tokens/").content.decode()
    response = c.post(reverse("org-kiosk-token-revoke", args=["alpha", kiosk.pk]))
    assert response.status_code == 302
    with as_org(trio.alpha):
        kiosk.refresh_from_db()
    assert kiosk.revoked_at is not None
    assert c.post("/o/alpha/kiosk-tokens/", {"name": " "}).status_code == 400


def test_kiosk_tokens_are_for_managers(client_for, trio):
    assert client_for(trio.bob).get("/o/alpha/kiosk-tokens/").status_code == 403
