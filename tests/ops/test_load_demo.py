"""``manage.py load_demo``: the demo organization of ``make run``, idempotent."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from smarketing.tenancy.management.commands.load_demo import (
    DEMO_MEMBERS,
    DEMO_OPERATOR,
    DEMO_PASSWORD,
    DEMO_SLUG,
)
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role

pytestmark = pytest.mark.django_db


def load() -> str:
    out = io.StringIO()
    # The apps' demo data (thousands of leads) is tested in tests/leads/test_demo.py.
    call_command("load_demo", "--members-only", stdout=out)
    return out.getvalue()


def snapshot(as_org):
    org = Organization.objects.get(slug=DEMO_SLUG)
    with as_org(org):
        members = sorted(Membership.objects.for_org(org).values_list("user__email", "role", "pk"))
    users = sorted(get_user_model().objects.values_list("email", "pk"))
    return org.pk, members, users


def test_one_user_per_role_and_an_operator(as_org):
    output = load()
    org = Organization.objects.get(slug=DEMO_SLUG)
    assert org.name == "Acme (démo)"
    assert (org.language, org.time_zone, org.currency) == ("fr", "Europe/Paris", "EUR")
    with as_org(org):
        roles = dict(Membership.objects.for_org(org).values_list("user__email", "role"))
    assert sorted(roles.values()) == sorted(Role.values)
    User = get_user_model()
    for role, email, name in DEMO_MEMBERS:
        user = User.objects.get(email=email)
        assert roles[email] == role
        assert user.full_name == name
        assert user.check_password(DEMO_PASSWORD)
        assert not user.is_staff
        assert email in output
    operator = User.objects.get(email=DEMO_OPERATOR[0])
    assert operator.is_staff and operator.is_superuser
    assert operator.check_password(DEMO_PASSWORD)
    assert DEMO_PASSWORD in output


def test_running_twice_changes_nothing(as_org):
    load()
    first = snapshot(as_org)
    load()
    assert snapshot(as_org) == first


def test_running_again_repairs_roles(as_org):
    load()
    org = Organization.objects.get(slug=DEMO_SLUG)
    viewer_email = next(email for role, email, _ in DEMO_MEMBERS if role == Role.VIEWER)
    with as_org(org):
        Membership.objects.for_org(org).filter(user__email=viewer_email).update(role=Role.ADMIN)
    load()
    with as_org(org):
        assert Membership.objects.for_org(org).get(user__email=viewer_email).role == Role.VIEWER


def test_the_demo_owner_logs_in(client):
    load()
    response = client.post(
        "/accounts/login/",
        {"username": DEMO_MEMBERS[0][1], "password": DEMO_PASSWORD},
    )
    assert response.status_code == 302
    assert client.get("/").headers["Location"] == f"/o/{DEMO_SLUG}/"
