"""Writes of the leads app: the lifecycle of SPEC.md §1, sales activities and decisions,
deals, and lead create/update.

Every service is keyword-only and atomic, takes the acting party (``actor``: a
Membership, or an ``ApiKeyActor`` for an integration; ``None`` only for the system,
i.e. scoring) and checks its permission itself. Stage changes are compare-and-swap
updates on the lead's current stage: two reps accepting the same MQL at once produce
one SAL and one clear error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from smarketing.errors import ServiceError
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import require_perm

from . import signals
from .models import (
    Activity,
    Company,
    Deal,
    Decision,
    Lead,
    LifecycleTransition,
    Qualification,
    RejectReason,
    Stage,
)

SYSTEM = None  # the actor of automatic moves (scoring)

# Rejections that say the person will never buy go to disqualified; the others go
# back to nurturing (recycled) and may become MQL again.
DISQUALIFYING_REASONS = frozenset(
    {
        RejectReason.STUDENT,
        RejectReason.COMPETITOR,
        RejectReason.DUPLICATE,
        RejectReason.WRONG_CONTACT,
        RejectReason.BAD_FIT,
    }
)
AUTO_MQL_FROM = frozenset({Stage.SUBSCRIBER, Stage.LEAD, Stage.RECYCLED})


class LeadError(ServiceError):
    pass


def _user(actor):
    return getattr(actor, "user", None)


def _transition(
    *,
    lead: Lead,
    from_stages: set[str] | frozenset[str],
    to_stage: str,
    by,
    reason: str = "",
    at: datetime | None = None,
) -> LifecycleTransition:
    """Move ``lead`` if it is still in one of ``from_stages``; record and announce it."""
    at = at or timezone.now()
    # Lock the row and read its real stage: the in-memory lead may be stale.
    from_stage = (
        Lead.objects.for_org(lead.organization_id)
        .select_for_update()
        .filter(pk=lead.pk)
        .values_list("stage", flat=True)
        .first()
    )
    if from_stage not in from_stages:
        raise LeadError(
            _("This lead is %(stage)s: it cannot move to %(to)s.")
            % {
                "stage": Stage(from_stage).label if from_stage else "?",
                "to": Stage(to_stage).label,
            },
            code="invalid_transition",
            status=409,
            fields={"stage": [_("Not allowed from the current stage.")]},
        )
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk).update(
        stage=to_stage, stage_changed_at=at
    )
    transition = LifecycleTransition.objects.create(
        organization_id=lead.organization_id,
        lead=lead,
        from_stage=from_stage,
        to_stage=to_stage,
        at=at,
        by=by,
        reason=reason[:500],
    )
    lead.stage, lead.stage_changed_at = to_stage, at
    signals.stage_changed.send(
        sender=Lead,
        organization=lead.organization,
        lead=lead,
        from_stage=from_stage,
        to_stage=to_stage,
        at=at,
        by=by,
    )
    return transition


def _touch(*, lead: Lead, at: datetime, kind: str, by) -> None:
    """The lead's first touch is recorded once; every touch is announced (SLA)."""
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk, first_touch_at=None).update(
        first_touch_at=at
    )
    if lead.first_touch_at is None:
        lead.first_touch_at = at
    signals.lead_touched.send(
        sender=Lead, organization=lead.organization, lead=lead, at=at, kind=kind, by=by
    )


# --- Automatic and manual moves -----------------------------------------------------


@transaction.atomic
def lead_mark_mql(*, lead: Lead, reason: str, at: datetime | None = None) -> bool:
    """Scoring: the lead crossed the threshold. Idempotent: False if not eligible."""
    if lead.stage not in AUTO_MQL_FROM:
        return False
    try:
        with transaction.atomic():
            _transition(
                lead=lead,
                from_stages=AUTO_MQL_FROM,
                to_stage=Stage.MQL,
                by=None,
                reason=reason,
                at=at,
            )
    except LeadError:
        return False  # moved meanwhile by someone else
    return True


