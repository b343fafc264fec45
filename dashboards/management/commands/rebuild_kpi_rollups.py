"""Rebuild the daily KPI rollups of every organization (or one, by slug) from the
whole history: after a bulk import of past data or a restored backup."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from dashboards import rollups
from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Organization


class Command(BaseCommand):
    help = "Rebuild the daily KPI rollups from the whole history."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--organization", help="slug (default: every organization)")

    def handle(self, *args, **opts) -> None:
        organizations = Organization.objects.order_by("pk")
        if opts["organization"]:
            organizations = organizations.filter(slug=opts["organization"])
        for organization in organizations:
            with tenant_context(organization.pk):
                built = rollups.refresh(organization, full=True)
            self.stdout.write(f"{organization.slug}: {built or 'no closed day'}")
