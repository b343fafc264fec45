"""Operator admin: inspect bonus plans and frozen statements (read-only: plans are the
organization's managers', statements are frozen by closing a period)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import BonusPlan, PeriodClose, Statement


class ReadOnlyAdmin(TenantAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BonusPlan)
class BonusPlanAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "basis", "measure", "period_kind", "active"]
    list_filter = ["organization", "basis", "active"]


@admin.register(PeriodClose)
class PeriodCloseAdmin(ReadOnlyAdmin):
    list_display = ["plan", "organization", "period_start", "period_end", "closed_at"]
    list_select_related = ["organization", "plan"]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ["plan", "organization", "user", "period_start", "payout", "currency"]
    list_select_related = ["organization", "plan", "user"]
