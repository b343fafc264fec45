"""Every API error as ``{"error": {"code", "message", "fields"}}`` (SPEC.md §5).

Kept apart from ``tenancy.api`` because DRF imports its exception handler while
``rest_framework.views`` is itself loading. A handled error also rolls back the
request's transaction: a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from smarketing.errors import ServiceError

from .permissions import PermissionDenied


def _flatten_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _flatten_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _flatten_message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ServiceError):
        exc_status, code, message, fields = exc.status, exc.code, exc.message, exc.fields
        headers: dict = {}
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied | PermissionDenied):
            exc = exceptions.PermissionDenied()
        response = drf_exception_handler(exc, context)
        if response is None:
            return None  # a real bug: Django answers 500 and the transaction rolls back
        exc_status = response.status_code
        fields: dict = {}
        if isinstance(exc, exceptions.ValidationError):
            code = "invalid"
            if isinstance(exc.detail, dict):
                fields = exc.detail
                non_field = fields.pop("non_field_errors", None)
                message = _flatten_message(non_field) if non_field else _("Invalid input.")
            else:
                message = _flatten_message(exc.detail)
        else:
            code = getattr(exc, "default_code", "error")
            if isinstance(exc.detail, dict):
                code = str(exc.detail.get("code", code))
            message = _flatten_message(exc.detail)
        headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After")}
    if transaction.get_connection().in_atomic_block:
        transaction.set_rollback(True)
    body = {"error": {"code": code, "message": message, "fields": fields}}
    return Response(body, status=exc_status, headers=headers)
