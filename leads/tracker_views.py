"""The website tracker's public endpoints, mounted at ``/t/``: the snippet and collect.

Outside ``/o/…``: no session, no login, no CSRF token (the snippet runs on the
customer's site and sends no cookie of ours). The organization is found by the public
key; errors are JSON ``{"error": {"code", "message", "fields"}}`` like the API, never
a 500 for a bad payload.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from smarketing.errors import ServiceError

from . import tracker

CORS_MAX_AGE = 600


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )


@require_safe
def tracker_script(request: HttpRequest, public_key: str) -> HttpResponse:
    """The snippet configured for this organization. Unknown or disabled key → 404."""
    tracking = tracker.find_tracking_settings(public_key)
    if tracking is None:
        return HttpResponse(
            "/* unknown or disabled tracker */", status=404, content_type="text/javascript"
        )
    collect_url = request.build_absolute_uri(
        reverse("tracker-collect", kwargs={"public_key": tracking.public_key})
    )
    body = render_to_string(
        "leads/tracker.js",
        {"collect_url_json": json.dumps(collect_url), "consent_required": tracking.require_consent},
    )
    response = HttpResponse(body.strip() + "\n", content_type="text/javascript; charset=utf-8")
    # Short: a settings change (consent, key rotation) reaches the sites within minutes.
    response["Cache-Control"] = "public, max-age=300"
    return response


def _with_cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
    return response


@csrf_exempt
def tracker_collect(request: HttpRequest, public_key: str) -> HttpResponse:
    """Events from the snippet: JSON in a ``text/plain`` or ``application/json`` body
    (``sendBeacon`` and simple ``fetch`` requests send text, which needs no preflight)."""
    response = _collect(request, public_key)
    patch_vary_headers(response, ["Origin"])
    return response


def _collect(request: HttpRequest, public_key: str) -> HttpResponse:
    tracking = tracker.find_tracking_settings(public_key)
    if tracking is None:
        return _error(404, "not_found", _("Unknown or disabled tracker."))
    origin = request.headers.get("Origin", "")
    if not tracker.origin_allowed(tracking, origin):
        return _error(403, "origin_refused", _("This site is not allowed to send events here."))
    if request.method == "OPTIONS":
        return _with_cors(HttpResponse(status=204), origin)
    if request.method != "POST":
        response = _error(405, "method_not_allowed", _("POST events here."))
        response["Allow"] = "POST, OPTIONS"
        return _with_cors(response, origin)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > tracker.MAX_BODY_BYTES or len(request.body) > tracker.MAX_BODY_BYTES:
        return _with_cors(_error(413, "too_large", _("At most 64 KB per request.")), origin)
    try:
        payload = json.loads(request.body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _with_cors(_error(400, "invalid_json", _("The body is not JSON.")), origin)
    try:
        with translation.override(tracking.organization.language):
            result = tracker.tracker_collect(
                tracking=tracking, payload=payload, client_ip=tracker.client_address(request.META)
            )
    except tracker.RateLimited as error:
        response = _error(error.status, error.code, error.message)
        response["Retry-After"] = str(error.retry_after)
        return _with_cors(response, origin)
    except ServiceError as error:  # TrackerError, IngestError: a 4xx with field errors
        return _with_cors(_error(error.status, error.code, error.message, error.fields), origin)
    return _with_cors(
        JsonResponse({"accepted": result.accepted, "duplicates": result.duplicates}, status=202),
        origin,
    )


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")
