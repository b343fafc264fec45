"""Celery tasks that work for one organization.

``@tenant_task(queue="scoring")`` turns ``fn(organization, *ids)`` into a task called
as ``fn.delay(organization_id, *ids)``: it re-fetches the organization, opens a
transaction with the tenant set (row-level security applies, exactly as in a web
request) and calls ``fn``. Tasks take ids, never model instances (JSON only).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

from .db import tenant_context
from .models import Organization

log = logging.getLogger(__name__)


def tenant_task(*, queue: str, **options: Any) -> Callable:
    def decorator(fn: Callable) -> Any:
        @shared_task(name=f"{fn.__module__}.{fn.__name__}", queue=queue, **options)
        @functools.wraps(fn)
        def run(organization_id: int, *args: Any, **kwargs: Any) -> Any:
            organization = Organization.objects.filter(pk=organization_id).first()
            if organization is None:
                log.warning("%s: organization %s is gone", fn.__name__, organization_id)
                return None
            with tenant_context(organization.pk):
                return fn(organization, *args, **kwargs)

        return run

    return decorator
