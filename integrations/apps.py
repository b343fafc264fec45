from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from leads import signals as leads_signals
        from meetings import signals as meetings_signals
        from scoring import signals as scoring_signals
        from sla import signals as sla_signals

        from . import receivers
        from .connectors.base import load_connectors

        load_connectors()
        uid = "integrations."
        leads_signals.stage_changed.connect(
            receivers.on_stage_changed, dispatch_uid=uid + "stage_changed"
        )
        leads_signals.deal_won.connect(receivers.on_deal_won, dispatch_uid=uid + "deal_won")
        scoring_signals.lead_became_hot.connect(
            receivers.on_lead_became_hot, dispatch_uid=uid + "lead_became_hot"
        )
        sla_signals.clock_warned.connect(receivers.on_clock_warned, dispatch_uid=uid + "warned")
        sla_signals.clock_breached.connect(
            receivers.on_clock_breached, dispatch_uid=uid + "breached"
        )
        meetings_signals.meeting_published.connect(
            receivers.on_meeting_published, dispatch_uid=uid + "meeting_published"
        )
