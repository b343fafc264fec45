"""CSV import of leads: upload → column mapping → validation report → run (Celery).

The file is decoded once at upload (UTF-8, UTF-8 with BOM, UTF-16 with BOM, else
Windows Latin-1), its newlines normalized, its delimiter sniffed, and the text kept in
``ImportJob.content`` so the web and the worker share no disk.

Decisions a sales-ops person should find unsurprising (also in ``docs/imports.md``'s
place: this docstring is the reference):

- **Rows are numbered as in a spreadsheet**: the header is row 1, the first lead row 2;
  blank rows keep their number but are neither counted nor reported.
- **One lead per e-mail**, case-insensitive: a row whose e-mail is already in the
  organization updates that lead; an e-mail seen earlier in the same file is a
  *warning* (the later row updates the same lead), not an error.
- **Existing leads: empty fields are filled, nothing is replaced** by default, so an
  old spreadsheet never erases what sales corrected. With *overwrite*, non-empty cells
  replace the lead's values. An empty cell never erases anything. A lead who
  unsubscribed is never given e-mail consent back by a file.
- **New leads** start at stage ``lead``, with source ``import`` unless a source column
  is mapped, and a lifecycle transition "imported from <file>" by the member who
  started the import. Every written lead is marked for re-scoring (fit comes from
  title, country, company…), the same durable mark ingestion uses.
- **Invalid rows are skipped** and listed (row, column, error); the valid rows are
  imported. Too-long text is cut to the field's size with a warning.

``mapping`` is stored as ``{"columns": [field or "" per column], "overwrite": bool,
"encoding": "utf-8", "report": {summary numbers}}``.

The run is a chain of tasks, one chunk of rows per task and per transaction (see
``import_tasks``): each chunk is claimed with a compare-and-swap on
``processed_rows``, so the progress bar polls committed numbers and a chunk delivered
twice is done once.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from smarketing.errors import ServiceError
from smarketing.tenancy.models import Organization
from smarketing.tenancy.permissions import require_perm
from smarketing.tenancy.selectors import get_object_for_org

from .ingest import COUNTRY, DOMAIN
from .models import Company, ImportJob, Lead, LifecycleTransition, Stage

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_COLUMNS = 200
CHUNK_SIZE = 500  # rows per task and per transaction
MAX_CHUNKS = 100  # bigger files get bigger chunks: each chunk re-reads the file once
PREVIEW_ROWS = 10
MAX_STORED_ISSUES = 1000  # the full list is in the downloadable report
LOOKUP_BATCH = 1000
DELIMITERS = {",": ",", ";": ";", "\t": "\t"}

Status = ImportJob.Status
EDITABLE = frozenset({Status.UPLOADED, Status.VALIDATED})


class CsvImportError(ServiceError):
    pass


# --- Fields and header auto-detection ------------------------------------------------


@dataclass(frozen=True)
class ImportField:
    name: str
    label: Any  # lazy translation
    max_length: int = 0
    kind: str = "text"  # text, email, country, domain, source, consent


IMPORT_FIELDS: dict[str, ImportField] = {
    f.name: f
    for f in (
        ImportField("email", gettext_lazy("E-mail"), 254, "email"),
        ImportField("first_name", gettext_lazy("First name"), 100),
        ImportField("last_name", gettext_lazy("Last name"), 100),
        ImportField("title", gettext_lazy("Job title"), 150),
        ImportField("company", gettext_lazy("Company"), 200),
        ImportField("company_domain", gettext_lazy("Website"), 253, "domain"),
        ImportField("phone", gettext_lazy("Phone"), 40),
        ImportField("country", gettext_lazy("Country"), 2, "country"),
        ImportField("source", gettext_lazy("Source"), 20, "source"),
        ImportField("utm_source", "utm_source", 100),
        ImportField("utm_medium", "utm_medium", 100),
        ImportField("utm_campaign", "utm_campaign", 100),
        ImportField("utm_term", "utm_term", 100),
        ImportField("utm_content", "utm_content", 100),
        ImportField("consent_email", gettext_lazy("E-mail consent"), 0, "consent"),
        ImportField("consent_tracking", gettext_lazy("Tracking consent"), 0, "consent"),
    )
}
TEXT_FIELDS = (
    "first_name",
    "last_name",
    "title",
    "phone",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)

# Headers as people write them, French and English, after ``normalize_header``
# (lower case, no accents, punctuation as spaces). Exports use the field labels, so an
# exported file maps back by itself.
HEADER_SYNONYMS: dict[str, set[str]] = {
    "email": {
        "email", "e mail", "mail", "courriel", "adresse e mail", "adresse email",
        "adresse mail", "adresse courriel", "adresse electronique", "email address",
        "e mail address", "work email", "business email", "email professionnel",
        "e mail professionnel", "mail professionnel",
    },
    "first_name": {"prenom", "first name", "firstname", "given name", "first"},
    "last_name": {
        "nom", "nom de famille", "last name", "lastname", "surname", "family name", "last",
    },
    "title": {
        "poste", "fonction", "job title", "title", "titre", "intitule du poste",
        "intitule de poste", "position", "job", "role",
    },
    "company": {
        "societe", "entreprise", "company", "company name", "organisation", "organization",
        "raison sociale", "nom de l entreprise", "nom de la societe", "compte", "account",
        "account name", "employeur", "employer",
    },
    "company_domain": {
        "site web", "site", "site internet", "domaine", "domaine de l entreprise", "website",
        "web site", "domain", "company domain", "company website", "url", "web",
    },
    "phone": {
        "telephone", "tel", "phone", "phone number", "numero de telephone", "mobile",
        "portable", "telephone portable", "telephone mobile", "mobile phone", "work phone",
    },
    "country": {"pays", "country", "country code", "code pays", "iso country"},
    "source": {"source", "origine", "lead source", "source du lead", "source du contact"},
    "utm_source": {"utm source"},
    "utm_medium": {"utm medium"},
    "utm_campaign": {"utm campaign"},
    "utm_term": {"utm term"},
    "utm_content": {"utm content"},
    "consent_email": {
        "consentement", "consentement email", "consentement e mail", "consent",
        "email consent", "e mail consent", "opt in", "optin", "email opt in",
        "newsletter", "accepte les emails", "accord rgpd", "rgpd", "gdpr consent",
    },
    "consent_tracking": {
        "consentement tracking", "consentement suivi", "consentement cookies",
        "tracking consent", "cookie consent",
    },
}  # fmt: skip


def normalize_header(header: str) -> str:
    text = unicodedata.normalize("NFKD", header or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _synonyms() -> dict[str, str]:
    table = {s: name for name, words in HEADER_SYNONYMS.items() for s in words}
    for f in IMPORT_FIELDS.values():  # the labels of our own exports, in any language
        table.setdefault(normalize_header(str(f.label)), f.name)
        table.setdefault(normalize_header(f.name), f.name)
    return table


def detect_mapping(headers: list[str]) -> list[str]:
    """The lead field of each column ("" = ignored); each field is taken once, by the
    first column that names it."""
    table = _synonyms()
    columns: list[str] = []
    taken: set[str] = set()
    for header in headers:
        name = table.get(normalize_header(header), "")
        columns.append("" if name in taken else name)
        if name:
            taken.add(name)
    if "email" not in taken:  # "E-mail du contact", "Contact email"…
        for i, header in enumerate(headers):
            if not columns[i] and "mail" in normalize_header(header):
                columns[i] = "email"
                break
    return columns


# --- Reading the file ----------------------------------------------------------------


def decode(raw: bytes) -> tuple[str, str]:
    """The text of an uploaded file and the name of its encoding."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel "Unicode text"
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # What Excel writes on a French Windows: Latin-1 plus € and typographic quotes.
        return raw.decode("cp1252"), "latin-1"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        # One column, or too little text to decide: count in the header line.
        header = sample.split("\n", 1)[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


@dataclass
class Record:
    row: int  # spreadsheet row number (header = 1)
    cells: list[str]
    end: int  # position in the text right after this record


def _reader(text: str, delimiter: str, pos: int) -> tuple[io.StringIO, Iterator[list[str]]]:
    buffer = io.StringIO(text)
    buffer.seek(pos)
    # readline one by one: csv.reader reads no further than the record it returns, so
    # buffer.tell() after each record is where the next one starts.
    return buffer, csv.reader(iter(buffer.readline, ""), delimiter=delimiter, strict=False)


def read_header(text: str, delimiter: str) -> tuple[list[str], int]:
    """The header cells and the position where the first data row starts."""
    buffer, reader = _reader(text, delimiter, 0)
    for cells in reader:
        if any(c.strip() for c in cells):
            return [c.strip() for c in cells], buffer.tell()
    return [], buffer.tell()


def records(text: str, delimiter: str, *, pos: int, row: int) -> Iterator[Record]:
    """Non-blank data records from ``pos``; ``row`` is the row number of the record
    just before ``pos``."""
    buffer, reader = _reader(text, delimiter, pos)
    for cells in reader:
        row += 1
        if any(c.strip() for c in cells):
            yield Record(row=row, cells=cells, end=buffer.tell())


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Cleaning one row ----------------------------------------------------------------


TRUE = {"1", "yes", "y", "true", "vrai", "oui", "o", "x", "ok", "opt in", "optin", "accepte"}
FALSE = {"0", "no", "n", "false", "faux", "non", "opt out", "optout", "refuse", "-"}


def _source_value(raw: str) -> str | None:
    wanted = normalize_header(raw)
    for value, label in Lead.Source.choices:
        if wanted in (normalize_header(value), normalize_header(str(label))):
            return value
    return None


def clean_domain(raw: str) -> str:
    domain = raw.strip().lower()
    domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain)
    domain = re.split(r"[/?#:]", domain, maxsplit=1)[0]
    domain = domain.split("@")[-1].removeprefix("www.").rstrip(".")
    return domain


