"""Tenancy services beyond the pages: announcements and the HTMX session edge."""

from __future__ import annotations

import pytest

from smarketing.notifications.models import Notification
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.services import invitation_accept, invitation_create, invitation_token

from ..factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_member_is_announced_to_owners_and_admins_once(
    trio, as_org, django_capture_on_commit_callbacks
):
    with as_org(trio.alpha), django_capture_on_commit_callbacks(execute=False):
        invitation = invitation_create(
            actor=trio.alice_membership, email="dora@alpha.test", role=Role.MARKETER
        )
    dora = UserFactory(email="dora@alpha.test")
    with django_capture_on_commit_callbacks(execute=False):
        invitation_accept(token=invitation_token(invitation), user=dora)
    with as_org(trio.alpha):
        notes = list(Notification.objects.for_org(trio.alpha).filter(kind="member.joined"))
    assert [n.recipient for n in notes] == [trio.alice]  # bob is a sales rep: not told
    assert "dora@alpha.test" in notes[0].body


def test_an_expired_session_on_an_htmx_poll_redirects_the_whole_page(client):
    response = client.get("/o/alpha/notifications/bell/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/"
