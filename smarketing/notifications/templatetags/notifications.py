"""``{% load notifications %}{% unread_count %}``: the bell's number on every page,
without every view having to put it in the context."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_count(context: dict[str, Any]) -> int:
    from smarketing.notifications import selectors

    membership = context.get("membership")
    if membership is None:
        request = context.get("request")
        membership = getattr(request, "membership", None)
    if membership is None:
        return 0
    # One query per page render; cached on the membership so a page that shows the
    # count twice (bar + menu) does not pay twice.
    cached = getattr(membership, "_unread_count", None)
    if cached is None:
        cached = selectors.unread_count(membership)
        membership._unread_count = cached
    return cached
