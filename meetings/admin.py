"""Operator admin: inspect meetings and their records (read-only: meetings are run by
the organization's members)."""

from __future__ import annotations

from django.contrib import admin

from smarketing.tenancy.admin import TenantAdmin

from .models import ActionItem, Meeting, RolloutEvent, ScoringApproval


class ReadOnlyAdmin(TenantAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdmin):
    list_display = ["week_start", "organization", "status", "snapshot_at", "closed_at"]
    list_filter = ["organization", "status"]


@admin.register(ActionItem)
class ActionItemAdmin(ReadOnlyAdmin):
    list_display = ["title", "organization", "owner", "due_on", "done"]
    list_select_related = ["organization", "owner"]


@admin.register(RolloutEvent)
class RolloutEventAdmin(ReadOnlyAdmin):
    list_display = ["step", "organization", "at"]


@admin.register(ScoringApproval)
class ScoringApprovalAdmin(ReadOnlyAdmin):
    list_display = ["scoring_model", "side", "organization", "by", "at"]
