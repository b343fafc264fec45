"""Sign-up, log-in / log-out, lockout after repeated failures, password reset."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db
User = get_user_model()


def signup_data(**overrides) -> dict:
    data = {
        "full_name": "Dana Leroy",
        "email": "Dana@Example.test",
        "password1": "a sturdy passphrase 42",
        "password2": "a sturdy passphrase 42",
        "organization_name": "Dana & Co",
    }
    data.update(overrides)
    return data


def test_signup_creates_organization_and_owner_and_logs_in(client, as_org):
    response = client.post(reverse("accounts:signup"), signup_data())
    org = Organization.objects.get(name="Dana & Co")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/"
    user = User.objects.get(email="dana@example.test")
    assert user.full_name == "Dana Leroy"
    with as_org(org):
        membership = Membership.objects.for_org(org).get()
    assert membership.user == user
    assert membership.role == Role.OWNER
    # Logged in: the organization home answers.
    home = client.get(f"/o/{org.slug}/")
    assert home.status_code == 200
    assert "Dana" in home.content.decode()


def test_signup_page_renders(client):
    response = client.get(reverse("accounts:signup"))
    assert response.status_code == 200
    assert 'name="organization_name"' in response.content.decode()


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"password2": "something else entirely"}, "password2"),
        ({"password1": "12345678", "password2": "12345678"}, "password1"),
        ({"email": "not-an-email"}, "email"),
        ({"organization_name": "   "}, "organization_name"),
        ({"full_name": ""}, "full_name"),
    ],
)
def test_signup_bad_input_rerenders_with_errors(client, overrides, field):
    response = client.post(reverse("accounts:signup"), signup_data(**overrides))
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not User.objects.filter(email="dana@example.test").exists()
    assert not Organization.objects.filter(name="Dana & Co").exists()


def test_signup_with_an_existing_email_is_refused(client, trio):
    response = client.post(reverse("accounts:signup"), signup_data(email="ALICE@alpha.test"))
    assert response.status_code == 400
    assert response.context["form"].errors["email"]
    assert not Organization.objects.filter(name="Dana & Co").exists()


def test_signed_in_user_is_sent_to_new_organization(client_for, trio):
    response = client_for(trio.alice).get(reverse("accounts:signup"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:organization-new")


def test_login_and_logout(client, trio, password):
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()

    response = client.post(
        reverse("accounts:login"), {"username": "Alice@Alpha.test", "password": password}
    )
    assert response.status_code == 302
    assert client.get("/o/alpha/").status_code == 200

    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert client.get("/o/alpha/").status_code == 302


def test_login_honours_next(client, trio, password):
    response = client.post(
        reverse("accounts:login") + "?next=/o/alpha/members/",
        {"username": "alice@alpha.test", "password": password, "next": "/o/alpha/members/"},
    )
    assert response["Location"] == "/o/alpha/members/"


def test_wrong_password_shows_an_error(client, trio):
    response = client.post(
        reverse("accounts:login"), {"username": "alice@alpha.test", "password": "nope"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_logout_is_post_only(client_for, trio):
    c = client_for(trio.alice)
    assert c.get(reverse("accounts:logout")).status_code == 405


def test_lockout_after_five_failed_logins(client, trio, password):
    assert AccessAttempt.objects.count() == 0
    url = reverse("accounts:login")
    statuses = [
        client.post(url, {"username": "alice@alpha.test", "password": f"wrong {i}"}).status_code
        for i in range(5)
    ]
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4] == 429
    # Now even the right password is refused, with our page.
    response = client.post(url, {"username": "alice@alpha.test", "password": password})
    assert response.status_code == 429
    body = response.content.decode()
    assert "5" in body
    assert 'href="/accounts/password-reset/"' in body
    assert "_auth_user_id" not in client.session
    # Changing the case of the address does not buy more attempts.
    response = client.post(url, {"username": "ALICE@alpha.test", "password": password})
    assert response.status_code == 429
    # Another account from the same address is not locked.
    response = client.post(url, {"username": "bob@alpha.test", "password": password})
    assert response.status_code == 302


def test_password_reset_sends_a_working_link(client, trio):
    response = client.post(reverse("accounts:password-reset"), {"email": "ALICE@alpha.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@alpha.test"]
    link = re.search(r"https?://\S+/accounts/password-reset/\S+/\S+/", message.body)
    assert link, message.body
    path = "/" + link.group(0).split("/", 3)[3]

    response = client.get(path)  # Django swaps the token into the session and redirects
    assert response.status_code == 302
    set_password_url = response["Location"]
    page = client.get(set_password_url)
    assert page.status_code == 200
    assert page.context["validlink"]

    new = "a brand new passphrase 7"
    response = client.post(set_password_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-complete")
    assert client.get(response["Location"]).status_code == 200
    trio.alice.refresh_from_db()
    assert trio.alice.check_password(new)


def test_password_reset_for_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post(reverse("accounts:password-reset"), {"email": "ghost@example.test"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_password_reset_with_a_forged_link_says_so(client, trio):
    response = client.get(
        reverse("accounts:password-reset-confirm", args=["MQ", "set-password"]), follow=True
    )
    assert response.status_code == 200
    assert not response.context["validlink"]