@transaction.atomic
def lead_move(*, actor, lead: Lead, to_stage: str, reason: str) -> LifecycleTransition:
    """A manager moves a lead anywhere, with a reason (SPEC.md §1)."""
    require_perm(actor, "leads.move_any")
    if to_stage not in Stage.values:
        raise LeadError(_("Unknown stage."), fields={"stage": [_("Unknown stage.")]})
    if not (reason or "").strip():
        raise LeadError(
            _("A reason is required."), fields={"reason": [_("This field is required.")]}
        )
    if to_stage == lead.stage:
        raise LeadError(
            _("The lead is already at this stage."),
            fields={"stage": [_("The lead is already at this stage.")]},
        )
    return _transition(
        lead=lead,
        from_stages={lead.stage},
        to_stage=to_stage,
        by=_user(actor),
        reason=reason.strip(),
    )


# --- Sales decisions ----------------------------------------------------------------


@transaction.atomic
def lead_accept(*, actor, lead: Lead, comment: str = "") -> Decision:
    """mql → sal. The rep who accepts an unowned lead becomes its owner."""
    require_perm(actor, "leads.decide")
    now = timezone.now()
    by = _user(actor)
    _transition(
        lead=lead, from_stages={Stage.MQL}, to_stage=Stage.SAL, by=by, reason="accepted", at=now
    )
    decision = Decision.objects.create(
        organization_id=lead.organization_id,
        lead=lead,
        kind=Decision.Kind.ACCEPT,
        comment=comment.strip(),
        by=by,
        at=now,
    )
    if lead.owner_id is None and by is not None:
        Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk, owner=None).update(owner=by)
        lead.owner = by
    _touch(lead=lead, at=now, kind="accept", by=by)
    return decision


@transaction.atomic
def lead_reject(
    *, actor, lead: Lead, reason: str, comment: str = "", to_stage: str | None = None
) -> Decision:
    """mql → recycled or disqualified, with a reason code (SPEC.md §1)."""
    require_perm(actor, "leads.decide")
    if reason not in RejectReason.values:
        raise LeadError(
            _("Choose a rejection reason."),
            fields={
                "reason": [_("One of: %(codes)s.") % {"codes": ", ".join(RejectReason.values)}]
            },
        )
    if to_stage is None:
        to_stage = Stage.DISQUALIFIED if reason in DISQUALIFYING_REASONS else Stage.RECYCLED
    if to_stage not in (Stage.RECYCLED, Stage.DISQUALIFIED):
        raise LeadError(
            _("A rejected lead is recycled or disqualified."),
            fields={"to_stage": [_("recycled or disqualified")]},
        )
    now = timezone.now()
    by = _user(actor)
    _transition(
        lead=lead,
        from_stages={Stage.MQL},
        to_stage=to_stage,
        by=by,
        reason=reason,
        at=now,
    )
    decision = Decision.objects.create(
        organization_id=lead.organization_id,
        lead=lead,
        kind=Decision.Kind.REJECT,
        reason=reason,
        comment=(comment or "").strip(),
        by=by,
        at=now,
    )
    _touch(lead=lead, at=now, kind="reject", by=by)
    return decision


@transaction.atomic
def lead_qualify(
    *, actor, lead: Lead, budget: str, need: str, authority: str = "", timing: str = ""
) -> Qualification:
    """sal → sql: sales confirms a need and a budget (BANT)."""
    require_perm(actor, "leads.decide")
    errors = {}
    if not (budget or "").strip():
        errors["budget"] = [_("This field is required.")]
    if not (need or "").strip():
        errors["need"] = [_("This field is required.")]
    if errors:
        raise LeadError(_("Budget and need are both required to qualify."), fields=errors)
    now = timezone.now()
    by = _user(actor)
    _transition(
        lead=lead, from_stages={Stage.SAL}, to_stage=Stage.SQL, by=by, reason="qualified", at=now
    )
    return Qualification.objects.create(
        organization_id=lead.organization_id,
        lead=lead,
        budget=budget.strip()[:500],
        need=need.strip()[:500],
        authority=(authority or "").strip()[:500],
        timing=(timing or "").strip()[:500],
        by=by,
        at=now,
    )


