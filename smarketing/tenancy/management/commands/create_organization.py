"""``manage.py create_organization <slug> --name ... --owner <email> [--password ...]``

For platform operators: a new organization with its first owner. The owner's user is
created when the address is unknown (without ``--password`` it gets no usable password:
the owner then sets one through "forgot password"). An existing user keeps theirs.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, no_translations
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from smarketing.tenancy.models import Organization
from smarketing.tenancy.services import TenancyError, organization_create


class Command(BaseCommand):
    help = "Create an organization and its owner (the user is created if missing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="the organization's address: /o/<slug>/")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, metavar="EMAIL")
        parser.add_argument("--password", help="password for a newly created owner")
        parser.add_argument("--full-name", default="", help="name for a newly created owner")
        parser.add_argument(
            "--language", choices=Organization.Language.values, default=Organization.Language.FR
        )
        parser.add_argument("--time-zone", default="Europe/Paris")
        parser.add_argument("--currency", default="EUR")

    @no_translations  # operator console: English, like the rest of manage.py
    def handle(self, *args, **opts) -> None:
        slug = opts["slug"]
        if slugify(slug) != slug:
            raise CommandError(f"{slug!r} is not a valid slug (try {slugify(slug)!r})")
        email = get_user_model().objects.normalize_email(opts["owner"].strip()).lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{opts['owner']!r} is not an e-mail address") from None
        with transaction.atomic():
            owner, created = self._owner(email, opts["password"], opts["full_name"])
            try:
                org = organization_create(
                    name=opts["name"],
                    owner=owner,
                    slug=slug,
                    time_zone=opts["time_zone"],
                    language=opts["language"],
                    currency=opts["currency"].upper(),
                )
            except TenancyError as exc:
                details = [f"{k}: {' '.join(map(str, v))}" for k, v in exc.fields.items()]
                raise CommandError("; ".join(details) or str(exc.message)) from None
        if created:
            how = "with the given password" if opts["password"] else "without a password"
            self.stdout.write(f"created user {email} {how}")
        elif opts["password"]:
            self.stderr.write(f"user {email} already exists: --password ignored")
        self.stdout.write(
            self.style.SUCCESS(f"created organization {org.slug} ({org.name}), owner {email}")
        )

    def _owner(self, email: str, password: str | None, full_name: str):
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        if user is not None:
            return user, False
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
        if not password:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user, True
