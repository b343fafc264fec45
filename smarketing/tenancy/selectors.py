"""Reads of the tenancy app. Every id from a user goes through ``get_*_for_org``."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model
from django.http import Http404
from django.utils import timezone

from .db import system_context
from .models import ApiKey, Invitation, KioskToken, Membership, Organization, hash_secret

M = TypeVar("M", bound=Model)


def get_object_for_org(model: type[M], organization: Organization, **lookup) -> M:
    """The object of this organization, or 404 — missing and someone else's alike."""
    try:
        return model.objects.for_org(organization).get(**lookup)  # type: ignore[attr-defined]
    except (model.DoesNotExist, ValueError, TypeError):  # type: ignore[attr-defined]
        raise Http404 from None


def get_membership_for_org(organization: Organization, membership_id) -> Membership:
    return get_object_for_org(Membership, organization, pk=membership_id)


def get_invitation_for_org(organization: Organization, invitation_id) -> Invitation:
    return get_object_for_org(Invitation, organization, pk=invitation_id)


def get_api_key_for_org(organization: Organization, api_key_id) -> ApiKey:
    return get_object_for_org(ApiKey, organization, pk=api_key_id)


def get_kiosk_token_for_org(organization: Organization, kiosk_token_id) -> KioskToken:
    return get_object_for_org(KioskToken, organization, pk=kiosk_token_id)


def members(organization: Organization):
    return (
        Membership.objects.for_org(organization)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def open_invitations(organization: Organization):
    return (
        Invitation.objects.for_org(organization)
        .filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())
        .select_related("invited_by")
    )


def api_keys(organization: Organization):
    return ApiKey.objects.for_org(organization).select_related("created_by")


def kiosk_tokens(organization: Organization):
    return KioskToken.objects.for_org(organization).select_related("created_by")


def user_organizations(user) -> list[Membership]:
    """The user's memberships across organizations (the organization switcher)."""
    if not user.is_authenticated:
        return []
    with system_context("organization switcher", routine=True):
        return list(
            Membership.unscoped.filter(user=user)
            .select_related("organization")
            .order_by("organization__name")
        )


def find_api_key(raw_key: str) -> ApiKey | None:
    """The active key with this secret, whatever its organization (it is not known yet)."""
    if not raw_key.startswith(ApiKey.PREFIX):
        return None
    with system_context("API key look-up by hash", routine=True):
        return (
            ApiKey.unscoped.select_related("organization")
            .filter(key_hash=hash_secret(raw_key), revoked_at=None)
            .first()
        )


def find_kiosk_token(raw_token: str) -> KioskToken | None:
    with system_context("kiosk token look-up by hash", routine=True):
        return (
            KioskToken.unscoped.select_related("organization")
            .filter(token_hash=hash_secret(raw_token), revoked_at=None)
            .first()
        )
