"""The operator admin: every tenancy model across organizations, secrets never editable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from smarketing.tenancy.models import ApiKey, KioskToken
from smarketing.tenancy.services import api_key_create, invitation_create, kiosk_token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client_for, trio, as_org):
    with as_org(trio.alpha):
        api_key_create(actor=trio.alice_membership, name="Website", scope=ApiKey.Scope.READ)
        kiosk_token_create(actor=trio.alice_membership, name="Open space")
        invitation_create(actor=trio.alice_membership, email="dana@example.test", role="viewer")
    operator = UserFactory(email="ops@smarketing.test", is_staff=True, is_superuser=True)
    return client_for(operator)


@pytest.mark.parametrize(
    "model", ["organization", "membership", "invitation", "apikey", "kiosktoken"]
)
def test_changelists_across_organizations(operator_client, trio, model):
    url = reverse(f"admin:tenancy_{model}_changelist")
    response = operator_client.get(url)
    assert response.status_code == 200
    if model != "organization":
        assert "Alpha" in response.content.decode()
        filtered = operator_client.get(f"{url}?organization__id__exact={trio.charlie_org.pk}")
        assert filtered.status_code == 200


def test_organization_list_counts_members(operator_client, trio):
    response = operator_client.get(reverse("admin:tenancy_organization_changelist"))
    counts = {org.slug: org._member_count for org in response.context["cl"].result_list}
    assert counts == {"alpha": 2, "charlie": 1}


def test_secrets_are_read_only(operator_client, trio, as_org):
    with as_org(trio.alpha):
        key = ApiKey.objects.for_org(trio.alpha).get()
        kiosk = KioskToken.objects.for_org(trio.alpha).get()
    for name, obj in [("apikey", key), ("kiosktoken", kiosk)]:
        page = operator_client.get(reverse(f"admin:tenancy_{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        body = page.content.decode()
        assert 'name="key_hash"' not in body and 'name="token_hash"' not in body
        assert operator_client.get(reverse(f"admin:tenancy_{name}_add")).status_code == 403


def test_user_admin_with_memberships(operator_client, trio):
    page = operator_client.get(reverse("admin:accounts_user_change", args=[trio.alice.pk]))
    assert page.status_code == 200
    assert "Alpha" in page.content.decode()
    assert operator_client.get(reverse("admin:accounts_user_changelist")).status_code == 200
    assert operator_client.get(reverse("admin:accounts_user_add")).status_code == 200


def test_members_do_not_get_the_admin(client_for, trio):
    response = client_for(trio.alice).get(reverse("admin:tenancy_organization_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
