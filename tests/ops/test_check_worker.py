"""``manage.py check_worker`` when nothing consumes a queue: it must say so and fail.

(The positive case — a real worker answering on every queue — is what ``make run``'s
worker is checked with; tests/tenancy/test_worker.py covers a real worker on Redis.)
"""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smarketing.celery import app

pytestmark = pytest.mark.django_db

NOBODY = "ops-test-nobody-listens"


@pytest.fixture
def unconsumed_queue():
    yield NOBODY
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(NOBODY)


def test_times_out_with_a_clear_message(trio, unconsumed_queue):
    out = io.StringIO()
    started = time.monotonic()
    with pytest.raises(CommandError, match=f"no worker answered on {NOBODY}"):
        call_command(
            "check_worker", "--org", "alpha", "--queue", unconsumed_queue, "--timeout", "1",
            stdout=out,
        )  # fmt: skip
    assert time.monotonic() - started < 10
    assert f"{NOBODY} no answer within 1 s" in out.getvalue()
    assert "organization alpha" in out.getvalue()


def test_needs_an_organization(db):
    with pytest.raises(CommandError, match="load_demo"):
        call_command("check_worker", "--timeout", "1", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no organization"):
        call_command("check_worker", "--org", "nope", "--timeout", "1", stdout=io.StringIO())
