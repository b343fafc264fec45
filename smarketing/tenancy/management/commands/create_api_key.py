"""``manage.py create_api_key <slug> [--scope rw|read] [--name ...]``

Prints the new key on stdout and nothing else, so that scripts can capture it::

    KEY=$(manage.py create_api_key acme --scope rw --name "website tracker")

The key is shown this once; only its hash is stored. What else there is to say goes to
stderr.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, no_translations
from django.utils import timezone

from smarketing.tenancy.models import ApiKey, Organization
from smarketing.tenancy.services import TenancyError, api_key_create_for_operator

SCOPES = {
    "read": ApiKey.Scope.READ,
    "rw": ApiKey.Scope.READ_WRITE,
    "read_write": ApiKey.Scope.READ_WRITE,
}


class Command(BaseCommand):
    help = "Create an API key for an organization and print it (stdout: the key alone)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--scope", choices=sorted(SCOPES), default="read", help="default: read")
        parser.add_argument("--name", default=None, help='default: "Operator key <date>"')

    @no_translations  # operator console: English, like the rest of manage.py
    def handle(self, *args, **opts) -> None:
        org = Organization.objects.filter(slug=opts["slug"]).first()
        if org is None:
            raise CommandError(f"no organization with slug {opts['slug']!r}")
        name = opts["name"] or f"Operator key {timezone.localdate():%Y-%m-%d}"
        try:
            api_key, secret = api_key_create_for_operator(
                organization=org, name=name, scope=SCOPES[opts["scope"]]
            )
        except TenancyError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"API key {api_key.prefix}… ({api_key.scope}) created for {org.slug}; "
            "it is shown once, store it now."
        )
        self.stdout.write(secret)
