"""The Celery application.

Queues per workload (DESIGN.md §6): ``ingest``, ``scoring``, ``sla``, ``reports`` and
``default``. Tasks declare their queue; JSON only; time limits from settings; no global
``acks_late`` — a task opts in only when running it twice is harmless (STYLE.md §4).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smarketing.settings")

app = Celery("smarketing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "ingest", "scoring", "sla", "reports")]
app.conf.task_default_queue = "default"
# Periodic tasks register themselves here from each app's tasks module
# (``app.conf.beat_schedule[...] = ...``) so the schedule sits next to the task.
app.conf.beat_schedule = {}
app.autodiscover_tasks()
