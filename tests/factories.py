"""factory_boy factories. Tenant rows are written in the system context: row-level
security is in force during tests exactly as in production."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from smarketing.tenancy.db import system_context
from smarketing.tenancy.models import Membership, Organization
from smarketing.tenancy.permissions import Role

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name", locale="fr_FR")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    # Tests read English strings; tests of the French UI set language="fr" themselves.
    language = "en"


class TenantFactory(factory.django.DjangoModelFactory):
    """Base for tenant models: created through the unscoped manager, in system context."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with system_context("test factory"):
            return model_class.unscoped.create(*args, **kwargs)


class MembershipFactory(TenantFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.SALES_REP
