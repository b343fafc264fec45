from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .permissions import PERMISSIONS, has_perm
from .selectors import user_organizations


class _Can:
    """``{% if can.members_manage %}``: for showing links only; views enforce."""

    def __init__(self, membership) -> None:
        self._membership = membership

    _names = {perm.replace(".", "_"): perm for perm in PERMISSIONS}

    def __getattr__(self, name: str) -> bool:
        perm = self._names.get(name)
        return perm is not None and has_perm(self._membership, perm)


def tenancy(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    membership = getattr(request, "membership", None)
    context: dict[str, Any] = {
        "organization": getattr(request, "organization", None),
        "membership": membership,
        "can": _Can(membership),
    }
    if user is not None and user.is_authenticated:
        context["my_organizations"] = SimpleLazyObject(lambda: user_organizations(user))
    return context
