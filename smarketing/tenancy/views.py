"""Organization pages under ``/o/<slug>/``: home, settings, members, API keys, kiosk tokens.

The tenant middleware has already resolved ``request.organization`` and
``request.membership`` (non-members got 404), so every view receives ``org_slug`` and
ignores it. Each view: check the role → resolve ids with ``get_*_for_org`` → call one
service → respond. Services check permissions too; their refusals map to 403 here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services
from .edge import no_store, refusals_as_http
from .forms import ApiKeyForm, InvitationForm, KioskTokenForm, OrganizationSettingsForm, RoleForm
from .models import ApiKey, Membership
from .permissions import Role, assignable_roles, has_perm
from .services import TenancyError

# htmx swaps this status (see the htmx-config meta tag in base.html): a fragment that
# carries its own error message, e.g. a member row after a refused role change.
HTMX_INVALID = 422


def _require(request: HttpRequest, perm: str) -> Membership:
    membership = request.membership  # type: ignore[attr-defined]
    if not has_perm(membership, perm):
        raise PermissionDenied(perm)
    return membership


# --- Home ---------------------------------------------------------------------------

# Cards that higher apps add to the organization home, registered from their
# ``AppConfig.ready()`` (meetings: the 30-day rollout progress), so that tenancy imports
# none of them. Each is ``fn(request) -> {"template": ..., ...} | None``; the template is
# included with the dict as ``panel``.
HOME_PANELS: list = []


@require_GET
def org_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "organization.view")
    org = request.organization  # type: ignore[attr-defined]
    team_size = selectors.members(org).count()
    pending = selectors.open_invitations(org).count()
    steps = []
    if has_perm(membership, "members.manage"):
        steps.append(
            {
                "label": _("Invite your team"),
                "hint": _("Marketers and sales reps work from the same pipeline."),
                "done": team_size > 1 or pending > 0,
                "url_name": "org-members",
            }
        )
    if has_perm(membership, "api_keys.manage"):
        steps.append(
            {
                "label": _("Create an API key"),
                "hint": _("Send leads from your website forms and tools."),
                "done": selectors.api_keys(org).exists(),
                "url_name": "org-api-keys",
            }
        )
    if has_perm(membership, "organization.manage"):
        steps.append(
            {
                "label": _("Check time zone and currency"),
                "hint": _("SLA clocks and reports use them."),
                "done": None,  # nothing to tick: a visit is enough
                "url_name": "org-settings",
            }
        )
    context = {
        "team_size": team_size,
        "pending_invitations": pending,
        "steps": steps,
        "steps_done": sum(1 for step in steps if step["done"]),
        "steps_total": sum(1 for step in steps if step["done"] is not None),
        "home_panels": [panel for panel in (fn(request) for fn in HOME_PANELS) if panel],
    }
    return render(request, "tenancy/home.html", context)


# --- Settings -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def org_settings(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = _require(request, "organization.manage")
    org = request.organization  # type: ignore[attr-defined]
    initial = {
        "name": org.name,
        "time_zone": org.time_zone,
        "language": org.language,
        "currency": org.currency,
    }
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with refusals_as_http():
                services.organization_update(actor=membership, **form.cleaned_data)
        except TenancyError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Organization settings saved."))
            return redirect("org-settings", org_slug=org.slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "tenancy/settings.html", {"form": form}, status=status)


# --- Members ------------------------------------------------------------------------


@dataclass
class MemberRow:
    membership: Membership
    is_self: bool
    can_change_role: bool
    can_remove: bool
    error: str = ""


def _member_row(actor: Membership, target: Membership, error: str = "") -> MemberRow:
    manages = has_perm(actor, "members.manage")
    owner_guarded = target.role == Role.OWNER and not has_perm(actor, "members.manage_owners")
    is_self = target.pk == actor.pk
    editable = manages and not owner_guarded
    return MemberRow(
        membership=target,
        is_self=is_self,
        can_change_role=editable,
        can_remove=editable or is_self,
        error=error,
    )


def _members_page(
    request: HttpRequest,
    *,
    invite_form: InvitationForm | None = None,
    errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = request.membership  # type: ignore[attr-defined]
    org = request.organization  # type: ignore[attr-defined]
    manages = has_perm(actor, "members.manage")
    errors = errors or {}
    rows = [_member_row(actor, m, errors.get(m.pk, "")) for m in selectors.members(org)]
    invitations = []
    if manages:
        invitations = [
            {"invitation": inv, "url": services.invitation_url(inv)}
            for inv in selectors.open_invitations(org)
        ]
        if invite_form is None:
            invite_form = InvitationForm(roles=assignable_roles(actor))
    context = {
        "rows": rows,
        "invitations": invitations,
        "invite_form": invite_form,
        "manages": manages,
        "roles": assignable_roles(actor),
    }
    return render(request, "tenancy/members.html", context, status=status)


@require_http_methods(["GET", "POST"])
def org_members(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Everyone sees the team; owners and admins also invite from here (POST)."""
    actor = _require(request, "organization.view")
    if request.method == "GET":
        return _members_page(request)
    actor = _require(request, "members.manage")
    form = InvitationForm(request.POST, roles=assignable_roles(actor))
    if form.is_valid():
        try:
            with refusals_as_http():
                invitation = services.invitation_create(
                    actor=actor, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
                )
        except TenancyError as error:
            for field, field_errors in (error.fields or {None: [error.message]}).items():
                for message in field_errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(
                request,
                _("Invitation sent to %(email)s.") % {"email": invitation.email},
            )
            return redirect("org-members", org_slug=request.organization.slug)  # type: ignore[attr-defined]
    return _members_page(request, invite_form=form, status=400)


