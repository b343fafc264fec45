from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "smarketing.tenancy"
    label = "tenancy"
    verbose_name = _("Tenancy")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import grant_app_role

        post_migrate.connect(grant_app_role, sender=self, dispatch_uid="smarketing.grant_app_role")
