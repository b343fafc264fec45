"""The demo organization "Acme (démo)" that ``make run`` loads (idempotent).

One user per role, all with the same password, plus a platform operator for /admin/.
Running it again creates nothing twice; it puts back the demo users' names and roles
(a password someone changed is left alone).

Later apps extend the demo without this file importing them (apps depend downwards
only): an app that has a ``demo`` module with a ``load(demo)`` function gets it called,
in ``INSTALLED_APPS`` order, after the organization and its members exist, with
``demo.organization``, ``demo.users`` (role value → User), ``demo.stdout`` and
``demo.now`` (an aware datetime). Each step must be idempotent too (get_or_create, or
"skip when already there"); it runs inside ``tenant_context(organization)``, so tenant
rows are written as in a request of that organization.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone, translation

from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role
from smarketing.tenancy.services import organization_create

DEMO_SLUG = "acme"
DEMO_NAME = "Acme (démo)"
DEMO_PASSWORD = "demo-smarketing"  # noqa: S105 — public on purpose: printed by make run

# (role, e-mail, full name); the e-mail says the role so that logins are easy to pick.
DEMO_MEMBERS: list[tuple[Role, str, str]] = [
    (Role.OWNER, "owner@acme.demo", "Claire Dubois"),
    (Role.ADMIN, "admin@acme.demo", "Julien Moreau"),
    (Role.MARKETING_MANAGER, "marketing.manager@acme.demo", "Sophie Laurent"),
    (Role.SALES_MANAGER, "sales.manager@acme.demo", "Thomas Girard"),
    (Role.MARKETER, "marketer@acme.demo", "Camille Roux"),
    (Role.SALES_REP, "sales.rep@acme.demo", "Nicolas Fontaine"),
    (Role.VIEWER, "viewer@acme.demo", "Élodie Mercier"),
]
DEMO_OPERATOR = ("operator@smarketing.demo", "Marc Lefèvre")


@dataclass
class Demo:
    organization: Organization
    users: dict[str, object]
    stdout: object
    now: datetime = field(default_factory=timezone.now)


def logins() -> list[tuple[str, str, str]]:
    """(what, e-mail, name) rows of the logins table, the operator last (console: English)."""
    with translation.override("en"):
        rows = [(str(role.label), email, name) for role, email, name in DEMO_MEMBERS]
    rows.append(("Platform operator (/admin/)", *DEMO_OPERATOR))
    return rows


def logins_table() -> str:
    rows = [("Role", "E-mail", "Name"), *logins()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"Password for every demo login: {DEMO_PASSWORD}")
    return "\n".join(lines)


def _user(email: str, full_name: str, **flags):
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return User.objects.create_user(
            email=email, password=DEMO_PASSWORD, full_name=full_name, **flags
        )
    # An existing demo user keeps its password (hashing is slow, and someone may have
    # changed it on purpose); its name, flags and active state are put back.
    changed = {"full_name": full_name, "is_active": True, **flags}
    if any(getattr(user, name) != value for name, value in changed.items()):
        for name, value in changed.items():
            setattr(user, name, value)
        user.save(update_fields=list(changed))
    return user


def _is_project_app(path: str) -> bool:
    """An app of this repository (smarketing/…, leads/…), not an installed package."""
    where = Path(path).resolve()
    if any(part in ("site-packages", "dist-packages") for part in where.parts):
        return False
    return where.is_relative_to(Path(settings.BASE_DIR).resolve())


def demo_steps() -> list:
    """The ``load(demo)`` functions of the apps that extend the demo."""
    steps = []
    for config in apps.get_app_configs():
        if not _is_project_app(config.path):
            continue
        module_name = f"{config.name}.demo"
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        if callable(getattr(module, "load", None)):
            steps.append(module.load)
    return steps


class Command(BaseCommand):
    help = 'Create or refresh the demo organization "Acme (démo)" and its logins.'

    def add_arguments(self, parser) -> None:
        parser.add_argument("--quiet-logins", action="store_true", help="do not print the table")
        parser.add_argument(
            "--members-only",
            action="store_true",
            help="the organization and its logins, without the apps' demo data",
        )

    def handle(self, *args, **opts) -> None:
        with transaction.atomic():
            demo = self._organization_and_members()
            for step in [] if opts["members_only"] else demo_steps():
                with tenant_context(demo.organization.pk):
                    step(demo)
        self.stdout.write(
            self.style.SUCCESS(f'Demo organization "{DEMO_NAME}" ready at /o/{DEMO_SLUG}/')
        )
        if not opts["quiet_logins"]:
            self.stdout.write(logins_table())

    def _organization_and_members(self) -> Demo:
        users = {role.value: _user(email, name) for role, email, name in DEMO_MEMBERS}
        _user(*DEMO_OPERATOR, is_staff=True, is_superuser=True)
        org = Organization.objects.filter(slug=DEMO_SLUG).first()
        if org is None:
            org = organization_create(name=DEMO_NAME, owner=users[Role.OWNER], slug=DEMO_SLUG)
        with tenant_context(org.pk):
            for role, user in users.items():
                membership, created = Membership.objects.for_org(org).get_or_create(
                    user=user, defaults={"role": role}
                )
                if not created and membership.role != role:
                    membership.role = role
                    membership.save(update_fields=["role"])
        return Demo(organization=org, users=users, stdout=self.stdout)
