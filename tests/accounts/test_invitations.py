"""Invitations: sent by e-mail after commit, accepted by a new or an existing account,
refused for the wrong account, once expired, once revoked."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from smarketing.tenancy.models import Invitation, Membership
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.services import invitation_create, invitation_revoke, invitation_token
from smarketing.tenancy.tasks import send_invitation_email
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def invite(trio, as_org):
    def make(email: str = "dana@example.test", role: str = Role.MARKETER) -> Invitation:
        with as_org(trio.alpha):
            return invitation_create(actor=trio.alice_membership, email=email, role=role)

    return make


def accept_url(invitation: Invitation) -> str:
    return reverse("accounts:invitation", args=[invitation_token(invitation)])


def membership(org, user, as_org):
    with as_org(org):
        return Membership.objects.for_org(org).filter(user=user).first()


def test_invite_from_members_page_sends_the_email_after_commit(
    client_for, trio, as_org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(trio.alice).post(
            "/o/alpha/members/", {"email": "Dana@Example.test", "role": Role.MARKETER}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the e-mail task is dispatched on commit, not before
    assert mail.outbox == []
    with as_org(trio.alpha):
        invitation = Invitation.objects.for_org(trio.alpha).get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "dana@example.test",
        Role.MARKETER,
        trio.alice,
    )

    assert send_invitation_email(trio.alpha.pk, invitation.pk) is True
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dana@example.test"]
    assert "Alpha" in message.subject
    assert "Alice Martin" in message.body
    path = re.search(r"/accounts/invitations/[^/\s]+/", message.body).group(0)
    page = client_for(UserFactory(email="dana@example.test")).get(path)
    assert page.status_code == 200
    assert "Alpha" in page.content.decode()


def test_accept_as_a_new_user(client, trio, invite, as_org):
    invitation = invite()
    url = accept_url(invitation)
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Alpha" in body and "Alice Martin" in body and "dana@example.test" in body
    assert 'name="password1"' in body

    response = client.post(
        url,
        {
            "full_name": "Dana Leroy",
            "password1": "a sturdy passphrase 42",
            "password2": "a sturdy passphrase 42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/o/alpha/"
    dana = User.objects.get(email="dana@example.test")
    assert membership(trio.alpha, dana, as_org).role == Role.MARKETER
    assert client.get("/o/alpha/").status_code == 200  # logged in
    # The link worked once.
    assert client.get(url).status_code == 404


def test_new_user_bad_input_rerenders(client, trio, invite):
    url = accept_url(invite())
    response = client.post(url, {"full_name": "Dana", "password1": "x", "password2": "y"})
    assert response.status_code == 400
    assert response.context["form"].errors
    assert not User.objects.filter(email="dana@example.test").exists()


def test_accept_as_an_existing_user(client, trio, invite, as_org, password):
    dana = UserFactory(email="dana@example.test")
    invitation = invite()
    url = accept_url(invitation)

    anonymous = client.get(url)
    assert anonymous.status_code == 200
    body = anonymous.content.decode()
    assert f"{reverse('accounts:login')}?next={quote(url)}" in body
    assert 'name="password1"' not in body
    # An anonymous POST does not sign anyone up or in.
    assert client.post(url, {"full_name": "X"}).status_code == 403
    assert membership(trio.alpha, dana, as_org) is None

    login = client.post(
        f"{reverse('accounts:login')}?next={url}",
        {"username": "dana@example.test", "password": password, "next": url},
    )
    assert login["Location"] == url
    page = client.get(url)
    assert '<form method="post"' in page.content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == "/o/alpha/"
    assert membership(trio.alpha, dana, as_org).role == Role.MARKETER


def test_wrong_user_is_refused(client_for, trio, invite, as_org):
    url = accept_url(invite())
    c = client_for(trio.charlie)
    page = c.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "dana@example.test" in body and "charlie@charlie.test" in body
    response = c.post(url)
    assert response.status_code == 403
    assert membership(trio.alpha, trio.charlie, as_org) is None


def test_expired_invitation_is_refused(client, trio, invite):
    url = accept_url(invite())
    client.cookies["smarketing_language"] = "en"  # anonymous: the login page's choice
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.get(url)
        assert response.status_code == 404
        assert "invalid or has expired" in response.content.decode()
        response = client.post(url, {"full_name": "D", "password1": "p", "password2": "p"})
        assert response.status_code == 404
    assert not User.objects.filter(email="dana@example.test").exists()


def test_revoked_invitation_is_refused(client_for, trio, invite, as_org):
    invitation = invite()
    url = accept_url(invitation)
    with as_org(trio.alpha):
        invitation_revoke(actor=trio.alice_membership, invitation=invitation)
    dana = UserFactory(email="dana@example.test")
    c = client_for(dana)
    assert c.get(url).status_code == 404
    assert c.post(url).status_code == 404
    assert membership(trio.alpha, dana, as_org) is None


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "eyJ4Ijo", "..."])
def test_forged_token_is_a_404(client, trio, token):
    response = client.get(reverse("accounts:invitation", args=[token]))
    assert response.status_code == 404


def test_invitation_email_is_not_sent_for_a_revoked_invitation(trio, invite, as_org):
    invitation = invite()
    with as_org(trio.alpha):
        invitation_revoke(actor=trio.alice_membership, invitation=invitation)
    assert send_invitation_email(trio.alpha.pk, invitation.pk) is False
    assert mail.outbox == []