@dataclass
class Issue:
    row: int
    column: str
    error: str
    level: str = "error"  # or "warning"

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "error": self.error, "level": self.level}


@dataclass
class CleanRow:
    row: int
    values: dict[str, Any]  # field → cleaned value; absent = empty cell
    issues: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(i.level == "error" for i in self.issues)


def _cell(cells: list[str], index: int) -> str:
    value = cells[index].strip() if index < len(cells) else ""
    # Our exports quote formula-looking cells with a leading apostrophe (CSV injection).
    if value[:2] in {"'=", "'+", "'-", "'@"}:
        value = value[1:]
    return value


def clean_row(record: Record, columns: list[str], headers: list[str]) -> CleanRow:
    """Validate one record against the mapping. Pure: no database."""
    result = CleanRow(row=record.row, values={})
    email_column = ""
    for index, name in enumerate(columns):
        if not name:
            continue
        spec = IMPORT_FIELDS[name]
        column = headers[index] if index < len(headers) and headers[index] else str(spec.label)
        if name == "email":
            email_column = column
        raw = _cell(record.cells, index)
        if not raw:
            continue

        def issue(message: str, level: str = "error", column: str = column) -> None:
            result.issues.append(Issue(record.row, column, message, level))

        if spec.kind == "email":
            email = raw.lower().removeprefix("mailto:")
            try:
                validate_email(email)
            except ValidationError:
                issue(_("Not a valid e-mail address: “%(value)s”.") % {"value": raw[:80]})
                continue
            result.values[name] = email
        elif spec.kind == "country":
            if not COUNTRY.match(raw):
                issue(
                    _("“%(value)s” is not a two-letter country code (FR, BE, CH…).")
                    % {"value": raw[:40]}
                )
                continue
            result.values[name] = raw.upper()
        elif spec.kind == "domain":
            domain = clean_domain(raw)
            if not DOMAIN.match(domain):
                issue(_("Not a website or domain: “%(value)s”.") % {"value": raw[:80]})
                continue
            result.values[name] = domain
        elif spec.kind == "source":
            value = _source_value(raw)
            if value is None:
                issue(
                    _("Unknown source “%(value)s”: “%(other)s” is used.")
                    % {"value": raw[:40], "other": Lead.Source.OTHER.label},
                    "warning",
                )
                value = Lead.Source.OTHER
            result.values[name] = value
        elif spec.kind == "consent":
            word = normalize_header(raw)
            if word in TRUE:
                result.values[name] = True
            elif word in FALSE:
                result.values[name] = False
            else:
                issue(_("Not a yes/no value: “%(value)s”.") % {"value": raw[:40]})
        else:
            if len(raw) > spec.max_length:
                issue(
                    _("Longer than %(max)s characters: cut.") % {"max": spec.max_length},
                    "warning",
                )
                raw = raw[: spec.max_length]
            result.values[name] = raw
    if "email" not in result.values and not any(
        i.column == email_column and i.level == "error" for i in result.issues
    ):
        result.issues.append(
            Issue(record.row, email_column or str(IMPORT_FIELDS["email"].label), _("No e-mail."))
        )
    return result


