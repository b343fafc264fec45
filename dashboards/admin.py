"""Operator admin: KPI targets (editable) and the rollups' state (read-only; the
rollups themselves are rebuilt, never edited)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import DailyKpi, KpiTarget, RollupState


@admin.register(KpiTarget)
class KpiTargetAdmin(TenantAdmin):
    list_display = ["kpi", "period_kind", "value", "source", "grade", "organization"]
    list_filter = ["organization", "kpi", "period_kind"]
    raw_id_fields = ["campaign", "owner", "updated_by"]


@admin.register(RollupState)
class RollupStateAdmin(TenantAdmin):
    list_display = ["organization", "built_through", "built_at", "full_at"]
    readonly_fields = ["organization", "built_through", "built_at", "full_at"]


@admin.register(DailyKpi)
class DailyKpiAdmin(TenantAdmin):
    list_display = ["day", "metric", "source", "grade", "count", "amount", "organization"]
    list_filter = ["organization", "metric"]
    date_hierarchy = "day"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
