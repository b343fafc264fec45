"""Operator admin: inspect scoring models, their rules and re-score runs (read-only:
the definition is edited by the organization's managers, through the services that
version it; the system context is set by the tenant middleware for staff)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import BehaviourRule, FitRule, RescoreRun, ScoringModel


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class FitRuleInline(ReadOnlyInline):
    model = FitRule
    fields = ["position", "label", "attribute", "operator", "value", "points"]


class BehaviourRuleInline(ReadOnlyInline):
    model = BehaviourRule
    fields = [
        "position",
        "label",
        "event_type",
        "match_field",
        "match_operator",
        "match_value",
        "mode",
        "points",
        "cap",
        "min_count",
        "window_days",
        "marks_hot",
    ]


class ReadOnlyAdmin(TenantAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScoringModel)
class ScoringModelAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "organization", "status", "mql_threshold", "activated_at"]
    list_filter = ["organization", "status"]
    inlines = [FitRuleInline, BehaviourRuleInline]


@admin.register(RescoreRun)
class RescoreRunAdmin(ReadOnlyAdmin):
    list_display = ["model", "organization", "status", "done", "total", "created_at"]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "model"]
