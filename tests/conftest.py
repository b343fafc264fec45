"""Shared fixtures: the alice/bob/charlie trio (STYLE.md §8).

- **alice** owns organization *Alpha*;
- **bob** is a sales rep in *Alpha*;
- **charlie** owns organization *Charlie* and is an outsider to *Alpha*: every page and
  endpoint of Alpha must answer him 404.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from django.db import connection

from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role

from .factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')} as {db.get('USER')}"


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def trio(db) -> SimpleNamespace:
    alpha = OrganizationFactory(name="Alpha", slug="alpha")
    charlie_org = OrganizationFactory(name="Charlie", slug="charlie")
    alice = UserFactory(email="alice@alpha.test", full_name="Alice Martin")
    bob = UserFactory(email="bob@alpha.test", full_name="Bob Durand")
    charlie = UserFactory(email="charlie@charlie.test", full_name="Charlie Petit")
    return SimpleNamespace(
        alpha=alpha,
        charlie_org=charlie_org,
        alice=alice,
        bob=bob,
        charlie=charlie,
        alice_membership=MembershipFactory(organization=alpha, user=alice, role=Role.OWNER),
        bob_membership=MembershipFactory(organization=alpha, user=bob, role=Role.SALES_REP),
        charlie_membership=MembershipFactory(
            organization=charlie_org, user=charlie, role=Role.OWNER
        ),
    )


@pytest.fixture
def as_org():
    """``with as_org(org): ...`` — run test code for one organization (RLS applies)."""
    return lambda org: tenant_context(org.pk)


@pytest.fixture
def client_for(client):
    """``client_for(user)``: a test client logged in as that user."""
    from django.test import Client

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
