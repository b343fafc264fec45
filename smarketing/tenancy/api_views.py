from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ApiKey, Organization


class OrganizationSerializer(serializers.ModelSerializer):
    scope = serializers.ChoiceField(
        choices=ApiKey.Scope.choices, help_text="What this request may do: read or read_write."
    )
    role = serializers.CharField(
        allow_null=True, help_text="The member's role for a session; null for an API key."
    )

    class Meta:
        model = Organization
        fields = ["id", "slug", "name", "time_zone", "language", "currency", "scope", "role"]


class OrganizationView(APIView):
    """The organization this API key (or session) works for, and its scope."""

    @extend_schema(responses=OrganizationSerializer, operation_id="organization_retrieve")
    def get(self, request):
        org = request.organization
        membership = request.membership
        data = {
            "id": org.pk,
            "slug": org.slug,
            "name": org.name,
            "time_zone": org.time_zone,
            "language": org.language,
            "currency": org.currency,
            "scope": request.api_scope,
            "role": membership.role if membership else None,
        }
        return Response(OrganizationSerializer(data).data)
