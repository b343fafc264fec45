"""Operator admin: inspect notifications and their e-mail delivery (read-only; the
system context is set by the tenant middleware for staff on /admin/)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import ChatDelivery, ChatWebhook, Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(TenantAdmin):
    list_display = [
        "title",
        "organization",
        "recipient",
        "kind",
        "created_at",
        "read_at",
        "email_status",
        "email_attempts",
    ]
    list_filter = ["organization", "kind", "email_status", "in_app"]
    list_select_related = ["organization", "recipient"]
    search_fields = ["title", "dedupe_key", "recipient__email", "organization__name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False  # notifications come from notify(), with their dedupe key

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(TenantAdmin):
    list_display = ["user", "organization", "kind", "in_app", "email"]
    list_filter = ["organization", "kind", "in_app", "email"]
    list_select_related = ["organization", "user"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["organization", "user"]


@admin.register(ChatWebhook)
class ChatWebhookAdmin(TenantAdmin):
    list_display = ["organization", "name", "url_hint", "active", "updated_at"]
    list_filter = ["organization", "active"]
    fields = ["organization", "name", "url_hint", "kinds", "active"]
    readonly_fields = ["url_hint"]

    def has_add_permission(self, request) -> bool:
        return False  # the URL is entered (and encrypted) on the settings page


@admin.register(ChatDelivery)
class ChatDeliveryAdmin(TenantAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "delivered_at",
    ]
    list_filter = ["organization", "status", "kind"]
    search_fields = ["dedupe_key", "text"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
