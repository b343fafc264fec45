"""Accounts pages: sign-up, sign-in, password reset, profile, language, invitations.

Sign-in, sign-out and the password reset flow are Django's own views with our templates
(``urls.py``); the rest are function views: check access → call one service → respond.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from smarketing.accounts.middleware import SUPPORTED
from smarketing.tenancy.services import (
    TenancyError,
    invitation_accept,
    invitation_from_token,
    organization_create,
)

from .forms import (
    InvitationSignupForm,
    OrganizationCreateForm,
    ProfileForm,
    SignupForm,
)

User = get_user_model()

# ``login()`` needs to be told which backend vouches for a user it did not authenticate
# itself (a brand-new account); axes' backend only guards ``authenticate()``.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def _safe_next(request: HttpRequest, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _apply_service_error(form, error: TenancyError, field_map: dict[str, str] | None = None):
    """Put a service's refusal on the form: field errors where they belong, else on top."""
    field_map = field_map or {}
    if not error.fields:
        form.add_error(None, error.message)
    for field, errors in error.fields.items():
        target = field_map.get(field, field)
        for message in errors:
            form.add_error(target if target in form.fields else None, message)


# --- Sign-up and organizations ------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """A new account and its organization, with the new person as owner."""
    if request.user.is_authenticated:
        return redirect("accounts:organization-new")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # Both or neither: a refused organization takes the new account with it.
            with transaction.atomic():
                user = User.objects.create_user(
                    data["email"], data["password1"], full_name=data["full_name"].strip()
                )
                org = organization_create(
                    name=data["organization_name"],
                    owner=user,
                    language=request.LANGUAGE_CODE,  # type: ignore[attr-defined]
                )
        except TenancyError as error:
            _apply_service_error(form, error, {"name": "organization_name"})
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(
                request, _("Welcome! Your organization %(name)s is ready.") % {"name": org.name}
            )
            return redirect("org-home", org_slug=org.slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def organization_new(request: HttpRequest) -> HttpResponse:
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = organization_create(
                name=form.cleaned_data["name"],
                owner=request.user,
                language=request.LANGUAGE_CODE,  # type: ignore[attr-defined]
            )
        except TenancyError as error:
            _apply_service_error(form, error)
        else:
            messages.success(request, _("Organization %(name)s created.") % {"name": org.name})
            return redirect("org-home", org_slug=org.slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/organization_new.html", {"form": form}, status=status)


# --- Profile and language -----------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Name and language, and the password: two forms on one page, told apart by
    the name of the submit button."""
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    profile_form = ProfileForm(request.POST if action == "profile" else None, instance=user)
    password_form = PasswordChangeForm(user, request.POST if action == "password" else None)
    if action == "profile" and profile_form.is_valid():
        profile_form.save()
        messages.success(request, _("Your profile has been saved."))
        response = redirect("accounts:profile")
        if user.language:
            set_language_cookie(response, user.language)
        return response
    if action == "password" and password_form.is_valid():
        password_form.save()
        update_session_auth_hash(request, password_form.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("accounts:profile")
    status = 400 if action else 200
    return render(
        request,
        "accounts/profile.html",
        {"profile_form": profile_form, "password_form": password_form},
        status=status,
    )


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the UI language: a cookie for everyone, and the profile when signed in."""
    language = request.POST.get("language", "")
    if language not in SUPPORTED:
        return HttpResponseBadRequest(_("Unknown language."))
    if request.user.is_authenticated and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    response = redirect(_safe_next(request, reverse("home")))
    set_language_cookie(response, language)
    return response


# --- Invitations --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation e-mail links to.

    Signed in with the invited address: accept. Signed in as someone else: say so.
    Anonymous: sign up with the invited address, or sign in if that account exists.
    """
    try:
        invite = invitation_from_token(token)
    except TenancyError as error:
        return render(
            request, "accounts/invitation_invalid.html", {"message": error.message}, status=404
        )
    user = request.user
    account_exists = (
        user.is_authenticated and user.email.lower() == invite.email.lower()
    ) or User.objects.filter(email__iexact=invite.email).exists()
    context = {
        "invitation": invite,
        "organization": None,  # the page is not inside the organization yet
        "invited_organization": invite.organization,
        "inviter": invite.invited_by,
        "token": token,
        "account_exists": account_exists,
        "is_invited_user": user.is_authenticated and user.email.lower() == invite.email.lower(),
        "form": None,
    }
    status = 200
    if user.is_authenticated:
        if request.method == "POST":
            try:
                membership = invitation_accept(token=token, user=user)
            except TenancyError as error:
                messages.error(request, error.message)
                return render(request, "accounts/invitation.html", context, status=error.status)
            return _joined(request, membership)
    elif not account_exists:
        form = InvitationSignupForm(request.POST or None, email=invite.email)
        context["form"] = form
        if request.method == "POST":
            if form.is_valid():
                try:
                    with transaction.atomic():
                        new_user = User.objects.create_user(
                            invite.email,
                            form.cleaned_data["password1"],
                            full_name=form.cleaned_data["full_name"].strip(),
                        )
                        membership = invitation_accept(token=token, user=new_user)
                except TenancyError as error:
                    form.add_error(None, error.message)
                else:
                    login(request, new_user, backend=MODEL_BACKEND)
                    return _joined(request, membership)
            status = 400
    elif request.method == "POST":
        # An account exists but nobody is signed in: sign in first.
        status = 403
    return render(request, "accounts/invitation.html", context, status=status)


def _joined(request: HttpRequest, membership) -> HttpResponse:
    org = membership.organization
    messages.success(request, _("You have joined %(name)s.") % {"name": org.name})
    return redirect("org-home", org_slug=org.slug)
