"""Row-level security: the second wall behind the scoped managers (DESIGN.md §5).

These tests run real SQL on PostgreSQL, as the application role where it matters
(``SET LOCAL ROLE``), so they prove what the database itself enforces.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import UniqueConstraint

from smarketing.tenancy.db import ORG_SETTING, system_context, tenant_context
from smarketing.tenancy.models import Membership, TenantModel
from smarketing.tenancy.operations import POLICY_NAME

pytestmark = pytest.mark.django_db

TENANT_MODELS = [
    m for m in apps.get_models() if issubclass(m, TenantModel) and not m._meta.abstract
]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.fail("the RLS tests need PostgreSQL: run them with `make test`")


def as_app_role():
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {connection.ops.quote_name(settings.DATABASE_APP_ROLE)}")


def fetch(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_the_application_role_cannot_bypass_row_level_security():
    role = settings.DATABASE_APP_ROLE
    ((rolsuper, rolbypassrls),) = fetch(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
    )
    assert (rolsuper, rolbypassrls) == (False, False)
    owned = fetch("SELECT tablename FROM pg_tables WHERE tableowner = %s", [role])
    assert owned == []


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_every_tenant_table_forces_its_policy(model):
    table = model._meta.db_table
    ((enabled, forced),) = fetch(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", [table]
    )
    assert enabled and forced, f"{table}: add EnableRowLevelSecurity to its migration"
    assert fetch(
        "SELECT 1 FROM pg_policies WHERE tablename = %s AND policyname = %s", [table, POLICY_NAME]
    )


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m._meta.label)
def test_unique_keys_of_tenant_data_include_the_organization(model):
    for field in model._meta.local_fields:
        assert not (field.unique and not field.primary_key), (
            f"{model._meta.label}.{field.name} is unique across organizations"
        )
    for constraint in model._meta.constraints:
        if isinstance(constraint, UniqueConstraint):
            names = set(constraint.fields) | {
                getattr(expression, "name", None) for expression in constraint.expressions
            }
            assert "organization" in names, (
                f"{model._meta.label}: {constraint.name} must include the organization"
            )


def test_raw_sql_and_unscoped_querysets_see_only_the_current_tenant(trio):
    as_app_role()
    assert fetch("SELECT current_user") == [(settings.DATABASE_APP_ROLE,)]
    with tenant_context(trio.alpha.pk):
        rows = fetch("SELECT DISTINCT organization_id FROM tenancy_membership")
        assert rows == [(trio.alpha.pk,)]
        unscoped = set(Membership.unscoped.values_list("organization_id", flat=True))
        assert unscoped == {trio.alpha.pk}
        assert Membership.unscoped.filter(organization=trio.charlie_org).count() == 0
        # A write aimed at the other tenant touches nothing.
        assert Membership.unscoped.filter(user=trio.charlie).update(role="viewer") == 0
        assert Membership.unscoped.filter(user=trio.charlie).delete()[0] == 0
    with tenant_context(trio.charlie_org.pk):
        assert fetch("SELECT DISTINCT organization_id FROM tenancy_membership") == [
            (trio.charlie_org.pk,)
        ]


def test_a_tenant_cannot_write_rows_for_another(trio):
    as_app_role()
    with tenant_context(trio.alpha.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Membership.unscoped.create(
                organization=trio.charlie_org, user=trio.alice, role="viewer"
            )
        # Moving a row to another tenant is refused too (WITH CHECK).
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Membership.unscoped.filter(user=trio.bob).update(organization=trio.charlie_org)


def test_with_no_tenant_set_tenant_tables_are_empty(trio):
    as_app_role()
    assert fetch("SELECT count(*) FROM tenancy_membership") == [(0,)]
    assert Membership.unscoped.count() == 0
    assert fetch("SELECT current_setting(%s, true)", [ORG_SETTING]) in ([("",)], [(None,)])


def test_the_system_context_is_explicit_and_temporary(trio):
    as_app_role()
    with system_context("test: count every membership"):
        assert Membership.unscoped.count() == 3
    assert Membership.unscoped.count() == 0


def test_contexts_nest_and_restore(trio):
    with tenant_context(trio.alpha.pk):
        with tenant_context(trio.charlie_org.pk):
            assert fetch("SELECT current_setting(%s, true)", [ORG_SETTING]) == [
                (str(trio.charlie_org.pk),)
            ]
        assert fetch("SELECT current_setting(%s, true)", [ORG_SETTING]) == [(str(trio.alpha.pk),)]
    assert Membership.unscoped.count() == 0


@pytest.mark.django_db(transaction=True)
def test_nothing_leaks_between_requests_on_a_reused_connection(trio, client_for):
    """Autocommit mode, as in production: each request is its own transaction."""
    alice = client_for(trio.alice)
    assert alice.get("/api/v1/organization", HTTP_X_ORGANIZATION="alpha").json()["slug"] == "alpha"
    # Same connection, after the request: no tenant, nothing visible.
    assert fetch("SELECT coalesce(current_setting(%s, true), '')", [ORG_SETTING]) == [("",)]
    assert fetch("SELECT count(*) FROM tenancy_membership") == [(0,)]
    charlie = client_for(trio.charlie)
    response = charlie.get("/api/v1/organization", HTTP_X_ORGANIZATION="charlie")
    assert response.json()["slug"] == "charlie"
    # Charlie asking for alpha on the connection alice just used gets 404, not alpha.
    assert charlie.get("/api/v1/organization", HTTP_X_ORGANIZATION="alpha").status_code == 404
    assert fetch("SELECT count(*) FROM tenancy_membership") == [(0,)]
