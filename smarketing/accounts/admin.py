"""Operator admin for people. It runs in the system context (tenant middleware) for
staff users, so the memberships inline can show every organization a user is in."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from smarketing.tenancy.models import Membership

from .models import User


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["organization", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["organization"]
    verbose_name = _("membership")
    verbose_name_plural = _("memberships")


class UserChangeFormByEmail(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


class UserCreationFormByEmail(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["email", "full_name"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeFormByEmail
    add_form = UserCreationFormByEmail
    inlines = [MembershipInline]
    ordering = ["email"]
    list_display = ["email", "full_name", "language", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "language"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Person"), {"fields": ["full_name", "language"]}),
        (
            _("Platform access"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "usable_password", "password1", "password2"],
            },
        )
    ]
