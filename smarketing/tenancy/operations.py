"""Migration operation that puts a tenant table under row-level security.

Every app adds one line per tenant table to its migration::

    EnableRowLevelSecurity("lead"),

The policy lets a row through only when its ``organization_id`` equals the
transaction's ``smarketing.organization_id`` setting, or when the transaction runs in
the explicit system context. ``FORCE`` makes it apply to the table owner too, so even
a connection as the migration role sees nothing without a tenant. On databases other
than PostgreSQL (the embedded SQLite default) the operation does nothing: tenant
scoping in the ORM is the only wall there.
"""

from __future__ import annotations

from django.db import migrations

POLICY_NAME = "smarketing_tenant_isolation"

_CONDITION = (
    "organization_id = NULLIF(current_setting('smarketing.organization_id', true), '')::bigint"
    " OR current_setting('smarketing.system', true) = 'on'"
)


def rls_statements(table: str, column: str = "organization_id") -> list[str]:
    condition = _CONDITION.replace("organization_id =", f"{column} =", 1)
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"',
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({condition}) WITH CHECK ({condition})',
    ]


class EnableRowLevelSecurity(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, column: str = "organization_id") -> None:
        self.model_name = model_name
        self.column = column

    def deconstruct(self):
        kwargs = {} if self.column == "organization_id" else {"column": self.column}
        return (self.__class__.__name__, [self.model_name], kwargs)

    def state_forwards(self, app_label, state) -> None:
        """Row-level security lives in the database only; the model state is unchanged."""

    def _table(self, app_label, state) -> str:
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in rls_statements(self._table(app_label, to_state), self.column):
            schema_editor.execute(statement)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = self._table(app_label, from_state)
        schema_editor.execute(f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"')
        schema_editor.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        schema_editor.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"rls_{self.model_name.lower()}"
