"""What a rule may say: attributes, operators, matchable event fields, and the checks
that turn user input into a stored rule and a stored rule into an engine spec.

The UI's forms and the API both validate through ``clean_fit_rule`` /
``clean_behaviour_rule`` / ``clean_model_settings``: each returns clean values or
raises ``ScoringError`` with field errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from leads.ingest import CUSTOM_TYPE, STANDARD_TYPES
from smarketing.errors import ServiceError

from .engine import NUMERIC_ATTRIBUTES, BehaviourSpec, FitSpec, ModelRules
from .models import BehaviourRule, FitRule, ScoringModel


class ScoringError(ServiceError):
    pass


# Free-mail providers: an address there says nothing about the company (shipped in code;
# organizations add their own with an "e-mail domain is one of" rule).
FREE_EMAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com yahoo.com yahoo.fr yahoo.co.uk yahoo.de yahoo.es yahoo.it
    ymail.com rocketmail.com hotmail.com hotmail.fr hotmail.co.uk hotmail.de hotmail.it
    hotmail.es hotmail.be live.com live.fr live.be live.co.uk msn.com outlook.com
    outlook.fr outlook.be outlook.de windowslive.com icloud.com me.com mac.com aol.com
    aol.fr aim.com orange.fr wanadoo.fr free.fr sfr.fr neuf.fr cegetel.net club-internet.fr
    noos.fr numericable.fr bbox.fr laposte.net voila.fr alice.fr aliceadsl.fr
    libertysurf.fr tiscali.fr skynet.be telenet.be bluewin.ch hispeed.ch gmx.com gmx.fr
    gmx.de gmx.net gmx.ch web.de t-online.de freenet.de protonmail.com proton.me pm.me
    tutanota.com tuta.io mail.com email.com zoho.com yandex.com yandex.ru mail.ru qq.com
    163.com 126.com hushmail.com fastmail.com fastmail.fm hey.com
    """.split()  # noqa: SIM905 (a readable block of domains)
)

MATCH_FIELDS = ("url", "content.level", "content.type", "content.key")
PROPERTY_PREFIX = "property:"
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")
MAX_POINTS = 100
MAX_REGEX = 200
DEFAULT_HOT_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 365
MAX_HALF_LIFE_DAYS = 3650
DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

TEXT_OPERATORS = frozenset({"equals", "in", "contains", "starts_with", "is_set"})
NUMBER_OPERATORS = frozenset({"equals", "in", "between", "is_set"})
EMAIL_OPERATORS = frozenset({"email_domain_in", "free_email"})


def _error(fields: dict[str, list[str]]) -> ScoringError:
    return ScoringError(_("Check the highlighted fields."), fields=fields)


def _int(value: Any, name: str, errors: dict, *, lo: int, hi: int, required=True) -> int | None:
    if value is None or value == "":
        if required:
            errors[name] = [_("This field is required.")]
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = [_("A whole number.")]
        return None
    if not lo <= number <= hi:
        errors[name] = [_("Between %(lo)d and %(hi)d.") % {"lo": lo, "hi": hi}]
        return None
    return number


def _label(value: Any, errors: dict) -> str:
    label = str(value or "").strip()
    if not label:
        errors["label"] = [_("This field is required.")]
    elif len(label) > 120:
        errors["label"] = [_("At most %(n)d characters.") % {"n": 120}]
    return label


