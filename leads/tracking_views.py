"""The tracking settings page, under ``/o/<slug>/settings/tracking/``: the website
tracker (allowed domains, consent, rate limit, public key, install snippet) and the
inbound webhook endpoints (create, mapping, deactivate, rotate the secret, receipts).

Everything here needs ``tracking.manage``. A new endpoint's URL token and signing
secret, and a rotated secret, are shown once on the response to the POST (no-store).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from smarketing.tenancy.edge import add_service_errors, no_store, refusals_as_http
from smarketing.tenancy.permissions import has_perm

from . import hooks, tracker
from .tracking_forms import (
    EVENT_TYPES,
    MappingPreviewForm,
    TrackingSettingsForm,
    WebhookEndpointCreateForm,
    WebhookEndpointForm,
)

MAPPING_EXAMPLE = {
    "events": "data.registrations",
    "fields": {
        "id": "id",
        "email": "attendee.email",
        "first_name": "attendee.first_name",
        "occurred_at": "registered_at",
        "properties.webinar": "$.data.webinar.title",
    },
    "constants": {"type": "webinar_registered", "campaign": "webinar-q4"},
}


def _require(request: HttpRequest):
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, "tracking.manage"):
        raise PermissionDenied("tracking.manage")
    return membership


def _script_url(request: HttpRequest, public_key: str) -> str:
    return request.build_absolute_uri(reverse("tracker-script", kwargs={"public_key": public_key}))


def _settings_page(
    request: HttpRequest,
    *,
    settings_form: TrackingSettingsForm | None = None,
    create_form: WebhookEndpointCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    org = request.organization  # type: ignore[attr-defined]
    tracking = tracker.tracking_settings_for(organization=org)
    if settings_form is None:
        settings_form = TrackingSettingsForm(
            initial={
                "enabled": tracking.enabled,
                "allowed_domains": "\n".join(tracking.allowed_domains or []),
                "require_consent": tracking.require_consent,
                "rate_limit_per_minute": tracking.rate_limit_per_minute,
            }
        )
    context = {
        "tracking": tracking,
        "settings_form": settings_form,
        "create_form": create_form or WebhookEndpointCreateForm(),
        "script_url": _script_url(request, tracking.public_key),
        "endpoints": list(hooks.webhook_endpoints(org)),
        "receipts": hooks.webhook_receipts(org, limit=10),
        "event_types": EVENT_TYPES,
    }
    return render(request, "leads/tracking/settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
def tracking_settings(request: HttpRequest, org_slug: str) -> HttpResponse:
    actor = _require(request)
    if request.method == "GET":
        return _settings_page(request)
    form = TrackingSettingsForm(request.POST)
    if form.is_valid():
        tracking = tracker.tracking_settings_for(organization=request.organization)  # type: ignore[attr-defined]
        with refusals_as_http():
            try:
                tracker.tracking_settings_update(
                    actor=actor, tracking=tracking, **form.cleaned_data
                )
            except tracker.TrackerError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Tracker settings saved."))
                return redirect("tracking-settings", org_slug=org_slug)
    return _settings_page(request, settings_form=form, status=400)


@require_POST
def tracking_rotate_key(request: HttpRequest, org_slug: str) -> HttpResponse:
    actor = _require(request)
    tracking = tracker.tracking_settings_for(organization=request.organization)  # type: ignore[attr-defined]
    with refusals_as_http():
        tracker.tracking_key_rotate(actor=actor, tracking=tracking)
    messages.success(
        request, _("New public key. Update the snippet on your sites: the old one stopped working.")
    )
    return redirect("tracking-settings", org_slug=org_slug)


@require_POST
def webhook_create(request: HttpRequest, org_slug: str) -> HttpResponse:
    actor = _require(request)
    form = WebhookEndpointCreateForm(request.POST)
    if form.is_valid():
        with refusals_as_http():
            try:
                endpoint, token, secret = hooks.webhook_endpoint_create(
                    actor=actor, **form.cleaned_data
                )
            except hooks.HookError as error:
                add_service_errors(form, error)
            else:
                url = request.build_absolute_uri(reverse("hook-receive", kwargs={"token": token}))
                context = {"endpoint": endpoint, "url": url, "secret": secret, "created": True}
                return no_store(render(request, "leads/tracking/webhook_secret.html", context))
    return _settings_page(request, create_form=form, status=400)


def _webhook_page(
    request: HttpRequest,
    endpoint,
    *,
    form: WebhookEndpointForm | None = None,
    extra: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    org = request.organization  # type: ignore[attr-defined]
    if form is None:
        form = WebhookEndpointForm(
            initial={
                "name": endpoint.name,
                "default_type": endpoint.default_type,
                "mapping": json.dumps(endpoint.mapping or {}, indent=2, ensure_ascii=False),
            }
        )
    context = {
        "endpoint": endpoint,
        "form": form,
        "preview_form": MappingPreviewForm(),
        "receipts": hooks.webhook_receipts(org, endpoint=endpoint, limit=hooks.RECEIPTS_SHOWN),
        "source": hooks.source_for(endpoint),
        "event_types": EVENT_TYPES,
        "mapping_example": json.dumps(MAPPING_EXAMPLE, indent=2),
        **(extra or {}),
    }
    return render(request, "leads/tracking/webhook.html", context, status=status)


@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, org_slug: str, endpoint_id: int) -> HttpResponse:
    actor = _require(request)
    endpoint = hooks.get_webhook_endpoint_for_org(request.organization, endpoint_id)  # type: ignore[attr-defined]
    if request.method == "GET":
        return _webhook_page(request, endpoint)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        with refusals_as_http():
            try:
                hooks.webhook_endpoint_update(actor=actor, endpoint=endpoint, **form.cleaned_data)
            except hooks.HookError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Webhook endpoint saved."))
                return redirect("tracking-webhook", org_slug=org_slug, endpoint_id=endpoint.pk)
    return _webhook_page(request, endpoint, form=form, status=400)


@require_POST
def webhook_preview(request: HttpRequest, org_slug: str, endpoint_id: int) -> HttpResponse:
    """The events a sample payload would give with the mapping being edited; writes
    nothing. An htmx fragment (the page without JavaScript)."""
    _require(request)
    endpoint = hooks.get_webhook_endpoint_for_org(request.organization, endpoint_id)  # type: ignore[attr-defined]
    data = request.POST.copy()
    if "mapping" not in data:  # without htmx the form does not carry the edited mapping
        data["mapping"] = json.dumps(endpoint.mapping or {})
    form = MappingPreviewForm(data)
    context: dict = {"endpoint": endpoint, "preview_form": form}
    status = 200
    if form.is_valid():
        try:
            events = hooks.mapping_preview(
                endpoint=endpoint,
                mapping=form.cleaned_data["mapping"],
                payload=form.cleaned_data["sample"],
            )
        except hooks.HookError as error:
            context["preview_error"] = error.message
            context["preview_details"] = error.fields
            status = 422
        else:
            context["preview_events"] = json.dumps(events, indent=2, ensure_ascii=False)
    else:
        status = 422
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "leads/tracking/webhook.html#preview", context, status=status)
    return _webhook_page(request, endpoint, extra=context, status=200 if status == 200 else 400)


@require_POST
def webhook_set_active(request: HttpRequest, org_slug: str, endpoint_id: int) -> HttpResponse:
    actor = _require(request)
    endpoint = hooks.get_webhook_endpoint_for_org(request.organization, endpoint_id)  # type: ignore[attr-defined]
    active = request.POST.get("active") == "1"
    with refusals_as_http():
        hooks.webhook_endpoint_set_active(actor=actor, endpoint=endpoint, active=active)
    if active:
        messages.success(request, _("%(name)s receives webhooks again.") % {"name": endpoint.name})
    else:
        messages.success(
            request,
            _("%(name)s is deactivated: its URL answers 404.") % {"name": endpoint.name},
        )
    return redirect("tracking-webhook", org_slug=org_slug, endpoint_id=endpoint.pk)


@require_POST
def webhook_rotate_secret(request: HttpRequest, org_slug: str, endpoint_id: int) -> HttpResponse:
    actor = _require(request)
    endpoint = hooks.get_webhook_endpoint_for_org(request.organization, endpoint_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        secret = hooks.webhook_secret_rotate(actor=actor, endpoint=endpoint)
    context = {"endpoint": endpoint, "secret": secret, "created": False}
    return no_store(render(request, "leads/tracking/webhook_secret.html", context))
