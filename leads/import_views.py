"""The CSV import pages under ``/o/<slug>/imports/``: history, upload, mapping with
preview and validation report, start, progress (polled with htmx), report download.

Each view: check ``leads.import`` (403 otherwise; the middleware has already 404'd
non-members) → resolve the job with ``get_import_job_for_org`` (404 for another
organization's id) → call one service or read → respond.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smarketing.tenancy import permissions
from smarketing.tenancy.models import Membership
from smarketing.tenancy.permissions import has_perm

from . import imports
from .import_forms import MappingForm, UploadForm
from .imports import CsvImportError
from .models import ImportJob

PAGE_SIZE = 25
REPORT_ON_PAGE = 200
POLLING = frozenset({ImportJob.Status.QUEUED, ImportJob.Status.RUNNING})


def _require(request: HttpRequest) -> Membership:
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, "leads.import"):
        raise PermissionDenied("leads.import")
    return membership


def _job(request: HttpRequest, job_id: int, **kwargs) -> ImportJob:
    return imports.get_import_job_for_org(request.organization, job_id, **kwargs)  # type: ignore[attr-defined]


def _detail(request: HttpRequest, job: ImportJob):
    return redirect("imports:detail", org_slug=request.organization.slug, job_id=job.pk)  # type: ignore[attr-defined]


@require_GET
def import_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    _require(request)
    page = Paginator(imports.import_jobs(request.organization), PAGE_SIZE).get_page(  # type: ignore[attr-defined]
        request.GET.get("page")
    )
    return render(request, "leads/imports/list.html", {"page": page})


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = imports.import_upload(
                    actor=membership,
                    organization=request.organization,  # type: ignore[attr-defined]
                    filename=upload.name,
                    raw=upload.read(),
                    delimiter=form.cleaned_data["delimiter"],
                )
            except permissions.PermissionDenied as error:
                raise PermissionDenied(str(error)) from error
            except CsvImportError as error:
                _put_errors(form, error)
            else:
                return _detail(request, job)
    return render(request, "leads/imports/upload.html", {"form": form}, status=status)


def _put_errors(form, error: CsvImportError) -> None:
    placed = False
    for name, messages in error.fields.items():
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _mapping_form(job: ImportJob, data=None) -> MappingForm:
    return MappingForm(
        data,
        headers=imports.job_headers(job),
        columns=imports.job_columns(job),
        samples=imports.column_samples(job),
        initial={"overwrite": bool((job.mapping or {}).get("overwrite"))},
    )


def _preview_context(job: ImportJob, columns: list[str]) -> dict:
    fields, rows = imports.preview(job, columns)
    saved = imports.job_columns(job)
    return {
        "preview_fields": fields,
        "preview_rows": rows,
        # The report and the Import button are for the saved mapping only.
        "mapping_changed": job.status == ImportJob.Status.VALIDATED and columns != saved,
    }


def _render_mapping(
    request: HttpRequest, job: ImportJob, form: MappingForm, *, status: int = 200, error=""
) -> HttpResponse:
    columns = form.columns() if form.is_bound else imports.job_columns(job)
    report = (job.mapping or {}).get("report") if job.status == ImportJob.Status.VALIDATED else None
    issues = list(job.errors or []) if report else []
    context = {
        "job": job,
        "form": form,
        "report": report,
        "issues": issues[:REPORT_ON_PAGE],
        "issues_hidden": max(0, (report or {}).get("issues", 0) - REPORT_ON_PAGE),
        "encoding": (job.mapping or {}).get("encoding", ""),
        "delimiter_label": _("tab") if job.delimiter == "\t" else job.delimiter,
        "error": error,
        **_preview_context(job, columns),
    }
    return render(request, "leads/imports/mapping.html", context, status=status)


def _render_progress(request: HttpRequest, job: ImportJob) -> HttpResponse:
    errors = list(job.errors or [])
    duration = ""
    if job.started_at and job.finished_at:
        seconds = (job.finished_at - job.started_at).total_seconds()
        duration = (
            _("%(n)s s") % {"n": max(1, round(seconds))}
            if seconds < 60
            else timesince(job.started_at, job.finished_at)
        )
    context = {
        "job": job,
        "duration": duration,
        "polling": job.status in POLLING,
        "summary": (job.mapping or {}).get("report") or {},
        "issues": errors[:REPORT_ON_PAGE],
        "issues_hidden": max(0, len(errors) - REPORT_ON_PAGE),
    }
    template = "leads/imports/progress.html"
    if request.htmx:  # type: ignore[attr-defined]
        template += "#progress"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, org_slug: str, job_id: int) -> HttpResponse:
    """Before the run: the mapping, preview and report (POST checks the file with the
    submitted mapping). From the start on: the progress and then the summary."""
    membership = _require(request)
    job = _job(request, job_id, without_content=True)
    if job.status not in imports.EDITABLE:
        return _render_progress(request, job)
    if request.method == "GET":
        return _render_mapping(request, job, _mapping_form(job))
    form = _mapping_form(job, request.POST)
    if form.is_valid():
        try:
            imports.import_validate(
                actor=membership,
                job=job,
                columns=form.columns(),
                overwrite=form.cleaned_data["overwrite"],
            )
        except permissions.PermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        except CsvImportError as error:
            _put_errors(form, error)
        else:
            response = _detail(request, job)
            response["Location"] += "#report"
            return response
    return _render_mapping(request, job, form, status=400)


@require_POST
def import_preview(request: HttpRequest, org_slug: str, job_id: int) -> HttpResponse:
    """The preview table for the mapping being edited (htmx, on every change)."""
    _require(request)
    job = _job(request, job_id)
    if job.status not in imports.EDITABLE:
        return _detail(request, job)
    form = _mapping_form(job, request.POST)
    context = {"job": job, **_preview_context(job, form.columns())}
    return render(request, "leads/imports/mapping.html#preview", context)


@require_POST
def import_start(request: HttpRequest, org_slug: str, job_id: int) -> HttpResponse:
    membership = _require(request)
    job = _job(request, job_id)
    try:
        imports.import_start(actor=membership, job=job)
    except permissions.PermissionDenied as error:
        raise PermissionDenied(str(error)) from error
    except CsvImportError as error:
        return _render_mapping(
            request, job, _mapping_form(job), status=error.status, error=error.message
        )
    return _detail(request, job)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
def import_report(request: HttpRequest, org_slug: str, job_id: int) -> HttpResponse:
    """Every issue of the file (the page shows the first ones), as CSV. Computed from
    the job's content already in memory: no database access while streaming."""
    _require(request)
    job = _job(request, job_id)
    writer = csv.writer(_Echo(), delimiter=job.delimiter, lineterminator="\r\n")
    header = "\ufeff" + writer.writerow([_("Row"), _("Column"), _("Level"), _("Problem")])
    levels = {"error": _("error"), "warning": _("warning")}
    language = translation.get_language()

    def lines() -> Iterator[str]:
        # Streamed after the request, when its language is no longer active.
        with translation.override(language):
            yield header
            for issue in imports.report_issues(job):
                yield writer.writerow([issue.row, issue.column, levels[issue.level], issue.error])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stem = job.filename.rsplit(".", 1)[0] or "import"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{stem}-report.csv"
    )
    return response