def _strings(value: Any) -> list[str]:
    """A list from a list, or from a comma/newline-separated string (forms)."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = re.split(r"[\n,;]+", value)
    elif isinstance(value, list | tuple):
        items = value
    else:
        return [str(value)]
    return [str(item).strip() for item in items if str(item).strip()]


# --- Fit rules --------------------------------------------------------------------------


def clean_fit_rule(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a fit rule; return the fields to store."""
    errors: dict[str, list[str]] = {}
    label = _label(data.get("label"), errors)
    attribute = data.get("attribute") or ""
    operator = data.get("operator") or ""
    if operator in EMAIL_OPERATORS and not attribute:
        attribute = "email"
    if attribute not in FitRule.Attribute.values:
        errors["attribute"] = [_("Choose an attribute.")]
    if operator not in FitRule.Operator.values:
        errors["operator"] = [_("Choose an operator.")]
    points = _int(data.get("points"), "points", errors, lo=-MAX_POINTS, hi=MAX_POINTS)
    if points == 0:
        errors["points"] = [_("A rule worth 0 points changes nothing.")]
    value: Any = None
    if "attribute" not in errors and "operator" not in errors:
        allowed = (
            EMAIL_OPERATORS | TEXT_OPERATORS
            if attribute == "email"
            else NUMBER_OPERATORS
            if attribute in NUMERIC_ATTRIBUTES
            else TEXT_OPERATORS
        )
        if operator not in allowed:
            errors["operator"] = [_("This operator does not apply to this attribute.")]
        else:
            value = _fit_value(attribute, operator, data.get("value"), errors)
    if errors:
        raise _error(errors)
    return {
        "label": label,
        "attribute": attribute,
        "operator": operator,
        "value": value,
        "points": points,
    }


def _fit_value(attribute: str, operator: str, raw: Any, errors: dict) -> Any:
    numeric = attribute in NUMERIC_ATTRIBUTES
    if operator in ("is_set", "free_email"):
        return None
    if operator == "between":
        items = raw if isinstance(raw, list | tuple) else _strings(raw)
        if len(items) != 2:
            errors["value"] = [_("Give a minimum and a maximum (either may be empty).")]
            return None
        lo = _int(items[0], "value", errors, lo=0, hi=10**9, required=False)
        hi = _int(items[1], "value", errors, lo=0, hi=10**9, required=False)
        if "value" in errors:
            return None
        if lo is None and hi is None:
            errors["value"] = [_("Give a minimum, a maximum, or both.")]
        elif lo is not None and hi is not None and lo > hi:
            errors["value"] = [_("The minimum is above the maximum.")]
        return [lo, hi]
    if operator == "email_domain_in":
        # May be empty: the starting template ships an empty competitor list to fill in.
        domains = [d.lower().lstrip("@").removeprefix("www.") for d in _strings(raw)]
        bad = [d for d in domains if not DOMAIN.match(d)]
        if bad:
            errors["value"] = [_("Not a domain name: %(d)s") % {"d": ", ".join(bad[:5])}]
        return sorted(set(domains))
    if operator == "equals":
        if isinstance(raw, list | tuple):
            raw = raw[0] if len(raw) == 1 else None
        if numeric:
            return _int(raw, "value", errors, lo=0, hi=10**9)
        text = str(raw if raw is not None else "").strip()
        if not text:
            errors["value"] = [_("This field is required.")]
        return text
    # in, contains, starts_with: one or several values, any of which matches.
    items = _strings(raw)
    if not items:
        errors["value"] = [_("Give at least one value.")]
        return []
    if numeric:
        numbers = [_int(v, "value", errors, lo=0, hi=10**9) for v in items]
        return [] if "value" in errors else numbers
    if any(len(v) > 200 for v in items):
        errors["value"] = [_("At most %(n)d characters each.") % {"n": 200}]
    return items


def fit_spec(rule: FitRule) -> FitSpec:
    """A stored fit rule as the engine reads it (values lowercased, tuples)."""
    value: Any = rule.value
    op = rule.operator
    numeric = rule.attribute in NUMERIC_ATTRIBUTES
    if op == "free_email":
        value = FREE_EMAIL_DOMAINS
    elif op == "email_domain_in":
        value = frozenset(str(v).lower() for v in value or ())
    elif op == "between":
        value = (value[0], value[1])
    elif op == "equals":
        value = int(value) if numeric else str(value).lower()
    elif op in ("in", "contains", "starts_with"):
        value = tuple(int(v) for v in value) if numeric else tuple(str(v).lower() for v in value)
    return FitSpec(
        id=rule.pk,
        label=rule.label,
        attribute=rule.attribute,
        operator=op,
        value=value,
        points=rule.points,
    )


# --- Behaviour rules --------------------------------------------------------------------

