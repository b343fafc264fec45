from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeetingsConfig(AppConfig):
    name = "meetings"
    verbose_name = _("Meetings")

    def ready(self) -> None:
        from smarketing.tenancy import views as tenancy_views

        from . import rollout, tasks  # noqa: F401 (tasks registers its beat entry)

        # The rollout progress on the organization home, without tenancy importing us.
        panels = getattr(tenancy_views, "HOME_PANELS", None)
        if panels is not None and rollout.home_panel not in panels:
            panels.append(rollout.home_panel)
