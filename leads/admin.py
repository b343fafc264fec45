"""Operator admin for the referential: inspect every leads model across organizations.

It runs in the system context (tenant middleware, staff users only) through each
model's ``unscoped`` manager. It is an inspection and repair tool, not a second way to
run the business: stages, scores, decisions and events only change through the
services and ingestion (they record transitions and send signals), so those fields
are read-only here, and rows that services create are never added here. Related rows
are picked by id (``raw_id_fields``): a drop-down would list every organization's rows.
Secrets (webhook token hashes and signing secrets) are never shown.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.admin import TenantAdmin

from .models import (
    Activity,
    Campaign,
    Company,
    Content,
    Deal,
    Decision,
    Event,
    ImportJob,
    Lead,
    LifecycleTransition,
    Qualification,
    RepRouting,
    RoutingSettings,
    TrackingSettings,
    Visitor,
    WebhookEndpoint,
    WebhookReceipt,
)


class ReadOnlyTenantAdmin(TenantAdmin):
    """Append-only records (the audit trail): look, never touch."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class NoAddTenantAdmin(TenantAdmin):
    def has_add_permission(self, request) -> bool:
        return False  # created by a service, an import or ingestion


@admin.register(Company)
class CompanyAdmin(TenantAdmin):
    list_display = ["name", "organization", "domain", "industry", "employees", "country"]
    list_filter = ["organization", "revenue_band", "country"]
    search_fields = ["name", "domain", "organization__name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Campaign)
class CampaignAdmin(TenantAdmin):
    list_display = ["name", "organization", "key", "channel", "spend", "currency", "starts_on"]
    list_filter = ["organization", "channel"]
    search_fields = ["name", "key", "utm_campaign", "organization__name"]
    readonly_fields = ["created_at"]


@admin.register(Content)
class ContentAdmin(TenantAdmin):
    list_display = ["title", "organization", "key", "type", "level", "persona", "funnel_stage"]
    list_filter = ["organization", "level", "type", "funnel_stage"]
    search_fields = ["title", "key", "persona", "organization__name"]
    readonly_fields = ["created_at"]


@admin.register(Lead)
class LeadAdmin(NoAddTenantAdmin):
    list_display = [
        "email",
        "organization",
        "full_name",
        "company",
        "stage",
        "score",
        "grade",
        "hot",
        "owner",
        "created_at",
    ]
    list_filter = ["organization", "stage", "hot", "grade", "source"]
    list_select_related = ["organization", "company", "owner"]
    search_fields = ["email", "first_name", "last_name", "company__name", "organization__name"]
    raw_id_fields = ["company", "campaign", "owner"]
    readonly_fields = [
        # The lifecycle and the score change through services and scoring only.
        "stage",
        "stage_changed_at",
        "score",
        "fit",
        "grade",
        "hot",
        "hot_since",
        "rescore_requested_at",
        "first_touch_at",
        "last_event_at",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False

    @admin.display(description=_("name"))
    def full_name(self, obj: Lead) -> str:
        return obj.full_name


@admin.register(Visitor)
class VisitorAdmin(ReadOnlyTenantAdmin):
    list_display = ["anonymous_id", "organization", "lead", "first_seen_at", "identified_at"]
    list_select_related = ["organization", "lead"]
    search_fields = ["anonymous_id", "lead__email", "organization__name"]
    raw_id_fields = ["lead"]
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(ReadOnlyTenantAdmin):
    list_display = ["type", "organization", "occurred_at", "lead", "source", "external_id"]
    list_filter = ["organization", "type", "source"]
    list_select_related = ["organization", "lead"]
    search_fields = ["external_id", "lead__email", "url", "organization__name"]
    raw_id_fields = ["lead", "visitor", "content", "campaign"]
    date_hierarchy = "occurred_at"
    # Tens of thousands of rows per organization: no full count on every page.
    show_full_result_count = False


@admin.register(Deal)
class DealAdmin(NoAddTenantAdmin):
    list_display = ["name", "organization", "amount", "currency", "status", "lead", "created_at"]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "lead"]
    search_fields = ["name", "lead__email", "external_id", "organization__name"]
    raw_id_fields = ["lead", "company", "owner"]
    # Winning a deal moves its lead to customer: that goes through deal_update.
    readonly_fields = ["status", "closed_at", "created_at", "updated_at", "source", "external_id"]


@admin.register(LifecycleTransition)
class LifecycleTransitionAdmin(ReadOnlyTenantAdmin):
    list_display = ["lead", "organization", "from_stage", "to_stage", "at", "by", "reason"]
    list_filter = ["organization", "to_stage", "from_stage"]
    list_select_related = ["organization", "lead", "by"]
    search_fields = ["lead__email", "reason", "organization__name"]
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(Activity)
class ActivityAdmin(ReadOnlyTenantAdmin):
    list_display = ["kind", "organization", "lead", "subject", "at", "by"]
    list_filter = ["organization", "kind"]
    list_select_related = ["organization", "lead", "by"]
    search_fields = ["subject", "lead__email", "organization__name"]
    date_hierarchy = "at"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyTenantAdmin):
    list_display = ["kind", "organization", "lead", "reason", "at", "by"]
    list_filter = ["organization", "kind", "reason"]
    list_select_related = ["organization", "lead", "by"]
    search_fields = ["lead__email", "comment", "organization__name"]
    date_hierarchy = "at"


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyTenantAdmin):
    list_display = ["lead", "organization", "budget", "need", "at", "by"]
    list_filter = ["organization"]
    list_select_related = ["organization", "lead", "by"]
    search_fields = ["lead__email", "budget", "need", "organization__name"]


