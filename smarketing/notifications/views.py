"""The inbox, the bell and the preferences page. Every view works on the requesting
member's own notifications in the organization of the URL (the middleware has already
404'd non-members)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services

PAGE_SIZE = 25


def _inbox_url(request: HttpRequest) -> str:
    return reverse("notifications:list", kwargs={"org_slug": request.organization.slug})


@require_GET
def notification_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    unread_only = request.GET.get("filter") == "unread"
    page = Paginator(
        selectors.inbox(request.membership, unread_only=unread_only), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    context = {"page": page, "unread_only": unread_only}
    template = "notifications/list.html#inbox" if request.htmx else "notifications/list.html"
    return render(request, template, context)


@require_GET
def bell(request: HttpRequest, org_slug: str) -> HttpResponse:
    return render(request, "notifications/_bell.html")


@require_POST
def read(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    notification = selectors.get_notification_for_org(
        request.organization, pk, recipient=request.user
    )
    services.mark_read(membership=request.membership, notification=notification)
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = _inbox_url(request)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@require_POST
def read_all(request: HttpRequest, org_slug: str) -> HttpResponse:
    services.mark_all_read(membership=request.membership)
    if request.htmx:
        page = Paginator(selectors.inbox(request.membership), PAGE_SIZE).get_page(1)
        return render(
            request,
            "notifications/list.html#inbox",
            {"page": page, "unread_only": False, "bell_oob": True},
        )
    return redirect(_inbox_url(request))


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, org_slug: str) -> HttpResponse:
    status = 200
    error = None
    if request.method == "POST":
        choices = {
            kind: (f"in_app:{kind}" in request.POST, f"email:{kind}" in request.POST)
            for kind in request.POST.getlist("kind")
        }
        try:
            services.preferences_update(membership=request.membership, choices=choices)
        except services.NotificationError as exc:
            status, error = exc.status, exc.message
        else:
            messages.success(request, _("Your preferences were saved."))
            return redirect(reverse("notifications:preferences", kwargs={"org_slug": org_slug}))
    context = {
        "preferences": selectors.preferences(request.membership),
        "error": error,
    }
    return render(request, "notifications/preferences.html", context, status=status)


# --- the chat webhook (Slack / Teams) ---------------------------------------------------


def _kind_choices():
    from . import kinds

    prefixes = sorted({k.code.split(".")[0] + ".*" for k in kinds.all_kinds()})
    return [(p, p) for p in prefixes] + [(k.code, k.label) for k in kinds.all_kinds()]


def _chat_form(data=None, webhook=None):
    from django import forms

    class ChatWebhookForm(forms.Form):
        name = forms.CharField(label=_("Name"), max_length=100, required=False)
        url = forms.CharField(
            label=_("Incoming-webhook address"),
            max_length=2000,
            required=webhook is None,
            help_text=_(
                "Slack or Microsoft Teams incoming webhook. Leave empty to keep the saved one."
            ),
            widget=forms.URLInput(
                attrs={"autocomplete": "off", "placeholder": "https://hooks.slack.com/services/…"}
            ),
        )
        kinds = forms.MultipleChoiceField(
            label=_("Notifications sent to the channel"),
            choices=_kind_choices(),
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        active = forms.BooleanField(label=_("Active"), required=False)

    initial = {"name": "Slack / Teams", "kinds": ["sla.*"], "active": True}
    if webhook is not None:
        initial = {"name": webhook.name, "kinds": webhook.kinds, "active": webhook.active}
    return ChatWebhookForm(data=data, initial=initial)


@require_http_methods(["GET", "POST"])
def chat_webhook(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The organization's chat channel: address, kinds, test message, delivery log."""
    from django.core.exceptions import PermissionDenied

    from smarketing.tenancy.permissions import has_perm

    from . import chat

    if not has_perm(request.membership, "sla.manage"):
        raise PermissionDenied
    organization = request.organization
    webhook = chat.webhook_for(organization)
    here = reverse("notifications:chat-webhook", kwargs={"org_slug": org_slug})
    form = _chat_form(webhook=webhook)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action == "delete":
                chat.webhook_delete(actor=request.membership, organization=organization)
                messages.success(request, _("The chat webhook was removed."))
                return redirect(here)
            if action == "test":
                chat.send_test(actor=request.membership, organization=organization)
                messages.success(request, _("A test message is on its way."))
                return redirect(here)
            if action == "rotate":
                chat.webhook_rotate_secret(actor=request.membership, organization=organization)
                messages.success(request, _("A new signing secret was generated."))
                return redirect(here)
            form = _chat_form(data=request.POST, webhook=webhook)
            if form.is_valid():
                chat.webhook_save(
                    actor=request.membership,
                    organization=organization,
                    url=form.cleaned_data["url"],
                    name=form.cleaned_data["name"],
                    kinds=form.cleaned_data["kinds"],
                    active=form.cleaned_data["active"],
                )
                messages.success(request, _("The chat webhook was saved."))
                return redirect(here)
            status = 400
        except chat.ChatError as exc:
            status = exc.status
            form = _chat_form(data=request.POST, webhook=webhook)
            form.is_valid()
            for name, errors in exc.fields.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
            if not exc.fields:
                form.add_error(None, exc.message)
    context = {
        "form": form,
        "webhook": webhook,
        "secret": chat.webhook_secret(webhook) if webhook and request.GET.get("reveal") else "",
        "deliveries": chat.delivery_log(organization),
        "signature_header": chat.SIGNATURE_HEADER,
        "timestamp_header": chat.TIMESTAMP_HEADER,
    }
    return render(request, "notifications/chat_webhook.html", context, status=status)
