"""Reads of the scoring app: models and their rules, a lead's explanation, runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from leads.models import Lead
from smarketing.tenancy.models import Organization
from smarketing.tenancy.selectors import get_object_for_org

from .models import BehaviourRule, FitRule, RescoreRun, ScoreContribution, ScoringModel


def get_scoring_model_for_org(organization: Organization, model_id) -> ScoringModel:
    return get_object_for_org(ScoringModel, organization, pk=model_id)


def get_fit_rule_for_org(organization: Organization, rule_id) -> FitRule:
    return get_object_for_org(FitRule, organization, pk=rule_id)


def get_behaviour_rule_for_org(organization: Organization, rule_id) -> BehaviourRule:
    return get_object_for_org(BehaviourRule, organization, pk=rule_id)


def get_rescore_run_for_org(organization: Organization, run_id) -> RescoreRun:
    return get_object_for_org(RescoreRun, organization, pk=run_id)


def active_model(organization: Organization | int) -> ScoringModel | None:
    return (
        ScoringModel.objects.for_org(organization).filter(status=ScoringModel.Status.ACTIVE).first()
    )


def model_list(organization: Organization, *, status: str = "") -> QuerySet[ScoringModel]:
    """Versions, newest first, with who made and activated them (version history)."""
    models = ScoringModel.objects.for_org(organization).select_related(
        "created_by", "activated_by", "based_on"
    )
    if status:
        models = models.filter(status=status)
    return models.order_by("-version")


def model_with_rules(organization: Organization, model_id) -> ScoringModel:
    """One model with its rules prefetched (two more queries), or 404."""
    org_id = organization.pk
    models = model_list(organization).prefetch_related(
        Prefetch("fit_rules", queryset=FitRule.objects.for_org(org_id).order_by("position", "pk")),
        Prefetch(
            "behaviour_rules",
            queryset=BehaviourRule.objects.for_org(org_id).order_by("position", "pk"),
        ),
    )
    try:
        return models.get(pk=model_id)
    except (ScoringModel.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


@dataclass
class Explanation:
    """A lead's score and why (SPEC.md §2 "Explanation")."""

    lead: Lead
    model: ScoringModel | None
    contributions: list[ScoreContribution]

    @property
    def behaviour(self) -> Decimal:
        return sum(
            (c.points for c in self.contributions if c.kind == ScoreContribution.Kind.BEHAVIOUR),
            Decimal(0),
        )

    @property
    def hot_since(self) -> datetime | None:
        return self.lead.hot_since if self.lead.hot else None


def lead_explanation(lead: Lead) -> Explanation:
    """The contributions of the lead's last scoring (two queries). The model is the one
    that produced them; a lead no rule matched shows the active model."""
    contributions = list(
        ScoreContribution.objects.for_org(lead.organization_id)
        .filter(lead=lead)
        .select_related("model")
        .order_by("-points", "kind", "pk")
    )
    model = contributions[0].model if contributions else active_model(lead.organization_id)
    return Explanation(lead=lead, model=model, contributions=contributions)


def latest_run(organization: Organization) -> RescoreRun | None:
    return RescoreRun.objects.for_org(organization).order_by("-created_at", "-pk").first()
