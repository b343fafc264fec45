"""What the HTML views of every app do with a service's refusal.

A service raises ``permissions.PermissionDenied`` or a ``ServiceError`` subclass; a view
turns "not allowed" into 403 and "no such thing" into 404 (``refusals_as_http``), and
shows the other refusals next to its form (``add_service_errors``). Pages that show a
secret once are sent with ``no_store``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from smarketing.errors import ServiceError

from . import permissions


@contextlib.contextmanager
def refusals_as_http() -> Iterator[None]:
    """403 for "not allowed", 404 for "no such thing"; other ``ServiceError``s are left
    to the view, which shows them next to the form."""
    try:
        yield
    except permissions.PermissionDenied as error:
        raise PermissionDenied(str(error)) from error
    except ServiceError as error:
        if error.status == 403:
            raise PermissionDenied(error.message) from error
        if error.status == 404:
            raise Http404(error.message) from error
        raise


def no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not stay in a cache or in history."""
    response["Cache-Control"] = "no-store"
    return response


def add_service_errors(form, error: ServiceError) -> None:
    """A refusal's field errors next to the form's fields (the rest above the form)."""
    if not error.fields:
        form.add_error(None, error.message)
    for field, field_errors in error.fields.items():
        target = field if field in form.fields else None
        for message in field_errors if isinstance(field_errors, list) else [str(field_errors)]:
            form.add_error(target, message)