@admin.register(TrackingSettings)
class TrackingSettingsAdmin(NoAddTenantAdmin):
    list_display = ["organization", "public_key", "enabled", "require_consent", "updated_at"]
    list_filter = ["organization", "enabled", "require_consent"]
    search_fields = ["public_key", "organization__name"]
    readonly_fields = ["public_key", "created_at", "updated_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(NoAddTenantAdmin):
    list_display = ["name", "organization", "key", "token_prefix", "active", "last_received_at"]
    list_filter = ["organization", "active"]
    list_select_related = ["organization"]
    search_fields = ["name", "key", "token_prefix", "organization__name"]
    # The token hash and the signing secret are never shown: listed fields only.
    fields = [
        "organization",
        "name",
        "key",
        "token_prefix",
        "mapping",
        "default_type",
        "active",
        "created_by",
        "created_at",
        "last_received_at",
    ]
    readonly_fields = [
        "organization",
        "key",
        "token_prefix",
        "created_by",
        "created_at",
        "last_received_at",
    ]


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "message_id",
        "organization",
        "endpoint",
        "received_at",
        "status",
        "accepted",
        "duplicates",
    ]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "endpoint"]
    search_fields = ["message_id", "error", "organization__name"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "filename",
        "organization",
        "status",
        "total_rows",
        "processed_rows",
        "created_leads",
        "updated_leads",
        "skipped_rows",
        "created_at",
    ]
    list_filter = ["organization", "status"]
    list_select_related = ["organization", "created_by"]
    search_fields = ["filename", "organization__name"]
    # The file itself may be megabytes of personal data: not displayed.
    exclude = ["content"]


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(NoAddTenantAdmin):
    list_display = ["organization", "strategy", "by_territory", "by_segment", "updated_at"]
    list_filter = ["organization", "strategy"]
    search_fields = ["organization__name"]
    readonly_fields = ["organization", "updated_at"]


@admin.register(RepRouting)
class RepRoutingAdmin(NoAddTenantAdmin):
    list_display = [
        "user",
        "organization",
        "active",
        "away_until",
        "assigned_count",
        "last_assigned_at",
    ]
    list_filter = ["organization", "active"]
    list_select_related = ["organization", "user"]
    search_fields = ["user__email", "user__full_name", "organization__name"]
    raw_id_fields = ["user"]
    readonly_fields = ["organization", "user", "last_assigned_at", "assigned_count"]
