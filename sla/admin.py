"""Operator admin of the sla app. Signed versions, their commitments, the live business
calendar and clocks are read-only here too: the services are the only way to change a
contract (and the calendar it signs)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import (
    BusinessCalendar,
    Clock,
    Contract,
    ContractVersion,
    Holiday,
    MarketingCommitment,
    SalesCommitment,
)


class ReadOnlyAdmin(TenantAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0
    can_delete = False
    fields = ["day", "name"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    """Read-only: the live calendar is part of the signed terms; it changes only when
    both heads sign a version that changes it (``services._activate``)."""

    list_display = ["organization", "name", "time_zone", "holiday_country", "updated_at"]
    search_fields = ["organization__name"]
    inlines = [HolidayInline]


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ["organization", "name", "created_at"]
    search_fields = ["organization__name", "name"]


class MarketingInline(admin.TabularInline):
    model = MarketingCommitment
    extra = 0
    can_delete = False
    fields = ["metric", "target", "period", "grade", "source"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SalesInline(admin.TabularInline):
    model = SalesCommitment
    extra = 0
    can_delete = False
    fields = [
        "label",
        "trigger",
        "event_type",
        "response_minutes",
        "business_time",
        "warn_percent",
        "escalation_minutes",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ContractVersion)
class ContractVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "organization",
        "number",
        "status",
        "marketing_signed_by",
        "sales_signed_by",
        "activated_at",
        "superseded_at",
    ]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "marketing_signed_by", "sales_signed_by"]
    search_fields = ["organization__name", "title"]
    inlines = [MarketingInline, SalesInline]


@admin.register(Clock)
class ClockAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "organization",
        "lead",
        "commitment",
        "owner",
        "status",
        "started_at",
        "due_at",
        "touched_at",
        "escalated_at",
    ]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "lead", "commitment", "owner"]
    search_fields = ["lead__email", "organization__name"]
    date_hierarchy = "due_at"
    raw_id_fields = ["lead", "owner", "commitment"]
