"""The sla app: receivers of the lower apps' domain signals (DESIGN.md §3). Each only
calls a service; they run inside the sender's transaction, so a clock starts or stops
with the change that caused it (or not at all)."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def on_stage_changed(sender, *, organization, lead, to_stage, at=None, **kwargs) -> None:
    from leads.models import Stage

    from . import services
    from .models import Trigger

    if to_stage == Stage.MQL:
        services.start_clocks(organization, lead, Trigger.BECAME_MQL, at, ref="mql")


def on_events_ingested(sender, *, organization, events=(), at=None, **kwargs) -> None:
    from . import services

    if events:
        services.start_event_clocks(organization, events, now=at)


def on_lead_became_hot(sender, *, organization, lead, at=None, **kwargs) -> None:
    from . import services
    from .models import Trigger

    services.start_clocks(organization, lead, Trigger.BECAME_HOT, at, ref="hot")


def on_lead_touched(sender, *, organization, lead, at=None, kind="", **kwargs) -> None:
    from . import services

    services.stop_clocks_on_touch(organization, lead, at, kind or "")


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = _("SLA contract")

    def ready(self) -> None:
        from leads import signals as leads_signals
        from scoring import signals as scoring_signals

        leads_signals.stage_changed.connect(on_stage_changed, dispatch_uid="sla.on_stage_changed")
        leads_signals.events_ingested.connect(
            on_events_ingested, dispatch_uid="sla.on_events_ingested"
        )
        leads_signals.lead_touched.connect(on_lead_touched, dispatch_uid="sla.on_lead_touched")
        scoring_signals.lead_became_hot.connect(
            on_lead_became_hot, dispatch_uid="sla.on_lead_became_hot"
        )
        from . import tasks  # noqa: F401 - registers the beat schedule

        try:  # the countdown badge on the leads pages (sla-ui's sla/badges.py)
            import_module("sla.badges")
        except ModuleNotFoundError as error:
            if error.name != "sla.badges":
                raise
