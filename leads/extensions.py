"""Hooks through which higher apps add to the leads pages without leads importing them
(apps depend downwards only, DESIGN.md §3).

``lead_badges``: providers called once per page with every lead on it. A provider is
``fn(organization, leads, *, single=False) -> {lead_id: html}``: ``single`` is true on
one lead's own page (its detail), false on lists (the queue, a refreshed queue row). The
html must be a ``SafeString`` (``render_to_string``, ``format_html``): a plain ``str``
is escaped, never trusted. A provider reads what it needs for all the leads in a
bounded number of queries.
The sla app registers its countdown here (sla/badges.py, from its ``AppConfig.ready``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.utils.html import conditional_escape, format_html_join
from django.utils.safestring import SafeString

BadgeProvider = Callable[..., dict[int, str]]

lead_badges: list[BadgeProvider] = []
# Static files the badges need on the queue and lead pages ("sla/sla.css", "sla/countdown.js").
lead_page_styles: list[str] = []
lead_page_scripts: list[str] = []


def register_lead_badges(
    provider: BadgeProvider, *, styles: Sequence[str] = (), scripts: Sequence[str] = ()
) -> BadgeProvider:
    """Add a provider (and the static files it needs) once: ``ready()`` may run twice."""
    if provider not in lead_badges:
        lead_badges.append(provider)
    for path in styles:
        if path not in lead_page_styles:
            lead_page_styles.append(path)
    for path in scripts:
        if path not in lead_page_scripts:
            lead_page_scripts.append(path)
    return provider


def page_media() -> dict[str, list[str]]:
    """``extension_styles`` / ``extension_scripts`` for the leads pages' ``<head>``."""
    return {"extension_styles": lead_page_styles, "extension_scripts": lead_page_scripts}


def badges_for(
    organization: Any, leads: Iterable[Any], *, single: bool = False
) -> dict[int, SafeString]:
    """``{lead_id: html}`` for these leads: every provider's badges side by side.
    ``single``: this is the lead's own page. A provider's ``SafeString`` is kept as it
    is; anything else is escaped."""
    leads = list(leads)
    if not leads or not lead_badges:
        return {}
    parts: dict[int, list[str]] = {}
    for provider in lead_badges:
        for lead_id, html in (provider(organization, leads, single=single) or {}).items():
            if html:
                parts.setdefault(lead_id, []).append(conditional_escape(html))
    return {
        lead_id: format_html_join("", "{}", ((html,) for html in htmls))
        for lead_id, htmls in parts.items()
    }
