"""CSV export of the filtered lead list: the same filters as the sales queue and the API
(``selectors.lead_list``: stage, owner, hot, q, source, ordering), streamed.

The file opens in Excel as it is: UTF-8 with a byte-order mark (without it Excel reads
Latin-1), ``;`` as delimiter by default in French (Excel in a French locale splits on
``;``), ``,`` otherwise, either forced with ``?delimiter=semicolon|comma|tab``. Headers
are the import's field labels, so an exported file imports back with every column
detected. Cells that Excel would run as a formula get a leading apostrophe (CSV
injection); the import strips it again.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import has_perm

from . import selectors
from .imports import IMPORT_FIELDS
from .models import Stage

BOM = "\ufeff"
DELIMITERS = {"semicolon": ";", "comma": ",", "tab": "\t"}
TABS = {"mine": "me", "unassigned": "none", "all": ""}
BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# +33 6 12 34 56 78 or -12.5 is data; =HYPERLINK(…), @SUM(…), +cmd|… is a formula.
HARMLESS_SIGNED = re.compile(r"^[+-][\d\s().,/-]*$")

# (header, value-list column), in file order.
COLUMNS: list[tuple[Any, str]] = [
    (IMPORT_FIELDS["email"].label, "email"),
    (IMPORT_FIELDS["first_name"].label, "first_name"),
    (IMPORT_FIELDS["last_name"].label, "last_name"),
    (IMPORT_FIELDS["title"].label, "title"),
    (IMPORT_FIELDS["company"].label, "company__name"),
    (IMPORT_FIELDS["company_domain"].label, "company__domain"),
    (IMPORT_FIELDS["phone"].label, "phone"),
    (IMPORT_FIELDS["country"].label, "country"),
    (IMPORT_FIELDS["source"].label, "source"),
    ("utm_source", "utm_source"),
    ("utm_medium", "utm_medium"),
    ("utm_campaign", "utm_campaign"),
    ("utm_term", "utm_term"),
    ("utm_content", "utm_content"),
    (IMPORT_FIELDS["consent_email"].label, "consent_email"),
    (IMPORT_FIELDS["consent_tracking"].label, "consent_tracking"),
    (translation.gettext_lazy("Stage"), "stage"),
    (translation.gettext_lazy("Owner"), "owner__email"),
    (translation.gettext_lazy("Score"), "score"),
    (translation.gettext_lazy("Grade"), "grade"),
    (translation.gettext_lazy("Hot"), "hot"),
    (translation.gettext_lazy("Created"), "created_at"),
    (translation.gettext_lazy("Last activity"), "last_event_at"),
]


class ExportFilterError(ValueError):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("bad filter")
        self.fields = fields


def parse_filters(params, *, user_id: int | None) -> dict[str, Any]:
    """The query string of the lead list → ``selectors.lead_list`` keyword arguments.
    The names and values of ``GET /api/v1/leads`` (stage may repeat or be
    comma-separated), plus those of the queue page (``tab``, ``stage=any|queue``,
    ``hot=yes|no``): its "Export" link is ``?view=queue&<its own query string>``, where
    ``view=queue`` makes "no stage" mean the queue's MQL + SAL as on the page."""
    errors: dict[str, list[str]] = {}
    stage = [s for value in params.getlist("stage") for s in value.split(",") if s]
    if stage == ["any"]:  # the queue page's "any stage"
        stage = []
    elif stage == ["queue"] or (not stage and params.get("view") == "queue"):
        # The queue page's default (no stage chosen): what sales works on.
        stage = [Stage.MQL, Stage.SAL]
    unknown = [s for s in stage if s not in Stage.values]
    if unknown:
        errors["stage"] = [_("Unknown stage: %s") % ", ".join(unknown)]
    # The queue page's tabs, as the API's owner filter.
    tab = params.get("tab", "")
    if tab and tab not in TABS:
        errors["tab"] = [_("One of: %s") % ", ".join(TABS)]
    owner = params.get("owner", "") or TABS.get(tab, "")
    owner_id = None
    if owner == "me":
        owner_id = user_id
    elif owner and owner != "none":
        if owner.isascii() and owner.isdigit():
            owner_id = int(owner)
        else:
            errors["owner"] = [_("A user id, 'me' or 'none'.")]
    hot = params.get("hot", "")
    if hot and hot.lower() not in BOOL:
        errors["hot"] = [_("true or false")]
    ordering = params.get("ordering", "queue")
    if ordering not in selectors.ORDERINGS:
        errors["ordering"] = [_("One of: %s") % ", ".join(selectors.ORDERINGS)]
    delimiter = params.get("delimiter", "")
    if delimiter and delimiter not in DELIMITERS:
        errors["delimiter"] = [_("One of: %s") % ", ".join(DELIMITERS)]
    if errors:
        raise ExportFilterError(errors)
    return {
        "stage": stage or None,
        "owner_id": owner_id,
        "unowned": owner == "none",
        "hot": BOOL[hot.lower()] if hot else None,
        "q": params.get("q", "")[:200],
        "source": params.get("source", "")[:40],
        "ordering": ordering,
    }


def safe_cell(value: str) -> str:
    if value and (value[0] in "=@\t\r" or (value[0] in "+-" and not HARMLESS_SIGNED.match(value))):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose ``write`` returns the line (Django's streaming CSV
    recipe): csv.writer formats, the generator yields."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any, yes: str, no: str, tz) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes if value else no
    if hasattr(value, "astimezone"):
        return timezone.localtime(value, tz).strftime("%Y-%m-%d %H:%M")
    return safe_cell(str(value))


def export_rows(
    organization: Organization, filters: dict[str, Any], *, delimiter: str
) -> Iterator[str]:
    """The CSV text, line by line, starting with the byte-order mark.

    The response is streamed after the request's transaction has ended (and with it the
    tenant setting and possibly the active language), so labels are translated now and
    the rows are read later inside a tenant context of their own, through a server-side
    cursor: memory stays flat however many leads there are."""
    writer = csv.writer(_Echo(), delimiter=delimiter, lineterminator="\r\n")
    header = BOM + writer.writerow([str(label) for label, _name in COLUMNS])
    yes, no = _("yes"), _("no")
    tz = timezone.get_current_timezone()
    names = [name for _label, name in COLUMNS]

    def lines() -> Iterator[str]:
        yield header
        with tenant_context(organization.pk):
            leads = selectors.lead_list(organization, **filters).values_list(*names)
            for values in leads.iterator(chunk_size=2000):
                yield writer.writerow([_cell(v, yes, no, tz) for v in values])

    return lines()


@require_GET
def lead_export(request: HttpRequest, org_slug: str) -> HttpResponse:
    """``GET /o/<slug>/imports/export/?stage=mql&hot=true&delimiter=semicolon``"""
    org = request.organization  # type: ignore[attr-defined]
    if not has_perm(request.membership, "leads.export"):  # type: ignore[attr-defined]
        raise PermissionDenied("leads.export")
    try:
        filters = parse_filters(request.GET, user_id=request.user.pk)
    except ExportFilterError as error:
        lines = [f"{name}: {' '.join(messages)}" for name, messages in error.fields.items()]
        return HttpResponseBadRequest(
            "\n".join([_("Check the filters."), *lines]), content_type="text/plain; charset=utf-8"
        )
    delimiter = DELIMITERS.get(request.GET.get("delimiter", ""))
    if delimiter is None:
        delimiter = ";" if translation.get_language() == "fr" else ","
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        export_rows(org, filters, delimiter=delimiter), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="leads-{org.slug}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
