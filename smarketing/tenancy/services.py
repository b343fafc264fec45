"""Writes of the tenancy app: organizations, members, invitations, API keys, kiosk tokens.

Keyword-only, atomic, and each checks the actor's permission itself, so a view or an
API action cannot forget to.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.text import slugify
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError

from .db import system_context, tenant_context
from .models import ApiKey, Invitation, KioskToken, Membership, Organization
from .permissions import Role, assignable_roles, has_perm, require_perm

INVITATION_SALT = "smarketing.tenancy.invitation"
RESERVED_SLUGS = {"admin", "api", "static", "new", "settings", "o", "tv", "hooks"}


class TenancyError(ServiceError):
    pass


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "organization"
    if base in RESERVED_SLUGS:
        base = f"{base}-org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(
    *,
    name: str,
    owner,
    slug: str | None = None,
    time_zone: str = "Europe/Paris",
    language: str = "fr",
    currency: str = "EUR",
) -> Organization:
    """A new organization with ``owner`` as its first member."""
    name = name.strip()
    if not name:
        raise TenancyError(_("Name is required."), fields={"name": [_("This field is required.")]})
    if slug:
        slug = slugify(slug)
        if slug in RESERVED_SLUGS or Organization.objects.filter(slug=slug).exists():
            raise TenancyError(
                _("This address is already taken."),
                fields={"slug": [_("This address is already taken.")]},
            )
    org = Organization.objects.create(
        name=name,
        slug=slug or _unique_slug(name),
        time_zone=time_zone,
        language=language,
        currency=currency,
    )
    with tenant_context(org.pk):
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    return org


@transaction.atomic
def organization_update(*, actor: Membership, **changes) -> Organization:
    require_perm(actor, "organization.manage")
    org = actor.organization
    allowed = {"name", "time_zone", "language", "currency"}
    for field, value in changes.items():
        if field not in allowed:
            raise TenancyError(f"unknown field {field}", fields={field: [_("Unknown field.")]})
        setattr(org, field, value)
    org.save(update_fields=list(changes))
    return org


# --- Members ------------------------------------------------------------------------


def _owner_count(org: Organization) -> int:
    return Membership.objects.for_org(org).filter(role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, actor: Membership, target: Membership, role: str) -> Membership:
    require_perm(actor, "members.manage")
    if role not in Role.values:
        raise TenancyError(_("Unknown role."), fields={"role": [_("Unknown role.")]})
    touches_owner = Role.OWNER in (target.role, role)
    if touches_owner and not has_perm(actor, "members.manage_owners"):
        raise TenancyError(
            _("Only an owner can make or unmake an owner."), status=403, code="permission_denied"
        )
    # Lock the owners so two concurrent demotions cannot leave none.
    list(
        Membership.objects.for_org(actor.organization_id)
        .filter(role=Role.OWNER)
        .select_for_update()
    )
    if target.role == Role.OWNER and role != Role.OWNER and _owner_count(actor.organization) <= 1:
        raise TenancyError(
            _("An organization keeps at least one owner."),
            fields={"role": [_("An organization keeps at least one owner.")]},
        )
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def membership_remove(*, actor: Membership, target: Membership) -> None:
    if actor.pk != target.pk:
        require_perm(actor, "members.manage")
        if target.role == Role.OWNER and not has_perm(actor, "members.manage_owners"):
            raise TenancyError(
                _("Only an owner can remove an owner."), status=403, code="permission_denied"
            )
    list(
        Membership.objects.for_org(actor.organization_id)
        .filter(role=Role.OWNER)
        .select_for_update()
    )
    if target.role == Role.OWNER and _owner_count(actor.organization) <= 1:
        raise TenancyError(_("An organization keeps at least one owner."))
    target.delete()


# --- Invitations --------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps([invitation.pk, invitation.nonce], salt=INVITATION_SALT, compress=True)


def invitation_url(invitation: Invitation) -> str:
    from django.urls import reverse

    return settings.SITE_URL + reverse("accounts:invitation", args=[invitation_token(invitation)])


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str) -> Invitation:
    """Invite an address to join with a role; the e-mail goes out after commit."""
    require_perm(actor, "members.manage")
    email = get_user_model().objects.normalize_email(email.strip()).lower()
    if role not in [r.value for r in assignable_roles(actor)]:
        raise TenancyError(
            _("You cannot give this role."), fields={"role": [_("You cannot give this role.")]}
        )
    org = actor.organization
    if Membership.objects.for_org(org).filter(user__email__iexact=email).exists():
        raise TenancyError(
            _("This person is already a member."),
            fields={"email": [_("This person is already a member.")]},
        )
    # A new invitation to the same address replaces the open one.
    Invitation.objects.for_org(org).filter(email=email, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    invitation = Invitation.objects.create(
        organization=org,
        email=email,
        role=role,
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    from .tasks import send_invitation_email

    transaction.on_commit(lambda: send_invitation_email.delay(org.pk, invitation.pk))
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation) -> None:
    require_perm(actor, "members.manage")
    Invitation.objects.for_org(actor.organization_id).filter(
        pk=invitation.pk, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())


def invitation_from_token(token: str) -> Invitation:
    """The open invitation a link carries, or TenancyError (expired, used, revoked, forged)."""
    invalid = TenancyError(
        _("This invitation link is invalid or has expired."), status=404, code="invitation_invalid"
    )
    try:
        pk, nonce = signing.loads(
            token, salt=INVITATION_SALT, max_age=timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
        )
    except (signing.BadSignature, ValueError, TypeError):
        raise invalid from None
    with system_context("invitation look-up by signed token"):
        invitation = Invitation.unscoped.select_related("organization").filter(pk=pk).first()
    if invitation is None or not constant_time_compare(invitation.nonce, str(nonce)):
        raise invalid
    if not invitation.is_open:
        raise invalid
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user) -> Membership:
    invitation = invitation_from_token(token)
    if user.email.lower() != invitation.email.lower():
        raise TenancyError(
            _("This invitation was sent to %(email)s. Sign in with that address to accept it.")
            % {"email": invitation.email},
            status=403,
            code="invitation_other_user",
        )
    org = invitation.organization
    with tenant_context(org.pk):
        claimed = (
            Invitation.objects.for_org(org)
            .filter(pk=invitation.pk, accepted_at=None, revoked_at=None)
            .update(accepted_at=timezone.now(), accepted_by=user)
        )
        if not claimed:
            raise TenancyError(_("This invitation link is invalid or has expired."), status=404)
        membership, created = Membership.objects.for_org(org).get_or_create(
            user=user, defaults={"role": invitation.role}
        )
        if created:
            _announce_new_member(org, membership)
    membership.organization = org
    return membership


def _announce_new_member(org: Organization, membership: Membership) -> None:
    from django.urls import reverse
    from django.utils.translation import gettext_lazy

    from smarketing.notifications.services import notify

    admins = [
        m.user
        for m in Membership.objects.for_org(org)
        .select_related("user")
        .filter(role__in=[Role.OWNER, Role.ADMIN])
        .exclude(pk=membership.pk)
    ]
    if admins:
        notify(
            organization=org,
            recipients=admins,
            kind="member.joined",
            title=gettext_lazy("A new member joined the organization"),
            body=f"{membership.user.get_full_name()} ({membership.user.email})",
            url=reverse("org-members", kwargs={"org_slug": org.slug}),
            dedupe_key=f"member.joined:{membership.pk}",
        )


# --- API keys and kiosk tokens ------------------------------------------------------


@transaction.atomic
def api_key_create(*, actor: Membership, name: str, scope: str) -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and only its hash is stored."""
    require_perm(actor, "api_keys.manage")
    name = (name or "").strip()
    if not name:
        raise TenancyError(_("Name is required."), fields={"name": [_("This field is required.")]})
    if scope not in ApiKey.Scope.values:
        raise TenancyError(_("Unknown scope."), fields={"scope": [_("Unknown scope.")]})
    return _api_key_create(
        organization=actor.organization, name=name, scope=scope, created_by=actor.user
    )


