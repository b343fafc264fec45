"""``manage.py check_worker``: does a Celery worker consume every queue?

Sends ``smarketing.tenancy.tasks.probe`` for one organization to each queue (all the
configured queues, or those given with ``--queue``) and waits for the results through
the result backend. Prints what each probe saw (the tenant setting, the database user,
which organizations' memberships were visible). Exit status 0 when every queue
answered, 1 otherwise (no answer within ``--timeout``, or the task failed).

    manage.py check_worker [--org acme] [--queue sla] [--timeout 20]
"""

from __future__ import annotations

import time

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from smarketing.tenancy.models import Organization
from smarketing.tenancy.tasks import probe


class Command(BaseCommand):
    help = "Send a probe task to each Celery queue and wait for the worker's answers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", metavar="SLUG", help="default: acme, else the first one")
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="a queue to probe (repeatable); default: every configured queue",
        )
        parser.add_argument("--timeout", type=float, default=20.0, help="seconds, in all")

    def handle(self, *args, **opts) -> None:
        org = self._organization(opts["org"])
        queues = opts["queues"] or list(settings.CELERY_TASK_QUEUES_NAMES)
        self.stdout.write(
            f"probing {', '.join(queues)} for organization {org.slug} (id {org.pk}) "
            f"via {_safe_url(settings.CELERY_BROKER_URL)}"
        )
        sent = {queue: probe.apply_async(args=[org.pk], queue=queue) for queue in queues}
        deadline = time.monotonic() + opts["timeout"]
        silent, failed = [], []
        for queue, result in sent.items():
            started = time.monotonic()
            remaining = max(deadline - started, 0.1)
            try:
                answer = result.get(timeout=remaining, propagate=False, interval=0.2)
            except CeleryTimeoutError:
                silent.append(queue)
                result.forget()
                self.stdout.write(
                    self.style.ERROR(f"{queue:<8} no answer within {opts['timeout']:g} s")
                )
                continue
            if result.failed():
                failed.append(queue)
                self.stdout.write(
                    self.style.ERROR(f"{queue:<8} consumed, but the task failed: {answer!r}")
                )
            else:
                self.stdout.write(
                    self.style.SUCCESS(f"{queue:<8} ok in {time.monotonic() - started:.2f} s: ")
                    + f"{answer}"
                )
            result.forget()
        problems = []
        if silent:
            problems.append(
                f"no worker answered on {', '.join(silent)} "
                "(is a worker running with -Q for these queues?)"
            )
        if failed:
            problems.append(f"the probe failed on {', '.join(failed)}")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(self.style.SUCCESS(f"worker answered on all {len(queues)} queues"))

    def _organization(self, slug: str | None) -> Organization:
        if slug:
            org = Organization.objects.filter(slug=slug).first()
            if org is None:
                raise CommandError(f"no organization with slug {slug!r}")
            return org
        org = (
            Organization.objects.filter(slug="acme").first()
            or Organization.objects.order_by("pk").first()
        )
        if org is None:
            raise CommandError("no organization yet: run manage.py load_demo first")
        return org


def _safe_url(url: str) -> str:
    """The broker URL without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)
