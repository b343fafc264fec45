"""Field mappings of a connection: SPEC §5 event field → dotted path in a vendor record.

``{"email": "properties.email", "first_name": "properties.firstname",
"properties.plan": "properties.plan", "campaign.utm_source": "utm.source"}``

Targets are the event fields of ``leads.ingest.KNOWN_FIELDS`` (``properties.<name>``
and ``campaign.<utm field>`` nest); paths use ``leads.hooks.resolve_path`` (``a.b.0.c``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from leads.hooks import _MISSING, _put, _target_ok, resolve_path

MAX_ENTRIES = 100
MAX_PATH = 200


def apply_mapping(mapping: dict[str, str], record: Any) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for target, path in mapping.items():
        if not path:
            continue
        value = resolve_path(record, path)
        if value is _MISSING or value is None or value == "":
            continue
        _put(event, target, value)
    return event


def clean_field_mapping(raw: Any) -> tuple[dict[str, str], list[str]]:
    """(cleaned mapping, error messages). An empty path switches a default off."""
    errors: list[str] = []
    if raw in (None, ""):
        return {}, errors
    if not isinstance(raw, dict):
        return {}, [_("The mapping is a JSON object of event field → vendor path.")]
    if len(raw) > MAX_ENTRIES:
        errors.append(_("At most %(n)d fields.") % {"n": MAX_ENTRIES})
    cleaned: dict[str, str] = {}
    for target, path in raw.items():
        if not isinstance(target, str) or not _target_ok(target):
            errors.append(_("“%(field)s” is not an event field.") % {"field": target})
            continue
        if path is None:
            path = ""
        if not isinstance(path, str) or len(path) > MAX_PATH or (path and "" in path.split(".")):
            errors.append(
                _("The path of “%(field)s” must be a dotted path, e.g. properties.email.")
                % {"field": target}
            )
            continue
        cleaned[target] = path.strip()
    return cleaned, errors
