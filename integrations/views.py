"""Settings pages under ``/o/<slug>/settings/integrations/``: connected tools
(``integrations.manage``) and outbound webhooks (``webhooks.manage``).

Each view: permission → ids resolved in the organization (404 otherwise) → one service
→ a page or a redirect. Secrets are shown once, on the answer to the POST that made
them (no-store); credentials are never shown again (masked hints).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from smarketing.tenancy.edge import add_service_errors, no_store, refusals_as_http
from smarketing.tenancy.permissions import has_perm

from . import services, webhooks_out
from .connectors.base import get_connector
from .forms import (
    FieldMappingForm,
    WebhookSubscriptionForm,
    connect_form_class,
    credentials_from,
    settings_from,
    settings_initial,
)
from .models import WebhookDelivery


def _require(request: HttpRequest, perm: str):
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


def _delay_label(delay) -> str:
    seconds = int(delay.total_seconds())
    if seconds < 60:
        return _("%(n)d s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)d min") % {"n": seconds // 60}
    return _("%(n)d h") % {"n": seconds // 3600}


def _ctx(**extra) -> dict:
    return {"current": "integrations-home", **extra}


# --- Home ---------------------------------------------------------------------------------


def home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = request.membership  # type: ignore[attr-defined]
    can_connect = has_perm(membership, "integrations.manage")
    can_hooks = has_perm(membership, "webhooks.manage")
    if not (can_connect or can_hooks):
        raise PermissionDenied("integrations.manage")
    org = request.organization  # type: ignore[attr-defined]
    context = _ctx(
        can_connect=can_connect,
        can_hooks=can_hooks,
        catalog=services.catalog(org) if can_connect else [],
        subscriptions=list(webhooks_out.subscriptions(org)) if can_hooks else [],
    )
    return render(request, "integrations/home.html", context)


# --- Connections ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, org_slug: str, vendor: str) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connector = get_connector(vendor)
    if connector is None:
        raise Http404
    form_class = connect_form_class(connector)
    form = form_class(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            with refusals_as_http():
                try:
                    connection = services.connection_create(
                        actor=actor,
                        vendor=connector.key,
                        name=form.cleaned_data["name"],
                        credentials=credentials_from(form, connector),
                        settings=settings_from(form, connector),
                    )
                except services.IntegrationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(
                        request,
                        _("%(name)s is connected: the first sync starts within minutes.")
                        % {"name": connection.name},
                    )
                    services.connection_sync_now(actor=actor, connection=connection)
                    shown = _generated_token_page(request, connection, connector)
                    if shown is not None:
                        return shown
                    return redirect(
                        "integrations-connection", org_slug=org_slug, connection_id=connection.pk
                    )
    return render(
        request,
        "integrations/connect.html",
        _ctx(connector=connector, form=form),
        status=status,
    )


def _generated_token_page(request: HttpRequest, connection, connector) -> HttpResponse | None:
    """The full webhook URL with a token Smarketing just generated: shown once."""
    generated = getattr(connection, "generated_secrets", None) or {}
    if not generated.get("webhook_token"):
        return None
    hook_url = (
        _webhook_url(request, connection) + "?" + urlencode({"token": generated["webhook_token"]})
    )
    context = _ctx(connection=connection, connector=connector, hook_url=hook_url)
    return no_store(render(request, "integrations/connect_done.html", context))


def _webhook_url(request: HttpRequest, connection) -> str:
    return request.build_absolute_uri(
        reverse("integrations-connector-webhook", kwargs={"webhook_key": connection.webhook_key})
    )


@require_http_methods(["GET", "POST"])
def connection_detail(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    org = request.organization  # type: ignore[attr-defined]
    connection = services.get_connection_for_org(org, connection_id)
    connector = connection.connector
    form = None
    status = 200
    if connector is not None:
        form_class = connect_form_class(connector, editing=True)
        initial = {"name": connection.name, **settings_initial(connection, connector)}
        for spec in connector.credential_fields:
            if not spec.secret:
                initial[spec.name] = connection.credential_hints.get(spec.name, "")
        form = form_class(request.POST or None, initial=initial)
        if request.method == "POST":
            status = 400
            if form.is_valid():
                with refusals_as_http():
                    try:
                        connection = services.connection_update(
                            actor=actor,
                            connection=connection,
                            name=form.cleaned_data["name"],
                            credentials=credentials_from(form, connector),
                            settings=settings_from(form, connector),
                        )
                    except services.IntegrationError as error:
                        add_service_errors(form, error)
                    else:
                        messages.success(request, _("Connection saved."))
                        shown = _generated_token_page(request, connection, connector)
                        if shown is not None:
                            return shown
                        return redirect(
                            "integrations-connection",
                            org_slug=org_slug,
                            connection_id=connection.pk,
                        )
    elif request.method == "POST":
        raise Http404
    context = _ctx(
        connection=connection,
        connector=connector,
        form=form,
        runs=services.recent_runs(org, connection),
        logs=services.connection_logs(org, connection, limit=10),
        webhook_url=_webhook_url(request, connection),
        url_token=any(spec.generate for spec in (connector.credential_fields if connector else ())),
        hints=[
            (spec.label, connection.credential_hints[spec.name])
            for spec in (connector.credential_fields if connector else ())
            if spec.name in (connection.credential_hints or {})
        ],
    )
    return render(request, "integrations/connection.html", context, status=status)


@require_POST
def connection_sync(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connection = services.get_connection_for_org(request.organization, connection_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        try:
            services.connection_sync_now(actor=actor, connection=connection)
        except services.IntegrationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Sync requested: it starts within seconds."))
    return redirect("integrations-connection", org_slug=org_slug, connection_id=connection.pk)


@require_POST
def connection_check(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connection = services.get_connection_for_org(request.organization, connection_id)  # type: ignore[attr-defined]
    if connection.connector is None:
        raise Http404
    with refusals_as_http():
        error = services.connection_check(actor=actor, connection=connection)
    if error:
        messages.error(request, _("The test call failed: %(error)s") % {"error": error})
    else:
        messages.success(request, _("The credentials work."))
    return redirect("integrations-connection", org_slug=org_slug, connection_id=connection.pk)


@require_POST
def connection_enabled(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connection = services.get_connection_for_org(request.organization, connection_id)  # type: ignore[attr-defined]
    enabled = request.POST.get("enabled") == "1"
    with refusals_as_http():
        services.connection_set_enabled(actor=actor, connection=connection, enabled=enabled)
    if enabled:
        messages.success(request, _("%(name)s syncs again.") % {"name": connection.name})
    else:
        messages.success(
            request,
            _("%(name)s is paused: no sync, no push, its webhooks are refused.")
            % {"name": connection.name},
        )
    return redirect("integrations-connection", org_slug=org_slug, connection_id=connection.pk)


@require_POST
def connection_disconnect(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connection = services.get_connection_for_org(request.organization, connection_id)  # type: ignore[attr-defined]
    name = connection.name
    with refusals_as_http():
        services.connection_delete(actor=actor, connection=connection)
    messages.success(
        request,
        _("%(name)s is disconnected; its credentials are deleted. What it brought stays.")
        % {"name": name},
    )
    return redirect("integrations-home", org_slug=org_slug)


@require_http_methods(["GET", "POST"])
def connection_mapping(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    actor = _require(request, "integrations.manage")
    connection = services.get_connection_for_org(request.organization, connection_id)  # type: ignore[attr-defined]
    connector = connection.connector
    if connector is None:
        raise Http404
    if request.method == "POST":
        form = FieldMappingForm(request.POST)
        if form.is_valid():
            with refusals_as_http():
                try:
                    services.connection_set_mapping(
                        actor=actor, connection=connection, mapping=form.cleaned_data["mapping"]
                    )
                except services.IntegrationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("Field mapping saved: the next sync uses it."))
                    return redirect(
                        "integrations-mapping", org_slug=org_slug, connection_id=connection.pk
                    )
        status = 400
    else:
        form = FieldMappingForm(
            initial={
                "mapping": json.dumps(connection.field_mapping or {}, indent=2, ensure_ascii=False)
            }
        )
        status = 200
    effective = connector.field_mapping(connection)
    context = _ctx(
        connection=connection,
        connector=connector,
        form=form,
        defaults=sorted(connector.default_field_mapping.items()),
        effective=sorted(effective.items()),
        conflict_policy=sorted(connector.conflict_policy.items()),
    )
    return render(request, "integrations/mapping.html", context, status=status)


def connection_log(request: HttpRequest, org_slug: str, connection_id: int) -> HttpResponse:
    _require(request, "integrations.manage")
    org = request.organization  # type: ignore[attr-defined]
    connection = services.get_connection_for_org(org, connection_id)
    context = _ctx(
        connection=connection,
        logs=services.connection_logs(org, connection, limit=200),
        runs=services.recent_runs(org, connection, limit=50),
    )
    return render(request, "integrations/log.html", context)


# --- Outbound webhooks --------------------------------------------------------------------------


def _webhooks_page(request, *, form=None, status=200) -> HttpResponse:
    org = request.organization  # type: ignore[attr-defined]
    context = _ctx(
        subscriptions=list(webhooks_out.subscriptions(org)),
        form=form or WebhookSubscriptionForm(),
        event_types=webhooks_out.EVENT_TYPES,
        deliveries=webhooks_out.deliveries(org, limit=20),
    )
    return render(request, "integrations/webhooks.html", context, status=status)


@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest, org_slug: str) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    if request.method == "GET":
        return _webhooks_page(request)
    form = WebhookSubscriptionForm(request.POST)
    if form.is_valid():
        with refusals_as_http():
            try:
                subscription, secret = webhooks_out.subscription_create(
                    actor=actor, **form.cleaned_data
                )
            except webhooks_out.WebhookError as error:
                add_service_errors(form, error)
            else:
                context = _ctx(subscription=subscription, secret=secret, created=True)
                return no_store(render(request, "integrations/webhook_secret.html", context))
    return _webhooks_page(request, form=form, status=400)


@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, org_slug: str, subscription_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    org = request.organization  # type: ignore[attr-defined]
    subscription = webhooks_out.get_subscription_for_org(org, subscription_id)
    status = 200
    if request.method == "POST":
        form = WebhookSubscriptionForm(request.POST)
        status = 400
        if form.is_valid():
            with refusals_as_http():
                try:
                    webhooks_out.subscription_update(
                        actor=actor, subscription=subscription, **form.cleaned_data
                    )
                except webhooks_out.WebhookError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("Webhook saved."))
                    return redirect(
                        "integrations-webhook", org_slug=org_slug, subscription_id=subscription.pk
                    )
    else:
        form = WebhookSubscriptionForm(
            initial={
                "url": subscription.url,
                "description": subscription.description,
                "event_types": subscription.event_types,
            }
        )
    wanted = request.GET.get("status", "")
    if wanted not in WebhookDelivery.Status.values:
        wanted = ""
    context = _ctx(
        subscription=subscription,
        form=form,
        status_filter=wanted,
        statuses=WebhookDelivery.Status.choices,
        deliveries=webhooks_out.deliveries(org, subscription=subscription, status=wanted),
        schedule=[_delay_label(delay) for delay in webhooks_out.RETRY_DELAYS],
    )
    return render(request, "integrations/webhook.html", context, status=status)


@require_POST
def webhook_rotate(request: HttpRequest, org_slug: str, subscription_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    subscription = webhooks_out.get_subscription_for_org(request.organization, subscription_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        secret = webhooks_out.subscription_rotate_secret(actor=actor, subscription=subscription)
    context = _ctx(subscription=subscription, secret=secret, created=False)
    return no_store(render(request, "integrations/webhook_secret.html", context))


@require_POST
def webhook_active(request: HttpRequest, org_slug: str, subscription_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    subscription = webhooks_out.get_subscription_for_org(request.organization, subscription_id)  # type: ignore[attr-defined]
    active = request.POST.get("active") == "1"
    with refusals_as_http():
        webhooks_out.subscription_set_active(actor=actor, subscription=subscription, active=active)
    if active:
        messages.success(request, _("Webhook re-enabled: pending messages are sent again."))
    else:
        messages.success(request, _("Webhook disabled: nothing is sent until you re-enable it."))
    return redirect("integrations-webhook", org_slug=org_slug, subscription_id=subscription.pk)


@require_POST
def webhook_delete(request: HttpRequest, org_slug: str, subscription_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    subscription = webhooks_out.get_subscription_for_org(request.organization, subscription_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        webhooks_out.subscription_delete(actor=actor, subscription=subscription)
    messages.success(request, _("Webhook deleted."))
    return redirect("integrations-webhooks", org_slug=org_slug)


@require_POST
def webhook_test(request: HttpRequest, org_slug: str, subscription_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    subscription = webhooks_out.get_subscription_for_org(request.organization, subscription_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        webhooks_out.send_test(actor=actor, subscription=subscription)
    messages.success(request, _("Test message queued: see the delivery log below."))
    return redirect("integrations-webhook", org_slug=org_slug, subscription_id=subscription.pk)


@require_POST
def delivery_redeliver(request: HttpRequest, org_slug: str, delivery_id: int) -> HttpResponse:
    actor = _require(request, "webhooks.manage")
    delivery = webhooks_out.get_delivery_for_org(request.organization, delivery_id)  # type: ignore[attr-defined]
    with refusals_as_http():
        webhooks_out.delivery_redeliver(actor=actor, delivery=delivery)
    messages.success(request, _("Message %(id)s queued again.") % {"id": delivery.message_id})
    return redirect(
        "integrations-webhook", org_slug=org_slug, subscription_id=delivery.subscription_id
    )


def delivery_detail(request: HttpRequest, org_slug: str, delivery_id: int) -> HttpResponse:
    _require(request, "webhooks.manage")
    delivery = webhooks_out.get_delivery_for_org(request.organization, delivery_id)  # type: ignore[attr-defined]
    context = _ctx(
        delivery=delivery,
        subscription=delivery.subscription,
        body=json.dumps(delivery.payload, indent=2, ensure_ascii=False),
    )
    return render(request, "integrations/delivery.html", context)
