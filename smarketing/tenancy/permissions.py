"""Roles and the one permission table.

Who may do what is decided here and nowhere else; views, API actions and services ask
``has_perm(membership, "...")`` (or ``require_perm``). Later apps add their rows to
``PERMISSIONS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .models import Membership


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    MARKETING_MANAGER = "marketing_manager", _("Marketing manager")
    SALES_MANAGER = "sales_manager", _("Sales manager")
    MARKETER = "marketer", _("Marketer")
    SALES_REP = "sales_rep", _("Sales rep")
    VIEWER = "viewer", _("Viewer")


OWNER, ADMIN = Role.OWNER, Role.ADMIN
MKT_MGR, SALES_MGR = Role.MARKETING_MANAGER, Role.SALES_MANAGER
MARKETER, SALES_REP, VIEWER = Role.MARKETER, Role.SALES_REP, Role.VIEWER

EVERYONE = frozenset(Role)
ADMINS = frozenset({OWNER, ADMIN})
MANAGERS = frozenset({OWNER, ADMIN, MKT_MGR, SALES_MGR})
CONTRIBUTORS = frozenset(Role) - {VIEWER}

PERMISSIONS: dict[str, frozenset[Role]] = {
    # reading the organization's pages and API
    "organization.view": EVERYONE,
    # name, time zone, language, currency
    "organization.manage": ADMINS,
    # invite, change role, remove
    "members.manage": ADMINS,
    # only an owner makes or unmakes owners
    "members.manage_owners": frozenset({OWNER}),
    "api_keys.manage": ADMINS,
    # TV screens in the open space
    "kiosk_tokens.manage": MANAGERS,
    # writing through the API with a session (API keys carry their own scope)
    "api.write": CONTRIBUTORS,
    # --- leads (the referential) ---
    "leads.view": EVERYONE,
    # create and edit leads, companies, content, campaigns; log activities
    "leads.edit": CONTRIBUTORS,
    # accept / reject an MQL, qualify to SQL
    "leads.decide": frozenset({OWNER, ADMIN, SALES_MGR, SALES_REP}),
    # move any lead to any stage, with a reason
    "leads.move_any": MANAGERS,
    "deals.edit": frozenset({OWNER, ADMIN, SALES_MGR, SALES_REP}),
    "leads.import": frozenset({OWNER, ADMIN, MKT_MGR, MARKETER}),
    "leads.export": frozenset({OWNER, ADMIN, MKT_MGR, SALES_MGR, MARKETER}),
    "content.manage": frozenset({OWNER, ADMIN, MKT_MGR, MARKETER}),
    "routing.manage": frozenset({OWNER, ADMIN, SALES_MGR}),
    # tracker snippet settings and inbound webhook endpoints
    "tracking.manage": frozenset({OWNER, ADMIN, MKT_MGR}),
    "events.ingest": CONTRIBUTORS,
    # --- scoring: edit, simulate and activate scoring models ---
    "scoring.manage": MANAGERS,
    # --- sla: the contract, its commitments, calendar and alert channel ---
    "sla.view": EVERYONE,
    # edit drafts (commitments, calendar, holidays), the alert webhook
    "sla.manage": MANAGERS,
    # the two signatures of the guide's week 3: one head of each team
    "sla.sign_marketing": frozenset({MKT_MGR}),
    "sla.sign_sales": frozenset({SALES_MGR}),
    # --- dashboards: the team dashboard, funnel audit, attribution (TV: kiosk tokens) ---
    "dashboards.view": EVERYONE,
    # campaign spend and KPI targets
    "dashboards.manage": MANAGERS,
    # --- meetings: the weekly pack and the rollout plan ---
    "meetings.view": EVERYONE,
    # notes, decisions, action items, ticking one's items
    "meetings.contribute": CONTRIBUTORS,
    # generate, open, close a meeting, edit attendees
    "meetings.manage": MANAGERS,
    # --- incentives: plans are the managers'; a participant sees only their statements ---
    "incentives.manage": MANAGERS,
    "incentives.view_all": MANAGERS,
    # --- integrations: connected tools and outbound webhooks ---
    "integrations.manage": ADMINS,
    "webhooks.manage": ADMINS,
}

# What an API key may do, by scope. Keys never manage members, keys or settings.
API_KEY_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(
        {"organization.view", "leads.view", "sla.view", "dashboards.view", "meetings.view"}
    ),
    "read_write": frozenset(
        {
            "organization.view",
            "leads.view",
            "leads.edit",
            "leads.decide",
            "deals.edit",
            "events.ingest",
            "sla.view",
            "dashboards.view",
            "meetings.view",
            "meetings.contribute",
        }
    ),
}


class ApiKeyActor:
    """Stands where a Membership stands when the caller is an API key (an integration)."""

    user = None
    role = None
    pk = None

    def __init__(self, api_key) -> None:
        self.api_key = api_key
        self.organization = api_key.organization
        self.organization_id = api_key.organization_id


class PermissionDenied(Exception):
    """The member's role does not allow the action (mapped to 403 at the edge)."""


def has_perm(membership: Membership | None, perm: str) -> bool:
    if membership is None:
        return False
    if isinstance(membership, ApiKeyActor):
        if perm not in PERMISSIONS:
            raise KeyError(f"unknown permission {perm!r}")
        return perm in API_KEY_PERMISSIONS[membership.api_key.scope]
    try:
        allowed = PERMISSIONS[perm]
    except KeyError:
        raise KeyError(f"unknown permission {perm!r}") from None
    return membership.role in allowed


def require_perm(membership: Membership | None, perm: str) -> None:
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)


def assignable_roles(membership: Membership) -> list[Role]:
    """The roles this member may give to others."""
    if has_perm(membership, "members.manage_owners"):
        return list(Role)
    if has_perm(membership, "members.manage"):
        return [role for role in Role if role != OWNER]
    return []