def _row_response(
    request: HttpRequest, target: Membership, *, error: str = "", status: int = 200
) -> HttpResponse:
    """After a change to one member: the row alone for htmx, the page otherwise."""
    actor = request.membership  # type: ignore[attr-defined]
    if request.htmx:  # type: ignore[attr-defined]
        context = {"row": _member_row(actor, target, error), "roles": assignable_roles(actor)}
        return render(
            request,
            "tenancy/members.html#member-row",
            context,
            status=HTMX_INVALID if error else status,
        )
    if error:
        return _members_page(request, errors={target.pk: error}, status=400)
    return redirect("org-members", org_slug=request.organization.slug)  # type: ignore[attr-defined]


@require_POST
def org_member_role(request: HttpRequest, org_slug: str, membership_id: int) -> HttpResponse:
    actor = _require(request, "members.manage")
    target = selectors.get_membership_for_org(request.organization, membership_id)  # type: ignore[attr-defined]
    form = RoleForm(request.POST, roles=assignable_roles(actor))
    if not form.is_valid():
        return _row_response(request, target, error=_("Choose a role from the list."))
    try:
        with refusals_as_http():
            services.membership_change_role(
                actor=actor, target=target, role=form.cleaned_data["role"]
            )
    except TenancyError as error:
        return _row_response(request, target, error=error.message)
    if not request.htmx:  # type: ignore[attr-defined]
        messages.success(
            request,
            _("%(name)s is now %(role)s.")
            % {"name": target.user, "role": target.get_role_display()},
        )
    return _row_response(request, target)


@require_http_methods(["GET", "POST"])
def org_member_remove(request: HttpRequest, org_slug: str, membership_id: int) -> HttpResponse:
    """GET asks for confirmation (the no-JS path); POST removes. A member may always
    leave; removing someone else needs ``members.manage``."""
    actor = request.membership  # type: ignore[attr-defined]
    org = request.organization  # type: ignore[attr-defined]
    target = selectors.get_membership_for_org(org, membership_id)
    is_self = target.pk == actor.pk
    if not is_self:
        _require(request, "members.manage")
    if request.method == "GET":
        return render(request, "tenancy/member_remove.html", {"target": target, "is_self": is_self})
    try:
        with refusals_as_http():
            services.membership_remove(actor=actor, target=target)
    except TenancyError as error:
        if request.htmx:  # type: ignore[attr-defined]
            return _row_response(request, target, error=error.message)
        return render(
            request,
            "tenancy/member_remove.html",
            {"target": target, "is_self": is_self, "error": error.message},
            status=400,
        )
    if is_self:
        messages.success(request, _("You have left %(name)s.") % {"name": org.name})
        response = redirect("home")
        if request.htmx:  # type: ignore[attr-defined]
            response = HttpResponse(status=204)
            response["HX-Redirect"] = "/"
        return response
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse("")  # the row is swapped for nothing
    messages.success(
        request, _("%(name)s has been removed from the organization.") % {"name": target.user}
    )
    return redirect("org-members", org_slug=org.slug)