def clean_records(
    items: Iterable[Record], columns: list[str], headers: list[str]
) -> Iterator[CleanRow]:
    """Every row cleaned, with the in-file duplicate warnings."""
    first_row: dict[str, int] = {}
    email_column = headers[columns.index("email")] if "email" in columns else ""
    for record in items:
        clean = clean_row(record, columns, headers)
        email = clean.values.get("email")
        if email and clean.valid:
            if email in first_row:
                clean.issues.append(
                    Issue(
                        record.row,
                        email_column,
                        _("Same e-mail as row %(row)s: this row updates the same lead.")
                        % {"row": first_row[email]},
                        "warning",
                    )
                )
            else:
                first_row[email] = record.row
        yield clean


# --- Reads ----------------------------------------------------------------------------


def get_import_job_for_org(
    organization: Organization, job_id, *, without_content: bool = False
) -> ImportJob:
    """The job of this organization, or 404. ``without_content`` for the progress poll,
    which runs every second and has no use for the file (up to 20 MB); it is loaded
    on first access if needed."""
    if without_content:
        jobs = ImportJob.objects.for_org(organization).defer("content")
        try:
            return jobs.get(pk=job_id)
        except (ImportJob.DoesNotExist, ValueError, TypeError):
            raise Http404 from None
    return get_object_for_org(ImportJob, organization, pk=job_id)


