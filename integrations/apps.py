from __future__ import annotations

import importlib
import importlib.util

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _optional_signals(module: str):
    """The signals module of an app that may not be written yet."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(module)


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from leads import signals as leads_signals
        from scoring import signals as scoring_signals

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
        sla = _optional_signals("sla.signals")
        if sla is not None:
            if hasattr(sla, "clock_warned"):
                sla.clock_warned.connect(receivers.on_clock_warned, dispatch_uid=uid + "warned")
            if hasattr(sla, "clock_breached"):
                sla.clock_breached.connect(
                    receivers.on_clock_breached, dispatch_uid=uid + "breached"
                )
        meetings = _optional_signals("meetings.signals")
        if meetings is not None and hasattr(meetings, "meeting_published"):
            meetings.meeting_published.connect(
                receivers.on_meeting_published, dispatch_uid=uid + "meeting_published"
            )
