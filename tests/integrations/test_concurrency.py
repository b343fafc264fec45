"""Two workers attempting the same delivery at the same moment: one POST only (the
compare-and-swap claim is committed before the call)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection as db_connection

from integrations import webhooks_out

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_never_send_one_delivery_twice(trio, as_org, local_server, dispatched):
    """``dispatched``: the on-commit task is not sent (a session worker would take it)."""
    with as_org(trio.alpha):
        webhooks_out.subscription_create(
            actor=trio.alice_membership, url=f"{local_server.url}/hook", event_types=["lead.mql"]
        )
        [delivery] = webhooks_out.enqueue(
            organization=trio.alpha, event_type="lead.mql", data={"n": 1}
        )

    def slow(received):
        time.sleep(0.5)
        return 200, {}, {}

    local_server.handler = slow
    barrier = threading.Barrier(4)
    results: list[str] = []

    def worker():
        try:
            barrier.wait()
            results.append(webhooks_out.attempt(trio.alpha.pk, delivery.pk).status)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["delivered", "skipped", "skipped", "skipped"]
    assert len(local_server.received) == 1


def test_two_workers_never_sync_one_connection_at_once(trio, as_org, fake_connector, local_server):
    from integrations import services, sync

    with as_org(trio.alpha):
        connection = services.connection_create(
            actor=trio.alice_membership,
            vendor="testvendor",
            credentials={"api_key": "k" * 20},
            settings={"base_url": local_server.url},
        )

    def slow(received):
        time.sleep(0.3)
        return 200, {}, {"items": [], "next": 0}

    local_server.handler = slow
    barrier = threading.Barrier(3)
    runs: list = []

    def worker():
        try:
            barrier.wait()
            runs.append(
                sync.sync_connection(organization_id=trio.alpha.pk, connection_id=connection.pk)
            )
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(run is not None for run in runs) == 1
    assert len(local_server.received) == 2  # one pull per stream (contacts, deals)