def import_jobs(organization: Organization) -> QuerySet[ImportJob]:
    """The history, newest first, without the files themselves."""
    return (
        ImportJob.objects.for_org(organization)
        .select_related("created_by")
        .defer("content", "errors", "mapping")
        .order_by("-created_at", "-pk")
    )


def job_headers(job: ImportJob) -> list[str]:
    return read_header(job.content, job.delimiter)[0]


def job_columns(job: ImportJob) -> list[str]:
    headers = job_headers(job)
    columns = list((job.mapping or {}).get("columns") or detect_mapping(headers))
    return (columns + [""] * len(headers))[: len(headers)]


def job_records(job: ImportJob) -> Iterator[Record]:
    _headers, pos = read_header(job.content, job.delimiter)
    return records(job.content, job.delimiter, pos=pos, row=1)


def column_samples(job: ImportJob, *, rows: int = 20, per_column: int = 3) -> list[str]:
    """A few values of each column, to help map it ("alice@…, bob@…")."""
    headers = job_headers(job)
    samples: list[list[str]] = [[] for _h in headers]
    for record in _limit(job_records(job), rows):
        for index, values in enumerate(samples):
            value = _cell(record.cells, index)
            if value and len(values) < per_column and value not in values:
                values.append(value[:40])
    return [", ".join(values) for values in samples]


@dataclass
class PreviewCell:
    value: str
    bad: bool = False  # the file's value, refused (shown as it is, marked)


@dataclass
class PreviewRow:
    row: int
    cells: list[PreviewCell]  # one per mapped field, in the order of ``fields``
    issues: list[Issue]

    @property
    def valid(self) -> bool:
        return not any(i.level == "error" for i in self.issues)


def preview(job: ImportJob, columns: list[str]) -> tuple[list[ImportField], list[PreviewRow]]:
    """The first rows as they would be imported with this mapping."""
    headers = job_headers(job)
    mapped = [(index, IMPORT_FIELDS[name]) for index, name in enumerate(columns) if name]
    rows = []
    records_ = list(_limit(job_records(job), PREVIEW_ROWS))
    for record, clean in zip(records_, clean_records(records_, columns, headers), strict=True):
        cells = []
        for index, f in mapped:
            value = clean.values.get(f.name)
            if value is None:
                raw = _cell(record.cells, index)
                cells.append(PreviewCell(raw[:80], bad=bool(raw)))
            elif isinstance(value, bool):
                cells.append(PreviewCell(_("yes") if value else _("no")))
            else:
                cells.append(PreviewCell(value))
        rows.append(PreviewRow(row=clean.row, cells=cells, issues=clean.issues))
    return [f for _index, f in mapped], rows