@transaction.atomic
def activity_log(
    *, actor, lead: Lead, kind: str, subject: str = "", body: str = "", at: datetime | None = None
) -> Activity:
    require_perm(actor, "leads.edit")
    if kind not in Activity.Kind.values:
        raise LeadError(
            _("Unknown activity kind."), fields={"kind": [_("One of: call, email, meeting, note.")]}
        )
    now = timezone.now()
    at = at or now
    if at > now:
        raise LeadError(
            _("An activity cannot be in the future."),
            fields={"at": [_("An activity cannot be in the future.")]},
        )
    by = _user(actor)
    activity = Activity.objects.create(
        organization_id=lead.organization_id,
        lead=lead,
        kind=kind,
        subject=subject[:200],
        body=body,
        at=at,
        by=by,
    )
    if kind in Activity.TOUCH_KINDS:
        _touch(lead=lead, at=at, kind=kind, by=by)
    return activity


# --- Leads --------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "title",
    "seniority",
    "phone",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "consent_email",
    "consent_tracking",
    "properties",
)


def owner_for(org: Organization, owner_id) -> Any:
    if owner_id in (None, ""):
        return None
    user = (
        get_user_model()
        .objects.filter(
            pk=owner_id,
            memberships__in=Membership.objects.for_org(org),
        )
        .first()
        if str(owner_id).isascii() and str(owner_id).isdigit()
        else None
    )
    if user is None:
        raise LeadError(
            _("The owner must be a member of the organization."),
            fields={"owner": [_("Not a member of this organization.")]},
        )
    return user


def _company_for(org: Organization, name: str, domain: str) -> Company | None:
    domain = (domain or "").strip().lower().removeprefix("www.")
    name = (name or "").strip()
    if domain:
        company = Company.objects.for_org(org).filter(domain=domain).first()
        if company is None:
            try:
                with transaction.atomic():
                    company = Company.objects.create(
                        organization=org, domain=domain, name=name or domain
                    )
            except IntegrityError:
                company = Company.objects.for_org(org).get(domain=domain)
        return company
    if name:
        company = Company.objects.for_org(org).filter(name__iexact=name, domain="").first()
        return company or Company.objects.create(organization=org, name=name)
    return None


@transaction.atomic
def lead_upsert(
    *, actor, organization: Organization, email: str, data: dict[str, Any]
) -> tuple[Lead, bool]:
    """Create or update the lead with this e-mail (case-insensitive). Given fields are
    written as sent: an explicit API write, unlike events that only fill gaps."""
    require_perm(actor, "leads.edit")
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise LeadError(
            _("Enter a valid e-mail address."),
            fields={"email": [_("Enter a valid e-mail address.")]},
        ) from None
    lead = (
        Lead.objects.for_org(organization)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower=email)
        .select_for_update()
        .first()
    )
    created = lead is None
    if created:
        stage = data.get("stage") or Stage.LEAD
        if stage not in (Stage.SUBSCRIBER, Stage.LEAD):
            raise LeadError(
                _("A new lead starts as subscriber or lead."),
                fields={"stage": [_("subscriber or lead")]},
            )
        lead = Lead(
            organization=organization,
            email=email,
            stage=stage,
            source=data.get("source") or Lead.Source.API,
        )
    _apply(lead, organization, data)
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:  # created concurrently by ingestion: update that one instead
        lead = (
            Lead.objects.for_org(organization)
            .annotate(email_lower=Lower("email"))
            .get(email_lower=email)
        )
        created = False
        _apply(lead, organization, data)
        lead.save()
    if created:
        LifecycleTransition.objects.create(
            organization=organization,
            lead=lead,
            from_stage="",
            to_stage=lead.stage,
            by=_user(actor),
            reason="created",
        )
    request_rescore(lead)
    return lead, created


def _apply(lead: Lead, org: Organization, data: dict[str, Any]) -> list[str]:
    """Set the given fields on ``lead``; return the names of the columns written."""
    changed = []
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(lead, name, data[name])
            changed.append(name)
    if "owner" in data:
        lead.owner = owner_for(org, data["owner"])
        changed.append("owner")
    if "company" in data or "company_domain" in data:
        company = _company_for(org, data.get("company", ""), data.get("company_domain", ""))
        if company is not None:
            lead.company = company
            changed.append("company")
    if (lead.consent_email or lead.consent_tracking) and lead.consent_at is None:
        lead.consent_at = timezone.now()
        changed.append("consent_at")
    return changed