@require_POST
def org_invitation_revoke(request: HttpRequest, org_slug: str, invitation_id: int) -> HttpResponse:
    actor = _require(request, "members.manage")
    org = request.organization  # type: ignore[attr-defined]
    invitation = selectors.get_invitation_for_org(org, invitation_id)
    with refusals_as_http():
        services.invitation_revoke(actor=actor, invitation=invitation)
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse("")
    messages.success(
        request, _("The invitation to %(email)s is revoked.") % {"email": invitation.email}
    )
    return redirect("org-members", org_slug=org.slug)


# --- API keys -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def org_api_keys(request: HttpRequest, org_slug: str) -> HttpResponse:
    """List and create. A new key's secret is shown on the response to the POST, once:
    it is not stored, so there is nothing to redirect to."""
    actor = _require(request, "api_keys.manage")
    org = request.organization  # type: ignore[attr-defined]
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with refusals_as_http():
                api_key, secret = services.api_key_create(actor=actor, **form.cleaned_data)
        except TenancyError as error:
            form.add_error(None, error.message)
        else:
            context = {"api_key": api_key, "secret": secret}
            return no_store(render(request, "tenancy/api_key_created.html", context))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "api_keys": selectors.api_keys(org), "Scope": ApiKey.Scope}
    return render(request, "tenancy/api_keys.html", context, status=status)


@require_POST
def org_api_key_revoke(request: HttpRequest, org_slug: str, api_key_id: int) -> HttpResponse:
    actor = _require(request, "api_keys.manage")
    org = request.organization  # type: ignore[attr-defined]
    api_key = selectors.get_api_key_for_org(org, api_key_id)
    with refusals_as_http():
        services.api_key_revoke(actor=actor, api_key=api_key)
    messages.success(request, _("The key %(name)s is revoked.") % {"name": api_key.name})
    return redirect("org-api-keys", org_slug=org.slug)


# --- Kiosk tokens (TV screens) ------------------------------------------------------


@require_http_methods(["GET", "POST"])
def org_kiosk_tokens(request: HttpRequest, org_slug: str) -> HttpResponse:
    actor = _require(request, "kiosk_tokens.manage")
    org = request.organization  # type: ignore[attr-defined]
    form = KioskTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with refusals_as_http():
                kiosk_token, token = services.kiosk_token_create(
                    actor=actor, name=form.cleaned_data["name"]
                )
        except TenancyError as error:
            form.add_error(None, error.message)
        else:
            context = {"kiosk_token": kiosk_token, "token": token}
            return no_store(render(request, "tenancy/kiosk_token_created.html", context))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "kiosk_tokens": selectors.kiosk_tokens(org)}
    return render(request, "tenancy/kiosk_tokens.html", context, status=status)


@require_POST
def org_kiosk_token_revoke(
    request: HttpRequest, org_slug: str, kiosk_token_id: int
) -> HttpResponse:
    actor = _require(request, "kiosk_tokens.manage")
    org = request.organization  # type: ignore[attr-defined]
    kiosk_token = selectors.get_kiosk_token_for_org(org, kiosk_token_id)
    with refusals_as_http():
        services.kiosk_token_revoke(actor=actor, kiosk_token=kiosk_token)
    messages.success(
        request, _("The screen %(name)s is disconnected.") % {"name": kiosk_token.name}
    )
    return redirect("org-kiosk-tokens", org_slug=org.slug)
