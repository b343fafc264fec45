"""Reads of the notifications app: a member's inbox, bell count and preferences."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from smarketing.tenancy.models import Membership
from smarketing.tenancy.selectors import get_object_for_org

from . import kinds
from .models import Notification, NotificationPreference


def _mine(membership: Membership) -> QuerySet[Notification]:
    return Notification.objects.for_org(membership.organization_id).filter(
        recipient_id=membership.user_id, in_app=True
    )


def get_notification_for_org(organization, notification_id, *, recipient) -> Notification:
    """The recipient's notification in this organization, or 404 — someone else's
    notification is as missing as one that does not exist."""
    return get_object_for_org(Notification, organization, pk=notification_id, recipient=recipient)


def inbox(membership: Membership, unread_only: bool = False) -> QuerySet[Notification]:
    """The member's in-app notifications: unread first, then newest first."""
    qs = _mine(membership)
    if unread_only:
        qs = qs.filter(read_at=None)
    unread = ExpressionWrapper(Q(read_at=None), output_field=BooleanField())
    return qs.order_by(unread.desc(), "-created_at", "-pk")


def unread_count(membership: Membership) -> int:
    return _mine(membership).filter(read_at=None).count()


@dataclass(frozen=True)
class EffectivePreference:
    kind: kinds.Kind
    in_app: bool
    email: bool
    customized: bool


def preference_for(membership: Membership, kind: kinds.Kind, stored=None) -> EffectivePreference:
    if stored is None:
        return EffectivePreference(kind, kind.in_app, kind.email, customized=False)
    return EffectivePreference(kind, stored.in_app, stored.email, customized=True)


def preferences(membership: Membership) -> list[EffectivePreference]:
    """Every registered kind with the member's effective channels (stored row or the
    kind's defaults)."""
    stored = {
        pref.kind: pref
        for pref in NotificationPreference.objects.for_org(membership.organization_id).filter(
            user_id=membership.user_id
        )
    }
    return [preference_for(membership, kind, stored.get(kind.code)) for kind in kinds.all_kinds()]
