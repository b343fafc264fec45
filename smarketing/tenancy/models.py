"""Organizations (tenants), who belongs to them, and how machines reach them.

Every tenant-owned model inherits ``TenantModel``: a non-null indexed ``organization``
foreign key, a fail-closed default manager (``Model.objects`` refuses to run a query
that was not scoped with ``for_org``) and a loudly named ``unscoped`` manager for
system tasks and the operator admin. Row-level security in PostgreSQL is the second
wall (``operations.EnableRowLevelSecurity``).
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .permissions import Role


class TenantScopeError(RuntimeError):
    """A tenant table was queried without saying for which organization."""


class TenantQuerySet(models.QuerySet):
    def for_org(self, organization: Organization | int) -> TenantQuerySet:
        org_id = organization if isinstance(organization, int) else organization.pk
        if not org_id:
            raise TenantScopeError("for_org() needs a saved organization")
        qs = self.filter(organization_id=org_id)
        qs._scoped_org_id = org_id
        return qs

    def _clone(self):
        clone = super()._clone()
        clone._scoped_org_id = getattr(self, "_scoped_org_id", None)
        return clone

    def create(self, **kwargs: Any):
        scoped = getattr(self, "_scoped_org_id", None)
        if scoped is not None:
            kwargs.setdefault("organization_id", scoped)
        return super().create(**kwargs)


class ScopedManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """The default way in: ``Lead.objects.for_org(org)``; anything else raises."""

    def get_queryset(self) -> TenantQuerySet:
        raise TenantScopeError(
            f"{self.model.__name__}.objects must be scoped: use "
            f"{self.model.__name__}.objects.for_org(organization)"
        )

    def for_org(self, organization: Organization | int) -> TenantQuerySet:
        return super().get_queryset().for_org(organization)

    def create(self, **kwargs: Any):
        if not (kwargs.get("organization") or kwargs.get("organization_id")):
            raise TenantScopeError(f"{self.model.__name__} needs an organization")
        return super().get_queryset().create(**kwargs)

    def bulk_create(self, objs, *args: Any, **kwargs: Any):
        objs = list(objs)
        if any(not obj.organization_id for obj in objs):
            raise TenantScopeError(f"every {self.model.__name__} needs an organization")
        return super().get_queryset().bulk_create(objs, *args, **kwargs)


class UnscopedManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Across organizations: system tasks and the operator admin only."""


class TenantModel(models.Model):
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+", db_index=True
    )

    # Declared first so that Django's internals (related managers, admin, dumpdata)
    # use it; they start from an instance or run in the system context.
    unscoped = UnscopedManager()
    objects = ScopedManager()

    class Meta:
        abstract = True


def _random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (API keys, kiosk tokens).

    These secrets carry 256 bits of randomness, so a fast hash is enough; a slow
    password hash would only slow down every API request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class Organization(models.Model):
    """A tenant: one customer company with its marketing and sales teams."""

    class Language(models.TextChoices):
        FR = "fr", _("French")
        EN = "en", _("English")

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.FR
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> tzinfo:
        """The organization's time zone: its local days, weeks and working hours. A name
        the zone database does not know falls back to the platform's (settings)."""
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return timezone.get_default_timezone()


class Membership(TenantModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=24, choices=Role.choices)
    created_at = models.DateTimeField(_("joined at"), default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class Invitation(TenantModel):
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=24, choices=Role.choices)
    # The signed token carries the id and this nonce; revoking or accepting voids it.
    nonce = models.CharField(max_length=64, default=_random_token)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and organization.
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_open_unique",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKey(TenantModel):
    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    PREFIX = "smk_"

    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(_("prefix"), max_length=16)
    key_hash = models.CharField(max_length=64, db_index=True)
    scope = models.CharField(_("scope"), max_length=12, choices=Scope.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key_hash"], name="apikey_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """A new secret: (full key shown once, visible prefix, stored hash)."""
        body = _random_token(32)
        key = f"{cls.PREFIX}{body}"
        return key, key[: len(cls.PREFIX) + 8], hash_secret(key)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.READ_WRITE


class KioskToken(TenantModel):
    """Read-only access for a TV in the open space: no login, revocable."""

    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(_("prefix"), max_length=16)
    token_hash = models.CharField(max_length=64, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("kiosk token")
        verbose_name_plural = _("kiosk tokens")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "token_hash"], name="kiosk_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        token = _random_token(24)
        return token, token[:8], hash_secret(token)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
