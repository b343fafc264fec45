"""Profile, password change, the language switch and a new organization."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db


def html_lang(response) -> str:
    return response.content.decode().split('<html lang="', 1)[1].split('"', 1)[0]


def test_profile_language_changes_the_page_language(client_for, trio):
    c = client_for(trio.alice)
    url = reverse("accounts:profile")
    assert html_lang(c.get(url)) == "fr"  # nobody chose: French

    response = c.post(url, {"action": "profile", "full_name": "Alice M.", "language": "en"})
    assert response.status_code == 302
    trio.alice.refresh_from_db()
    assert (trio.alice.full_name, trio.alice.language) == ("Alice M.", "en")
    assert html_lang(c.get(url)) == "en"
    assert html_lang(c.get("/o/alpha/")) == "en"

    c.post(url, {"action": "profile", "full_name": "Alice M.", "language": "fr"})
    assert html_lang(c.get("/o/alpha/")) == "fr"


def test_profile_without_language_follows_the_organization(client_for, trio):
    trio.alpha.language = "en"
    trio.alpha.save()
    c = client_for(trio.alice)
    assert html_lang(c.get("/o/alpha/")) == "en"


def test_profile_bad_input(client_for, trio):
    c = client_for(trio.alice)
    response = c.post(
        reverse("accounts:profile"), {"action": "profile", "full_name": "A", "language": "de"}
    )
    assert response.status_code == 400
    assert response.context["profile_form"].errors["language"]


def test_password_change(client_for, trio, password):
    c = client_for(trio.alice)
    new = "another sturdy passphrase 9"
    response = c.post(
        reverse("accounts:profile"),
        {
            "action": "password",
            "old_password": password,
            "new_password1": new,
            "new_password2": new,
        },
    )
    assert response.status_code == 302
    trio.alice.refresh_from_db()
    assert trio.alice.check_password(new)
    # Still logged in after the change.
    assert c.get(reverse("accounts:profile")).status_code == 200


def test_password_change_with_wrong_old_password(client_for, trio):
    c = client_for(trio.alice)
    response = c.post(
        reverse("accounts:profile"),
        {"action": "password", "old_password": "x", "new_password1": "y", "new_password2": "y"},
    )
    assert response.status_code == 400
    assert response.context["password_form"].errors["old_password"]


def test_language_switch_for_anonymous_sets_the_cookie(client):
    response = client.post(
        reverse("accounts:language"), {"language": "en", "next": reverse("accounts:login")}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert html_lang(client.get(reverse("accounts:login"))) == "en"
    client.post(reverse("accounts:language"), {"language": "fr"})
    assert html_lang(client.get(reverse("accounts:login"))) == "fr"


def test_language_switch_signed_in_saves_the_choice(client_for, trio):
    c = client_for(trio.bob)
    response = c.post(reverse("accounts:language"), {"language": "en", "next": "/o/alpha/"})
    assert response["Location"] == "/o/alpha/"
    trio.bob.refresh_from_db()
    assert trio.bob.language == "en"


def test_language_switch_refuses_unsafe_next_and_unknown_language(client):
    response = client.post(
        reverse("accounts:language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")
    assert client.post(reverse("accounts:language"), {"language": "xx"}).status_code == 400
    assert client.get(reverse("accounts:language")).status_code == 405


def test_new_organization(client_for, trio, as_org):
    c = client_for(trio.bob)
    assert c.get(reverse("accounts:organization-new")).status_code == 200
    response = c.post(reverse("accounts:organization-new"), {"name": "Bob Ventures"})
    org = Organization.objects.get(name="Bob Ventures")
    assert response["Location"] == f"/o/{org.slug}/"
    with as_org(org):
        assert Membership.objects.for_org(org).get().role == Role.OWNER
    assert c.post(reverse("accounts:organization-new"), {"name": " "}).status_code == 400


def test_switcher_lists_my_organizations(client_for, trio):
    body = client_for(trio.alice).get("/o/alpha/").content.decode()
    assert 'href="/o/alpha/"' in body
    assert "/o/charlie/" not in body
    assert reverse("accounts:organization-new") in body


@pytest.mark.parametrize("name", ["accounts:profile", "accounts:organization-new"])
def test_account_pages_need_a_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
