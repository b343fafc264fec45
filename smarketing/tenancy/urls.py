"""Organization pages, included under ``/o/<slug:org_slug>/``. The names are global
(no ``app_name``): ``{% url 'org-members' org_slug=organization.slug %}``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.org_home, name="org-home"),
    path("settings/", views.org_settings, name="org-settings"),
    path("members/", views.org_members, name="org-members"),
    path("members/<int:membership_id>/role/", views.org_member_role, name="org-member-role"),
    path("members/<int:membership_id>/remove/", views.org_member_remove, name="org-member-remove"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.org_invitation_revoke,
        name="org-invitation-revoke",
    ),
    path("api-keys/", views.org_api_keys, name="org-api-keys"),
    path("api-keys/<int:api_key_id>/revoke/", views.org_api_key_revoke, name="org-api-key-revoke"),
    path("kiosk-tokens/", views.org_kiosk_tokens, name="org-kiosk-tokens"),
    path(
        "kiosk-tokens/<int:kiosk_token_id>/revoke/",
        views.org_kiosk_token_revoke,
        name="org-kiosk-token-revoke",
    ),
]