# The regular expressions both Python's ``re`` and PostgreSQL's AREs read the same way:
# no word boundaries (\b means backspace in PostgreSQL), no backreferences, no
# lookbehind, inline flags, named groups or POSIX classes.
_SAFE_ESCAPES = set("dDwWsSnt") | set(r"\.^$|?*+()[]{}/-:=&#%@!,'\"~<> _")
_UNSAFE_GROUPS = ("(?P", "(?<", "(?#", "(?>", "(?i", "(?s", "(?m", "(?x", "(?a", "(?u", "(?L")


def regex_problem(pattern: str) -> str | None:
    if len(pattern) > MAX_REGEX:
        return _("At most %(n)d characters.") % {"n": MAX_REGEX}
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in _SAFE_ESCAPES:
                escape = pattern[i : i + 2]
                return _("%(e)s is not supported here.") % {"e": escape}
            i += 2
            continue
        i += 1
    if any(group in pattern for group in _UNSAFE_GROUPS) or "[:" in pattern:
        return _("Lookbehind, named groups, inline flags and [:classes:] are not supported.")
    try:
        re.compile(pattern, re.IGNORECASE | re.DOTALL)
    except re.error as exc:
        return _("Not a valid regular expression: %(e)s") % {"e": exc}
    return None


def clean_event_type(value: Any, errors: dict) -> str:
    event_type = str(value or "").strip()
    if not event_type:
        errors["event_type"] = [_("This field is required.")]
    elif not (event_type in STANDARD_TYPES or CUSTOM_TYPE.match(event_type)):
        errors["event_type"] = [_("A standard event type, or custom:<name>.")]
    return event_type


