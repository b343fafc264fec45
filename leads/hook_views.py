"""The inbound webhook endpoint, mounted at ``/hooks/``: ``POST /hooks/<token>/``.

Public (the token and the signature authenticate the sender), CSRF exempt, JSON
errors like the API. 202 ``{"accepted", "duplicates"}`` is answered once the request's
transaction commits (the tenant middleware holds it open until the view returns).
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from smarketing.errors import ServiceError

from . import hooks


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )


@csrf_exempt
@require_POST
def hook_receive(request: HttpRequest, token: str) -> HttpResponse:
    endpoint = hooks.find_webhook_endpoint(token)
    if endpoint is None:
        return _error(404, "not_found", _("Unknown or inactive webhook endpoint."))
    try:
        # Bounded by DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default).
        body = request.body
    except RequestDataTooBig:
        return _error(413, "too_large", _("The message is too large."))
    # Messages (in the answer and in the receipts log) in the organization's language.
    with translation.override(endpoint.organization.language):
        try:
            result = hooks.webhook_receive(endpoint=endpoint, body=body, headers=request.headers)
        except ServiceError as error:  # HookError (401, 409, 400) or IngestError (400)
            return _error(error.status, error.code, error.message, error.fields)
    return JsonResponse({"accepted": result.accepted, "duplicates": result.duplicates}, status=202)