def _api_key_create(*, organization: Organization, name: str, scope: str, created_by=None):
    for _attempt in range(3):
        secret, prefix, key_hash = ApiKey.generate()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    scope=scope,
                    prefix=prefix,
                    key_hash=key_hash,
                    created_by=created_by,
                )
            return key, secret
        except IntegrityError:  # a 256-bit collision: draw again
            continue
    raise TenancyError("could not generate a unique key")


def api_key_create_for_operator(*, organization: Organization, name: str, scope: str):
    """``manage.py create_api_key``: the operator acts as the system, not as a member."""
    with tenant_context(organization.pk):
        return _api_key_create(organization=organization, name=name, scope=scope)


@transaction.atomic
def api_key_revoke(*, actor: Membership, api_key: ApiKey) -> None:
    require_perm(actor, "api_keys.manage")
    ApiKey.objects.for_org(actor.organization_id).filter(pk=api_key.pk, revoked_at=None).update(
        revoked_at=timezone.now()
    )


def api_key_touch(api_key: ApiKey) -> None:
    """Record use, at most once a minute per key, to keep requests cheap."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < timedelta(minutes=1):
        return
    ApiKey.objects.for_org(api_key.organization_id).filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def kiosk_token_create(*, actor: Membership, name: str) -> tuple[KioskToken, str]:
    require_perm(actor, "kiosk_tokens.manage")
    name = (name or "").strip()
    if not name:
        raise TenancyError(_("Name is required."), fields={"name": [_("This field is required.")]})
    token, prefix, token_hash = KioskToken.generate()
    kiosk = KioskToken.objects.create(
        organization=actor.organization,
        name=name,
        prefix=prefix,
        token_hash=token_hash,
        created_by=actor.user,
    )
    return kiosk, token


@transaction.atomic
def kiosk_token_revoke(*, actor: Membership, kiosk_token: KioskToken) -> None:
    require_perm(actor, "kiosk_tokens.manage")
    KioskToken.objects.for_org(actor.organization_id).filter(
        pk=kiosk_token.pk, revoked_at=None
    ).update(revoked_at=timezone.now())


def kiosk_token_touch(kiosk_token: KioskToken) -> None:
    now = timezone.now()
    if kiosk_token.last_used_at and now - kiosk_token.last_used_at < timedelta(minutes=1):
        return
    KioskToken.objects.for_org(kiosk_token.organization_id).filter(pk=kiosk_token.pk).update(
        last_used_at=now
    )
