"""The API's tenancy edge: which organization a request works for, what it may do,
and how errors look.

- ``OrganizationScopePermission`` (the default permission) resolves the organization
  from the API key, or for a browser session from ``X-Organization: <slug>`` (else the
  last organization visited, else the only one), sets the tenant for row-level
  security, and refuses writes to read-only keys and viewer members.
- ``request.actor`` is what services are given as the acting party: the member, or an
  ``ApiKeyActor`` whose permissions come from the key's scope.
- every tenant API view is scoped by that default permission (nothing to inherit, so
  nothing to forget) and resolves ids with ``get_<model>_for_org(request.organization,
  id)`` (404 otherwise); the organization never comes from the request body.
- errors are rendered by ``api_errors.exception_handler``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, parsers, permissions

from .authentication import ApiKeyPrincipal
from .db import activate_tenant
from .middleware import LAST_ORG_SESSION_KEY, activate_organization_timezone
from .models import ApiKey, Membership, Organization
from .permissions import ApiKeyActor, has_perm
from .selectors import user_organizations
from .services import api_key_touch

ORG_HEADER = "HTTP_X_ORGANIZATION"


def resolve_api_organization(request) -> None:
    """Set ``request.organization``, ``.membership`` and ``.api_scope`` once."""
    if getattr(request, "api_scope", None):
        return
    django_request = request._request
    if isinstance(request.user, ApiKeyPrincipal):
        api_key: ApiKey = request.auth
        org = api_key.organization
        activate_tenant(org.pk)
        api_key_touch(api_key)
        membership, scope = None, api_key.scope
    elif request.user and request.user.is_authenticated:
        slug = request.META.get(ORG_HEADER) or django_request.session.get(LAST_ORG_SESSION_KEY)
        org = Organization.objects.filter(slug=slug).first() if slug else None
        if org is None and not request.META.get(ORG_HEADER):
            mine = user_organizations(request.user)
            org = mine[0].organization if len(mine) == 1 else None
        if org is None:
            raise exceptions.NotFound(_("No organization: send the X-Organization header."))
        activate_tenant(org.pk)
        membership = Membership.objects.for_org(org).filter(user=request.user).first()
        if membership is None:
            raise exceptions.NotFound()
        membership.organization = org
        scope = ApiKey.Scope.READ_WRITE if has_perm(membership, "api.write") else ApiKey.Scope.READ
    else:
        raise exceptions.NotAuthenticated()
    activate_organization_timezone(org)
    actor = membership if membership is not None else ApiKeyActor(request.auth)
    for target in (request, django_request):
        target.organization = org
        target.membership = membership
        target.actor = actor  # who services see acting: a member, or the API key
        target.api_scope = scope


class OrganizationScopePermission(permissions.BasePermission):
    message = "This API key or role is read-only."

    def has_permission(self, request, view) -> bool:
        resolve_api_organization(request)
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.api_scope == ApiKey.Scope.READ_WRITE


class CursorPagination(pagination.CursorPagination):
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 500


class KeysetPagination(pagination.BasePagination):
    """Cursor pagination over a composite ordering (e.g. the sales queue: hot, hot
    since, score, id), which DRF's cursor pagination cannot do: it positions on the
    first field only. The cursor is the last row's ordering values, signed; rows are
    fetched with a lexicographic ``WHERE (a, b, c) < (…)`` expansion, so pages stay
    stable while leads are inserted. NULLs must not occur in ordering fields (use
    ``Coalesce`` annotations)."""

    page_size = 50
    max_page_size = 500
    salt = "smarketing.api.keyset"

    def paginate_queryset(self, queryset, request, view=None):
        from django.core import signing
        from django.db.models import Q

        self.request = request
        ordering = [o for o in queryset.query.order_by]
        try:
            size = min(
                int(request.query_params.get("page_size", self.page_size)), self.max_page_size
            )
        except ValueError:
            raise exceptions.ValidationError({"page_size": [_("Must be a number.")]}) from None
        size = max(size, 1)
        cursor = request.query_params.get("cursor")
        if cursor:
            try:
                values = signing.loads(cursor, salt=self.salt)
            except signing.BadSignature:
                raise exceptions.ValidationError({"cursor": [_("Invalid cursor.")]}) from None
            if not isinstance(values, list) or len(values) != len(ordering):
                raise exceptions.ValidationError({"cursor": [_("Invalid cursor.")]})
            condition = Q()
            for i in range(len(ordering) - 1, -1, -1):
                name = ordering[i].lstrip("-")
                op = "lt" if ordering[i].startswith("-") else "gt"
                step = Q(**{f"{name}__{op}": values[i]})
                if i < len(ordering) - 1:
                    step |= Q(**{name: values[i]}) & condition
                condition = step
            queryset = queryset.filter(condition)
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.next_cursor = None
        if self.has_next and rows:
            last = rows[-1]
            values = []
            for field in ordering:
                value = getattr(last, field.lstrip("-"))
                values.append(value.isoformat() if hasattr(value, "isoformat") else value)
            self.next_cursor = signing.dumps(values, salt=self.salt)
        return rows

    def get_paginated_response(self, data):
        from rest_framework.response import Response
        from rest_framework.utils.urls import replace_query_param

        next_url = None
        if self.next_cursor:
            next_url = replace_query_param(
                self.request.build_absolute_uri(), "cursor", self.next_cursor
            )
        return Response({"next": next_url, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


class JSONParser(parsers.JSONParser):
    """DRF's parser, with pathological documents (nesting thousands deep, NaN) refused as
    a parse error (400) instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        import json

        from django.core.exceptions import RequestDataTooBig

        try:
            raw = stream.read()
        except RequestDataTooBig:
            raise PayloadTooLarge() from None
        try:
            return json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(
                _("JSON parse error: %s") % exc.__class__.__name__
            ) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = "The request body is too large."
