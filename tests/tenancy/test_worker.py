"""A real Celery worker on Redis runs each task for its organization only."""

from __future__ import annotations

import pytest
from django.conf import settings

from smarketing.tenancy.tasks import probe

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_task_runs_under_its_organization_and_sees_no_other(trio, celery_worker_process):
    alpha = probe.delay(trio.alpha.pk).get(timeout=30)
    assert alpha["db_user"] == settings.DATABASE_APP_ROLE
    assert alpha["setting"] == str(trio.alpha.pk)
    # Raw SQL in the task sees alpha's memberships only: the database enforces it.
    assert alpha["membership_organizations"] == [trio.alpha.pk]
    assert alpha["memberships"] == 2
    charlie = probe.delay(trio.charlie_org.pk).get(timeout=30)
    assert charlie["membership_organizations"] == [trio.charlie_org.pk]
    assert charlie["memberships"] == 1


def test_a_task_for_a_deleted_organization_does_nothing(celery_worker_process):
    assert probe.delay(999_999).get(timeout=30) is None
