"""The registry of notification kinds: what each is called and where it goes by default.

A kind is a dotted code (``lead.hot``) that senders pass to ``services.notify``. The
defaults apply to every user who has not chosen otherwise on the preferences page (no
``NotificationPreference`` row = the kind's defaults). Apps register their own kinds
at import time with ``register(...)``; the common ones are declared here so the
preferences page lists them from the start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Kind:
    code: str
    label: str | Promise
    in_app: bool = True
    email: bool = False


_registry: dict[str, Kind] = {}


def register(code: str, label: str | Promise, *, in_app: bool = True, email: bool = False) -> Kind:
    """Declare a kind (idempotent for the same definition, so module reloads are fine)."""
    kind = Kind(code=code, label=label, in_app=in_app, email=email)
    existing = _registry.get(code)
    if existing is not None and existing != kind:
        raise ValueError(f"notification kind {code!r} is already registered differently")
    _registry[code] = kind
    return kind


def get(code: str) -> Kind | None:
    return _registry.get(code)


def all_kinds() -> list[Kind]:
    """Every kind in registration order (the preferences table's rows)."""
    return list(_registry.values())


register("lead.mql", _("A lead became marketing-qualified"), email=True)
register("lead.hot", _("A lead became hot"), email=True)
register("lead.assigned", _("A lead was assigned to me"), email=True)
register("sla.warned", _("A follow-up deadline is near"))
register("sla.breached", _("A follow-up deadline was missed"), email=True)
register("sla.escalated", _("A missed deadline was escalated to me"), email=True)
register("sla.signature", _("The SLA contract awaits a signature"), email=True)
register("sla.contract_signed", _("A new SLA contract is in force"), email=True)
register("marketing.behind", _("Marketing is behind its target"), email=True)
register("meeting.published", _("A meeting pack was published"), email=True)
register("member.joined", _("A new member joined the organization"))
