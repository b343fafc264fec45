"""Celery tasks of the leads app. Celery autodiscovers ``<app>/tasks.py`` only, so the
task modules of each feature are imported here to be registered."""

from . import import_tasks  # noqa: F401  (registers run_import, the CSV import)