def clean_behaviour_rule(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a behaviour rule; return the fields to store."""
    errors: dict[str, list[str]] = {}
    label = _label(data.get("label"), errors)
    event_type = clean_event_type(data.get("event_type"), errors)
    match_field = str(data.get("match_field") or "").strip()
    match_operator = str(data.get("match_operator") or "").strip()
    match_value = str(data.get("match_value") or "")
    if match_field and match_field not in MATCH_FIELDS:
        name = match_field.removeprefix(PROPERTY_PREFIX)
        if not match_field.startswith(PROPERTY_PREFIX) or not PROPERTY_NAME.match(name):
            errors["match_field"] = [
                _("url, content.level, content.type, content.key or property:<name>.")
            ]
    if match_operator and match_operator not in BehaviourRule.MatchOperator.values:
        errors["match_operator"] = [_("Choose equals, contains or regex.")]
    if match_field and not match_operator:
        errors["match_operator"] = [_("Choose how to match.")]
    if match_operator and not match_field:
        errors["match_field"] = [_("Choose what to match on.")]
    if match_field and match_operator:
        if not match_value.strip():
            errors["match_value"] = [_("This field is required.")]
        elif len(match_value) > 200:
            errors["match_value"] = [_("At most %(n)d characters.") % {"n": 200}]
        elif match_operator == "regex":
            problem = regex_problem(match_value)
            if problem:
                errors["match_value"] = [problem]
    else:
        match_field, match_operator, match_value = "", "", ""
    mode = data.get("mode") or BehaviourRule.Mode.PER_OCCURRENCE
    if mode not in BehaviourRule.Mode.values:
        errors["mode"] = [_("Choose a mode.")]
    points = _int(data.get("points"), "points", errors, lo=-MAX_POINTS, hi=MAX_POINTS)
    marks_hot = bool(data.get("marks_hot"))
    cap = min_count = window_days = None
    if mode == BehaviourRule.Mode.FREQUENCY:
        min_count = _int(data.get("min_count"), "min_count", errors, lo=1, hi=1000)
        window_days = _int(data.get("window_days"), "window_days", errors, lo=1, hi=MAX_WINDOW_DAYS)
        if points is not None and points < 0:
            # A negative frequency rule would make scores rise as its window passes.
            errors["points"] = [_("Frequency rules add points; use per occurrence to remove.")]
    elif mode == BehaviourRule.Mode.PER_OCCURRENCE:
        cap = _int(data.get("cap"), "cap", errors, lo=1, hi=10 * MAX_POINTS, required=False)
        if marks_hot:
            window_days = _int(
                data.get("window_days") or DEFAULT_HOT_WINDOW_DAYS,
                "window_days",
                errors,
                lo=1,
                hi=MAX_WINDOW_DAYS,
            )
    if points is not None:
        if points < 0 and marks_hot:
            errors["marks_hot"] = [_("A rule that removes points cannot mark a lead hot.")]
        if points == 0 and not marks_hot:
            errors["points"] = [_("A rule worth 0 points changes nothing.")]
    if errors:
        raise _error(errors)
    return {
        "label": label,
        "event_type": event_type,
        "match_field": match_field,
        "match_operator": match_operator,
        "match_value": match_value,
        "mode": mode,
        "points": points,
        "cap": cap,
        "min_count": min_count,
        "window_days": window_days,
        "marks_hot": marks_hot,
    }


def behaviour_spec(rule: BehaviourRule) -> BehaviourSpec:
    return BehaviourSpec(
        id=rule.pk,
        label=rule.label,
        event_type=rule.event_type,
        match_field=rule.match_field,
        match_operator=rule.match_operator if rule.match_field else "",
        match_value=rule.match_value,
        mode=rule.mode,
        points=rule.points,
        cap=rule.cap if rule.mode == BehaviourRule.Mode.PER_OCCURRENCE else None,
        min_count=rule.min_count,
        window_days=(
            rule.window_days
            if rule.mode == BehaviourRule.Mode.FREQUENCY or rule.marks_hot
            else None
        ),
        marks_hot=rule.marks_hot,
    )


# --- Model settings ---------------------------------------------------------------------


def clean_model_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the model's own fields (those present in ``data``)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "name" in data:
        clean["name"] = str(data["name"] or "").strip()
        if len(clean["name"]) > 120:
            errors["name"] = [_("At most %(n)d characters.") % {"n": 120}]
    if "mql_threshold" in data:
        clean["mql_threshold"] = _int(data["mql_threshold"], "mql_threshold", errors, lo=1, hi=100)
    if "min_fit_grade" in data:
        grade = str(data["min_fit_grade"] or "").upper()
        if grade not in ScoringModel.MinGrade.values:
            errors["min_fit_grade"] = [_("A, B, C, D or none.")]
        clean["min_fit_grade"] = grade
    if "decay_half_life_days" in data:
        clean["decay_half_life_days"] = _int(
            data["decay_half_life_days"],
            "decay_half_life_days",
            errors,
            lo=1,
            hi=MAX_HALF_LIFE_DAYS,
            required=False,
        )
    if "grade_bands" in data:
        raw = data["grade_bands"]
        bands: dict[str, int] = {}
        if not isinstance(raw, dict):
            errors["grade_bands"] = [_("Give the floors of grades A, B and C.")]
        else:
            for grade in ("A", "B", "C"):
                floor = _int(raw.get(grade), f"grade_bands.{grade}", errors, lo=-1000, hi=1000)
                if floor is not None:
                    bands[grade] = floor
            if len(bands) == 3 and not bands["A"] >= bands["B"] >= bands["C"]:
                errors["grade_bands"] = [_("Floors must go down from A to C.")]
        clean["grade_bands"] = bands
    if errors:
        raise _error(errors)
    return clean


def compile_model(
    model: ScoringModel,
    fit_rules: Iterable[FitRule] | None = None,
    behaviour_rules: Iterable[BehaviourRule] | None = None,
) -> ModelRules:
    """The engine's view of a model (rules read from the database unless given)."""
    if fit_rules is None:
        fit_rules = FitRule.objects.for_org(model.organization_id).filter(model=model)
    if behaviour_rules is None:
        behaviour_rules = BehaviourRule.objects.for_org(model.organization_id).filter(model=model)
    return ModelRules(
        id=model.pk,
        version=model.version,
        fit_rules=tuple(fit_spec(r) for r in sorted(fit_rules, key=lambda r: (r.position, r.pk))),
        behaviour_rules=tuple(
            behaviour_spec(r) for r in sorted(behaviour_rules, key=lambda r: (r.position, r.pk))
        ),
        grade_bands=dict(model.grade_bands or {}),
        decay_half_life_days=model.decay_half_life_days,
        mql_threshold=model.mql_threshold,
        min_fit_grade=model.min_fit_grade,
    )