def _limit(items: Iterable[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item


def existing_emails(organization: Organization, emails: Iterable[str]) -> set[str]:
    """Which of these (lower-case) e-mails already are leads, by batches on the
    case-insensitive unique index."""
    emails = list(emails)
    found: set[str] = set()
    for start in range(0, len(emails), LOOKUP_BATCH):
        found.update(
            Lead.objects.for_org(organization)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails[start : start + LOOKUP_BATCH])
            .values_list("email_lower", flat=True)
        )
    return found


def report_issues(job: ImportJob) -> Iterator[Issue]:
    """Every issue of the file with its saved mapping (the downloadable report)."""
    columns = job_columns(job)
    for clean in clean_records(job_records(job), columns, job_headers(job)):
        yield from clean.issues


# --- Services -------------------------------------------------------------------------


def import_upload(
    *, actor, organization: Organization, filename: str, raw: bytes, delimiter: str = ""
) -> ImportJob:
    """Keep an uploaded CSV as a new job, with the mapping detected from its header."""
    require_perm(actor, "leads.import")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise CsvImportError(
            _("The file is larger than %(mb)s MB.") % {"mb": MAX_UPLOAD_BYTES // 2**20},
            fields={"file": [_("At most %(mb)s MB.") % {"mb": MAX_UPLOAD_BYTES // 2**20}]},
        )
    if raw.startswith(b"PK\x03\x04"):
        raise CsvImportError(
            _("This is an Excel workbook: save it as CSV first."),
            fields={"file": [_("Save the sheet as CSV (UTF-8 or semicolon-separated).")]},
        )
    text, encoding = decode(raw)
    if "\x00" in text:
        raise CsvImportError(
            _("This is not a text file."), fields={"file": [_("Upload a CSV file.")]}
        )
    text = _normalize_newlines(text)
    if delimiter and delimiter not in DELIMITERS:
        raise CsvImportError(_("Unknown delimiter."), fields={"delimiter": [_("Unknown.")]})
    delimiter = delimiter or sniff_delimiter(text)
    try:
        headers, pos = read_header(text, delimiter)
        total = sum(1 for _record in records(text, delimiter, pos=pos, row=1))
    except csv.Error as error:
        raise CsvImportError(
            _("The file cannot be read as CSV: %(error)s") % {"error": error},
            fields={"file": [str(error)]},
        ) from None
    if not headers:
        raise CsvImportError(_("The file is empty."), fields={"file": [_("The file is empty.")]})
    if len(headers) > MAX_COLUMNS:
        raise CsvImportError(
            _("More than %(n)s columns.") % {"n": MAX_COLUMNS},
            fields={"file": [_("More than %(n)s columns.") % {"n": MAX_COLUMNS}]},
        )
    if total == 0:
        raise CsvImportError(
            _("The file has a header but no rows."),
            fields={"file": [_("The file has a header but no rows.")]},
        )
    return ImportJob.objects.create(
        organization=organization,
        filename=(filename or "import.csv")[-255:],
        content=text,
        delimiter=delimiter,
        mapping={"columns": detect_mapping(headers), "overwrite": False, "encoding": encoding},
        status=Status.UPLOADED,
        total_rows=total,
        created_by=getattr(actor, "user", None),
    )


def check_columns(columns: list[str], headers: list[str]) -> dict[str, list[str]]:
    """Errors of a mapping, by form field name (``col_<index>``)."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for index, name in enumerate(columns):
        if not name:
            continue
        if name not in IMPORT_FIELDS:
            errors[f"col_{index}"] = [_("Unknown field.")]
        elif name in seen:
            errors[f"col_{index}"] = [
                _("Already mapped from “%(column)s”.") % {"column": headers[seen[name]]}
            ]
        else:
            seen[name] = index
    if "email" not in seen:
        errors["__all__"] = [_("Map one column to the e-mail: leads are matched by e-mail.")]
    return errors


@transaction.atomic
def import_validate(
    *, actor, job: ImportJob, columns: list[str], overwrite: bool
) -> dict[str, int]:
    """Save the mapping and check the whole file: the report (row, column, error) and
    its summary, including how many leads are new and how many already exist."""
    require_perm(actor, "leads.import")
    given, job = job, _lock(job)
    if job.status not in EDITABLE:
        raise CsvImportError(_("This import has already started."), status=409)
    headers = job_headers(job)
    columns = (list(columns) + [""] * len(headers))[: len(headers)]
    errors = check_columns(columns, headers)
    if errors:
        raise CsvImportError(_("Check the column mapping."), fields=errors)
    summary = {"rows": 0, "valid": 0, "invalid": 0, "warnings": 0, "new": 0, "existing": 0}
    issues: list[dict[str, Any]] = []
    emails: set[str] = set()
    for clean in clean_records(job_records(job), columns, headers):
        summary["rows"] += 1
        if clean.valid:
            summary["valid"] += 1
            emails.add(clean.values["email"])
        else:
            summary["invalid"] += 1
        for issue in clean.issues:
            if issue.level == "warning":
                summary["warnings"] += 1
            if len(issues) < MAX_STORED_ISSUES:
                issues.append(issue.as_dict())
    summary["existing"] = len(existing_emails(job.organization, emails))
    summary["new"] = len(emails) - summary["existing"]
    summary["issues"] = summary["invalid"] + summary["warnings"]
    job.mapping = {
        **(job.mapping or {}),
        "columns": columns,
        "overwrite": bool(overwrite),
        "report": summary,
    }
    job.errors = issues
    job.total_rows = summary["rows"]
    job.status = Status.VALIDATED
    job.save(update_fields=["mapping", "errors", "total_rows", "status"])
    given.mapping, given.errors = job.mapping, job.errors
    given.total_rows, given.status = job.total_rows, job.status
    return summary


def _lock(job: ImportJob) -> ImportJob:
    return ImportJob.objects.for_org(job.organization_id).select_for_update().get(pk=job.pk)


@transaction.atomic
def import_start(*, actor, job: ImportJob) -> bool:
    """validated → queued, once; the task is sent after commit. False if the job had
    already been started (a double click)."""
    require_perm(actor, "leads.import")
    jobs = ImportJob.objects.for_org(job.organization_id).filter(pk=job.pk)
    if not jobs.filter(status=Status.VALIDATED).update(status=Status.QUEUED, processed_rows=0):
        status = jobs.values_list("status", flat=True).first()
        if status in (Status.QUEUED, Status.RUNNING, Status.DONE):
            return False
        raise CsvImportError(
            _("Check the file before importing it."), status=409, code="not_validated"
        )
    from .import_tasks import run_import  # the task module imports this one

    org_id, job_id = job.organization_id, job.pk
    transaction.on_commit(lambda: run_import.delay(org_id, job_id))
    job.status = Status.QUEUED
    return True


def chunk_size(total_rows: int) -> int:
    return max(CHUNK_SIZE, math.ceil(total_rows / MAX_CHUNKS))


def import_run_chunk(
    *, organization: Organization, job_id: int, cursor: dict[str, int] | None = None
) -> dict[str, int] | None:
    """Import the next chunk of rows of a job; return the cursor of the chunk after it,
    or None when the job is done (or was not this call's to run).

    Runs in the caller's transaction, with the tenant set (``@tenant_task``). Without a
    cursor it claims the job (queued → running, compare-and-swap: a second run of the
    same job does nothing); with one, it claims the chunk by moving ``processed_rows``
    from the cursor's count, in the same transaction as the writes, so a chunk
    delivered twice is written once and a crash rolls back both.
    """
    now = timezone.now()
    jobs = ImportJob.objects.for_org(organization).filter(pk=job_id)
    if cursor is None:
        claimed = jobs.filter(status=Status.QUEUED).update(
            status=Status.RUNNING,
            started_at=now,
            processed_rows=0,
            created_leads=0,
            updated_leads=0,
            skipped_rows=0,
        )
        if not claimed:
            return None
        job = jobs.get()
        _headers, pos = read_header(job.content, job.delimiter)
        cursor = {"done": 0, "pos": pos, "row": 1}
    else:
        job = jobs.filter(status=Status.RUNNING).first()
        if job is None or job.processed_rows != cursor["done"]:
            return None
    columns = job_columns(job)
    headers = job_headers(job)
    size = chunk_size(job.total_rows)
    batch: list[Record] = list(
        _limit(records(job.content, job.delimiter, pos=cursor["pos"], row=cursor["row"]), size)
    )
    claimed = jobs.filter(status=Status.RUNNING, processed_rows=cursor["done"]).update(
        processed_rows=cursor["done"] + len(batch)
    )
    if not claimed:
        return None
    # The duplicate warnings were in the report; here only validity matters.
    cleaned = [clean_row(record, columns, headers) for record in batch]
    valid = [c for c in cleaned if c.valid]
    created, updated = write_leads(
        organization=organization,
        job=job,
        rows=valid,
        overwrite=bool((job.mapping or {}).get("overwrite")),
        now=now,
    )
    done = cursor["done"] + len(batch)
    last = len(batch) < size or done >= job.total_rows
    changes: dict[str, Any] = {
        "created_leads": F("created_leads") + created,
        "updated_leads": F("updated_leads") + updated,
        "skipped_rows": F("skipped_rows") + (len(cleaned) - len(valid)),
    }
    if last:
        # total_rows was counted at upload; what was really read is the truth.
        changes.update(status=Status.DONE, finished_at=timezone.now(), total_rows=done)
    jobs.update(**changes)
    if last:
        return None
    return {"done": done, "pos": batch[-1].end, "row": batch[-1].row}


def import_fail(*, organization: Organization, job_id: int, message: str) -> None:
    """Stop a job that hit an unexpected error, so the progress page stops polling."""
    job = ImportJob.objects.for_org(organization).filter(pk=job_id).first()
    if job is None:
        return
    errors = list(job.errors or [])
    errors.append({"row": None, "column": "", "error": message, "level": "error"})
    ImportJob.objects.for_org(organization).filter(
        pk=job_id, status__in=[Status.QUEUED, Status.RUNNING]
    ).update(status=Status.FAILED, finished_at=timezone.now(), errors=errors)


# --- Writing leads, set-based ---------------------------------------------------------


def _merge(rows: list[CleanRow], overwrite: bool) -> dict[str, dict[str, Any]]:
    """One value set per e-mail, as if the rows were applied one after the other."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = dict(row.values)
        email = values.pop("email")
        target = merged.setdefault(email, {})
        for name, value in values.items():
            if overwrite or name not in target or target[name] in ("", False):
                target[name] = value
    return merged


def _companies(org: Organization, merged: dict[str, dict[str, Any]], now: datetime) -> None:
    """Resolve each row's company to a pk (``values["company_id"]``) the way
    ``services._company_for`` does: by domain, else by name among companies without
    a domain; missing ones are created. A handful of queries per chunk."""
    by_domain: dict[str, str] = {}
    names: set[str] = set()
    for values in merged.values():
        domain, name = values.get("company_domain"), values.get("company", "")
        if domain:
            if name:
                by_domain[domain] = name
            else:
                by_domain.setdefault(domain, "")
        elif name:
            names.add(name.lower())
    if not by_domain and not names:
        return
    companies = Company.objects.for_org(org)
    domain_pk: dict[str, int] = {}
    if by_domain:
        domain_pk = dict(companies.filter(domain__in=by_domain).values_list("domain", "pk"))
        missing = [d for d in by_domain if d not in domain_pk]
        if missing:
            Company.objects.bulk_create(
                [
                    Company(organization=org, domain=d, name=by_domain[d] or d, created_at=now)
                    for d in missing
                ],
                ignore_conflicts=True,  # created meanwhile by ingestion: read it below
            )
            domain_pk.update(companies.filter(domain__in=missing).values_list("domain", "pk"))
    name_pk: dict[str, int] = {}
    if names:
        for lower, pk in (
            companies.filter(domain="")
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=names)
            .order_by("pk")
            .values_list("name_lower", "pk")
        ):
            name_pk.setdefault(lower, pk)
        new_names: dict[str, str] = {}
        for values in merged.values():
            name = values.get("company", "")
            if name and not values.get("company_domain") and name.lower() not in name_pk:
                new_names.setdefault(name.lower(), name)
        for company in Company.objects.bulk_create(
            [Company(organization=org, name=n, created_at=now) for n in new_names.values()]
        ):
            name_pk[company.name.lower()] = company.pk
    for values in merged.values():
        if values.get("company_domain"):
            values["company_id"] = domain_pk[values["company_domain"]]
        elif values.get("company"):
            values["company_id"] = name_pk[values["company"].lower()]


def write_leads(
    *,
    organization: Organization,
    job: ImportJob,
    rows: list[CleanRow],
    overwrite: bool,
    now: datetime,
) -> tuple[int, int]:
    """Create or update the leads of these valid rows; return (created, updated).

    The rules of ``services.lead_upsert`` (e-mail lower-cased and unique per
    organization, new leads at stage ``lead`` with a "created" transition, companies by
    domain then name, consent date) in a few statements per chunk, plus the import's
    own: fill empty fields unless ``overwrite``, source ``import`` by default."""
    if not rows:
        return 0, 0
    merged = _merge(rows, overwrite)
    _companies(organization, merged, now)
    created_ids: list[int] = []
    for _attempt in range(3):
        existing = {
            lead.email_lower: lead
            for lead in Lead.objects.for_org(organization)
            .annotate(email_lower=Lower("email"))
            .filter(email_lower__in=list(merged))
            .order_by("pk")  # one lock order: two overlapping imports cannot deadlock
            .select_for_update(of=("self",))
        }
        new = [
            _new_lead(organization, email, values, now)
            for email, values in merged.items()
            if email not in existing
        ]
        try:
            with transaction.atomic():
                created_ids = [lead.pk for lead in Lead.objects.bulk_create(new)]
            break
        except IntegrityError:
            # A lead with one of these e-mails was just created by ingestion: read it
            # again as an existing lead and retry.
            continue
    else:
        raise CsvImportError(_("Leads kept being created meanwhile; try again."), status=409)
    if created_ids:
        reason = "imported"  # a code, translated when shown (models.SYSTEM_REASONS)
        LifecycleTransition.objects.bulk_create(
            LifecycleTransition(
                organization=organization,
                lead_id=pk,
                from_stage="",
                to_stage=Stage.LEAD,
                at=now,
                by_id=job.created_by_id,
                reason=reason,
            )
            for pk in created_ids
        )
    changed: list[Lead] = []
    fields: set[str] = set()
    updated = 0
    started = job.started_at or now
    for email, lead in existing.items():
        if lead.created_at < started:  # not created by an earlier chunk of this file
            updated += 1
        dirty = _apply(lead, merged[email], overwrite, now)
        if dirty:
            if lead.rescore_requested_at is None:
                lead.rescore_requested_at = now
                dirty.add("rescore_requested_at")
            dirty.add("updated_at")
            lead.updated_at = now
            changed.append(lead)
            fields |= dirty
    if changed:
        Lead.objects.for_org(organization).bulk_update(changed, sorted(fields), batch_size=500)
    return len(created_ids), updated


def _new_lead(org: Organization, email: str, values: dict[str, Any], now: datetime) -> Lead:
    lead = Lead(
        organization=org,
        email=email,
        stage=Stage.LEAD,
        stage_changed_at=now,
        source=values.get("source") or Lead.Source.IMPORT,
        company_id=values.get("company_id"),
        consent_email=bool(values.get("consent_email")),
        consent_tracking=bool(values.get("consent_tracking")),
        rescore_requested_at=now,
        created_at=now,
    )
    for name in TEXT_FIELDS:
        setattr(lead, name, values.get(name, ""))
    if "country" in values:
        lead.country = values["country"]
    if lead.consent_email or lead.consent_tracking:
        lead.consent_at = now
    return lead


def _apply(lead: Lead, values: dict[str, Any], overwrite: bool, now: datetime) -> set[str]:
    """Write a row's values on an existing lead; return the changed field names."""
    dirty: set[str] = set()

    def put(name: str, value: Any) -> None:
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            dirty.add(name)

    for name in (*TEXT_FIELDS, "country", "source"):
        value = values.get(name)
        if value and (overwrite or not getattr(lead, name)):
            put(name, value)
    company_id = values.get("company_id")
    if company_id and (overwrite or lead.company_id is None):
        put("company_id", company_id)
    for name in ("consent_email", "consent_tracking"):
        if name not in values:
            continue
        value = values[name]
        if value and name == "consent_email" and lead.unsubscribed_at is not None:
            continue  # the person unsubscribed: a file does not opt them back in
        if value or overwrite:
            put(name, value)
    if (lead.consent_email or lead.consent_tracking) and lead.consent_at is None:
        put("consent_at", now)
    return dirty
