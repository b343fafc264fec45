"""The CSV import pages, included under ``/o/<slug:org_slug>/imports/`` with the
namespace ``imports``: ``{% url 'imports:list' org_slug=organization.slug %}``."""

from __future__ import annotations

from django.urls import path

from . import export, import_views

app_name = "imports"

urlpatterns = [
    path("", import_views.import_list, name="list"),
    path("new/", import_views.import_upload, name="upload"),
    path("<int:job_id>/", import_views.import_detail, name="detail"),
    path("<int:job_id>/preview/", import_views.import_preview, name="preview"),
    path("<int:job_id>/start/", import_views.import_start, name="start"),
    path("<int:job_id>/report.csv", import_views.import_report, name="report"),
    # The export of the (filtered) lead list: the other half of "CSV in and out".
    path("export/", export.lead_export, name="export"),
]
