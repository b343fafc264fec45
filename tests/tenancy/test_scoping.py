"""The fail-closed managers: the first wall, on every database."""

from __future__ import annotations

import pytest
from django.http import Http404

from smarketing.tenancy.models import ApiKey, Membership, TenantScopeError
from smarketing.tenancy.permissions import PERMISSIONS, Role, assignable_roles, has_perm
from smarketing.tenancy.selectors import get_membership_for_org

pytestmark = pytest.mark.django_db


def test_unscoped_queries_raise(trio):
    with pytest.raises(TenantScopeError):
        Membership.objects.all()
    with pytest.raises(TenantScopeError):
        Membership.objects.filter(user=trio.alice)
    with pytest.raises(TenantScopeError):
        Membership.objects.create(user=trio.alice, role=Role.VIEWER)


def test_scoped_queries_see_one_organization(trio, as_org):
    with as_org(trio.alpha):
        users = set(Membership.objects.for_org(trio.alpha).values_list("user__email", flat=True))
    assert users == {"alice@alpha.test", "bob@alpha.test"}


def test_scoped_create_fills_the_organization(trio, as_org):
    with as_org(trio.alpha):
        key = ApiKey.objects.for_org(trio.alpha).create(
            name="k", prefix="smk_x", key_hash="0" * 64, scope=ApiKey.Scope.READ
        )
    assert key.organization_id == trio.alpha.pk


def test_get_for_org_404s_for_another_organizations_id(trio, as_org):
    with as_org(trio.alpha):
        assert get_membership_for_org(trio.alpha, trio.bob_membership.pk) == trio.bob_membership
        with pytest.raises(Http404):
            get_membership_for_org(trio.alpha, trio.charlie_membership.pk)
        with pytest.raises(Http404):
            get_membership_for_org(trio.alpha, "not-a-number")


def test_one_permission_table():
    assert set(PERMISSIONS["members.manage"]) == {Role.OWNER, Role.ADMIN}
    viewer = Membership(role=Role.VIEWER)
    assert has_perm(viewer, "organization.view")
    assert not has_perm(viewer, "api.write")
    assert Role.OWNER not in assignable_roles(Membership(role=Role.ADMIN))
    assert Role.OWNER in assignable_roles(Membership(role=Role.OWNER))
    with pytest.raises(KeyError):
        has_perm(viewer, "no.such.permission")