@transaction.atomic
def lead_update(*, actor, lead: Lead, data: dict[str, Any]) -> Lead:
    require_perm(actor, "leads.edit")
    if "stage" in data:
        lead_move(actor=actor, lead=lead, to_stage=data["stage"], reason=data.get("reason", ""))
    changed = _apply(lead, lead.organization, data)
    if changed:
        # Only what was edited: scoring and ingestion write other columns concurrently.
        lead.save(update_fields=[*changed, "updated_at"])
        request_rescore(lead)
    return lead


def request_rescore(lead: Lead) -> None:
    """Fit attributes changed: the scoring sweeper re-scores the lead (≤ 30 s)."""
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk, rescore_requested_at=None).update(
        rescore_requested_at=timezone.now()
    )


# --- Deals --------------------------------------------------------------------------


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise LeadError(_("Not an amount."), fields={"amount": [_("Not an amount.")]}) from None
    if amount < 0 or amount.as_tuple().exponent < -2:
        raise LeadError(
            _("A positive amount with at most 2 decimals."),
            fields={"amount": [_("A positive amount with at most 2 decimals.")]},
        )
    return amount


@transaction.atomic
def deal_create(
    *,
    actor,
    organization: Organization,
    name: str,
    amount,
    lead: Lead | None = None,
    company: Company | None = None,
    currency: str | None = None,
    stage: str = "qualification",
    owner=None,
    created_at: datetime | None = None,
    source: str = "",
    external_id: str = "",
) -> Deal:
    """A deal; a lead at SQL moves to opportunity (SPEC.md §1)."""
    require_perm(actor, "deals.edit")
    if not (name or "").strip():
        raise LeadError(_("Name is required."), fields={"name": [_("This field is required.")]})
    deal = Deal.objects.create(
        organization=organization,
        name=name.strip()[:200],
        amount=_amount(amount),
        currency=(currency or organization.currency).upper()[:3],
        stage=stage[:40],
        lead=lead,
        company=company or (lead.company if lead else None),
        owner=owner or (lead.owner if lead else None) or _user(actor),
        created_at=created_at or timezone.now(),
        source=source,
        external_id=external_id,
    )
    if lead is not None and lead.stage == Stage.SQL:
        _transition(
            lead=lead,
            from_stages={Stage.SQL},
            to_stage=Stage.OPPORTUNITY,
            by=_user(actor),
            reason="deal_created",
            at=deal.created_at,
        )
    return deal


@transaction.atomic
def deal_update(*, actor, deal: Deal, data: dict[str, Any]) -> Deal:
    """Edit a deal; closing it won moves its lead from opportunity to customer."""
    require_perm(actor, "deals.edit")
    was = deal.status
    for name in ("name", "stage", "currency"):
        if name in data:
            setattr(deal, name, str(data[name])[:200])
    if "amount" in data:
        deal.amount = _amount(data["amount"])
    if "owner" in data:
        deal.owner = owner_for(deal.organization, data["owner"])
    status = data.get("status", deal.status)
    if status not in Deal.Status.values:
        raise LeadError(_("Unknown status."), fields={"status": [_("open, won or lost")]})
    deal.status = status
    if status != Deal.Status.OPEN:
        deal.closed_at = data.get("closed_at") or deal.closed_at or timezone.now()
    else:
        deal.closed_at = None
    deal.save()
    if status == Deal.Status.WON and was != Deal.Status.WON:
        lead = deal.lead
        if lead is not None and lead.stage == Stage.OPPORTUNITY:
            _transition(
                lead=lead,
                from_stages={Stage.OPPORTUNITY},
                to_stage=Stage.CUSTOMER,
                by=_user(actor),
                reason="deal_won",
                at=deal.closed_at,
            )
        signals.deal_won.send(sender=Deal, organization=deal.organization, deal=deal)
    return deal
