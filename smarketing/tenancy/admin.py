"""Operator admin for organizations and what belongs to them.

It runs in the system context (tenant middleware, staff users only), through each
model's ``unscoped`` manager. Secrets are never shown or edited: API keys and kiosk
tokens are created where the secret can be displayed once (the organization pages and
``manage.py create_api_key``), so the admin can only inspect and revoke them.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ApiKey, Invitation, KioskToken, Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "member_count",
        "language",
        "time_zone",
        "currency",
        "created_at",
    ]
    list_filter = ["language"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        # The organization FK on members has no reverse accessor: count with a subquery.
        members = (
            Membership.unscoped.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_member_count=Coalesce(Subquery(members), 0))

    @admin.display(description=_("members"), ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return obj._member_count


class TenantAdmin(admin.ModelAdmin):
    list_filter = ["organization"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]


@admin.register(Membership)
class MembershipAdmin(TenantAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["organization", "role"]
    list_select_related = ["organization", "user"]
    search_fields = ["user__email", "user__full_name", "organization__name"]
    autocomplete_fields = ["organization", "user"]


@admin.register(Invitation)
class InvitationAdmin(TenantAdmin):
    list_display = [
        "email",
        "organization",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "state",
    ]
    list_select_related = ["organization", "invited_by"]
    search_fields = ["email", "organization__name"]
    # The nonce is half of the accept link: never shown.
    fields = [
        "organization",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    ]
    readonly_fields = ["invited_by", "created_at", "accepted_at", "accepted_by", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # invitations are sent from the members page, which e-mails them

    @admin.display(description=_("state"))
    def state(self, obj: Invitation) -> str:
        if obj.accepted_at:
            return str(_("accepted"))
        if obj.revoked_at:
            return str(_("revoked"))
        if obj.expires_at <= timezone.now():
            return str(_("expired"))
        return str(_("open"))

    @admin.action(description=_("Revoke the selected invitations"))
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(accepted_at=None, revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(
            request,
            ngettext("%d invitation revoked.", "%d invitations revoked.", count) % count,
        )


class SecretHolderAdmin(TenantAdmin):
    """API keys and kiosk tokens: read-only but for revocation."""

    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("active"), boolean=True)
    def active(self, obj) -> bool:
        return obj.revoked_at is None

    @admin.action(description=_("Revoke the selected items"), permissions=["delete"])
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, ngettext("%d revoked.", "%d revoked.", count) % count)


@admin.register(ApiKey)
class ApiKeyAdmin(SecretHolderAdmin):
    list_display = [
        "name",
        "organization",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "active",
    ]
    list_filter = ["organization", "scope"]
    list_select_related = ["organization", "created_by"]
    search_fields = ["name", "prefix", "organization__name"]
    fields = [
        "organization",
        "name",
        "prefix",
        "key_hash",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields


@admin.register(KioskToken)
class KioskTokenAdmin(SecretHolderAdmin):
    list_display = [
        "name",
        "organization",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "active",
    ]
    list_select_related = ["organization", "created_by"]
    search_fields = ["name", "prefix", "organization__name"]
    fields = [
        "organization",
        "name",
        "prefix",
        "token_hash",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields
