"""The database side of tenancy: which organization the current transaction works for.

On PostgreSQL every tenant table carries a row-level security policy (see
``operations.EnableRowLevelSecurity``) that compares ``organization_id`` with the
transaction-local setting ``smarketing.organization_id``. Nothing here is a session
setting: values are set with ``set_config(..., true)`` and vanish at commit or
rollback, so a pooled connection never carries one request's tenant into the next.
On exit each context also restores the previous value explicitly, because inside an
enclosing transaction (a test, a nested block) a savepoint release would not reset it.

``system_context`` is the one way to read across tenants (operator admin, look-ups of
a secret by its hash); every use is logged with its reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from django.db import connections, transaction

ORG_SETTING = "smarketing.organization_id"
SYSTEM_SETTING = "smarketing.system"

system_log = logging.getLogger("smarketing.tenancy.system")

# The organization id the current code path works for, mirrored in Python so that
# code can ask without a query (and so SQLite, which has no RLS, behaves the same).
_current_org: ContextVar[int | None] = ContextVar("smarketing_current_org", default=None)
_system: ContextVar[bool] = ContextVar("smarketing_system", default=False)


def _is_postgres(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def _set(using: str, name: str, value: str) -> str:
    """Set a transaction-local setting and return its previous value."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting(%s, true), ''), set_config(%s, %s, true)",
            [name, name, value],
        )
        return cursor.fetchone()[0]


def current_organization_id() -> int | None:
    return _current_org.get()


def in_system_context() -> bool:
    return _system.get()


@contextlib.contextmanager
def tenant_context(organization_id: int, *, using: str = "default") -> Iterator[None]:
    """Work for one organization inside one transaction.

    Opens (or joins) a transaction, because the setting only lives as long as the
    transaction does; RLS then restricts every tenant table to that organization.
    """
    if not organization_id:
        raise ValueError("tenant_context needs an organization id")
    token = _current_org.set(int(organization_id))
    try:
        with transaction.atomic(using=using):
            previous = None
            if _is_postgres(using):
                previous = _set(using, ORG_SETTING, str(int(organization_id)))
            try:
                yield
            finally:
                if previous is not None and not connections[using].needs_rollback:
                    _set(using, ORG_SETTING, previous)
    finally:
        _current_org.reset(token)


def activate_tenant(organization_id: int, *, using: str = "default") -> None:
    """Set the tenant for the rest of the current transaction (request middleware,
    API authentication). Must be called inside ``transaction.atomic``."""
    conn = connections[using]
    if not conn.in_atomic_block:
        raise RuntimeError("activate_tenant must run inside a transaction")
    _current_org.set(int(organization_id))
    if _is_postgres(using):
        _set(using, ORG_SETTING, str(int(organization_id)))


def deactivate_tenant(*, using: str = "default") -> None:
    """Clear what ``activate_tenant`` set (end of a request)."""
    _current_org.set(None)
    _system.set(False)
    conn = connections[using]
    if _is_postgres(using) and conn.in_atomic_block and not conn.needs_rollback:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT set_config(%s, '', true), set_config(%s, '', true)",
                [ORG_SETTING, SYSTEM_SETTING],
            )


@contextlib.contextmanager
def system_context(reason: str, *, using: str = "default", routine: bool = False) -> Iterator[None]:
    """Read or write across organizations, explicitly and on the record.

    For operator tools and for look-ups that precede knowing the tenant (an API key
    or kiosk token by its hash, an invitation by its token, a user's organizations).
    ``routine`` look-ups that happen on every request are logged at DEBUG level only.
    """
    system_log.log(logging.DEBUG if routine else logging.INFO, "system context: %s", reason)
    token = _system.set(True)
    try:
        with transaction.atomic(using=using):
            previous = None
            if _is_postgres(using):
                previous = _set(using, SYSTEM_SETTING, "on")
            try:
                yield
            finally:
                if previous is not None and not connections[using].needs_rollback:
                    _set(using, SYSTEM_SETTING, previous)
    finally:
        _system.reset(token)


def activate_system(reason: str, *, using: str = "default") -> None:
    """System context for the rest of the current transaction (the operator admin)."""
    conn = connections[using]
    if not conn.in_atomic_block:
        raise RuntimeError("activate_system must run inside a transaction")
    system_log.info("system context: %s", reason)
    _system.set(True)
    if _is_postgres(using):
        _set(using, SYSTEM_SETTING, "on")
