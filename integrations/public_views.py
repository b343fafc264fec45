"""``POST /connect/<webhook key>/``: vendor webhooks in (integrations/inbound.py).

Public (the vendor's signature or the URL key authenticates the sender), CSRF exempt,
JSON errors like the API; 202 ``{"accepted", "duplicates"}``.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from smarketing.errors import ServiceError

from . import inbound
from .connectors.base import InboundRequest


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )


@csrf_exempt
@require_POST
def connector_webhook(request: HttpRequest, webhook_key: str) -> HttpResponse:
    connection = inbound.find_connection(webhook_key)
    if connection is None:
        return _error(404, "not_found", _("Unknown or paused connection."))
    try:
        request_data = InboundRequest.from_django(request, now=timezone.now())
    except RequestDataTooBig:
        return _error(413, "too_large", _("The message is too large."))
    with translation.override(connection.organization.language):
        try:
            result = inbound.receive(connection=connection, request=request_data)
        except ServiceError as error:
            return _error(error.status, error.code, error.message, error.fields)
    return JsonResponse({"accepted": result.accepted, "duplicates": result.duplicates}, status=202)
