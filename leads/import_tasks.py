"""Celery entry point of the CSV import: one chunk of rows per task, chained.

``@tenant_task`` runs a task in one transaction with the tenant set. An import of
100,000 rows in a single transaction would show no progress until its very end and
lose everything on a crash, so each task imports one chunk, commits it together with
the job's counters, and sends the task for the next chunk after that commit. The
progress page therefore polls committed numbers, and a redelivered chunk is claimed
once (compare-and-swap on ``processed_rows`` in ``imports.import_run_chunk``), which
is why ``acks_late`` is safe here: a worker killed mid-chunk rolls the chunk back and
the broker delivers it again.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from smarketing.tenancy.tasking import tenant_task

from . import imports

log = logging.getLogger(__name__)


@tenant_task(queue="ingest", acks_late=True, reject_on_worker_lost=True)
def run_import(organization, job_id: int, cursor: dict | None = None) -> dict | None:
    """Import the next chunk of job ``job_id`` (the first one when ``cursor`` is None)
    and chain the next chunk. Running it twice for the same job does nothing the
    second time. Returns the next cursor (None when the job is finished or was not
    ours to run)."""
    try:
        with transaction.atomic():
            next_cursor = imports.import_run_chunk(
                organization=organization, job_id=int(job_id), cursor=cursor
            )
    except Exception as error:
        # Whatever it was (a bug, the database, the time limit), the chunk is rolled
        # back (savepoint) and nothing retries it: mark the job failed so the page
        # stops polling and says so, instead of a bar that never moves again.
        log.exception("import %s failed", job_id)
        message = getattr(error, "message", "") or _("The import stopped on an internal error.")
        imports.import_fail(organization=organization, job_id=int(job_id), message=message)
        return None
    if next_cursor is not None:
        org_id = organization.pk
        transaction.on_commit(lambda: run_import.delay(org_id, int(job_id), next_cursor))
    return next_cursor
