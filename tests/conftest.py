"""Shared fixtures: the alice/bob/charlie trio (STYLE.md §8).

- **alice** owns organization *Alpha*;
- **bob** is a sales rep in *Alpha*;
- **charlie** owns organization *Charlie* and is an outsider to *Alpha*: every page and
  endpoint of Alpha must answer him 404.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection

from smarketing.tenancy.db import tenant_context
from smarketing.tenancy.permissions import Role

from .factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')} as {db.get('USER')}"


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def trio(db) -> SimpleNamespace:
    alpha = OrganizationFactory(name="Alpha", slug="alpha")
    charlie_org = OrganizationFactory(name="Charlie", slug="charlie")
    alice = UserFactory(email="alice@alpha.test", full_name="Alice Martin")
    bob = UserFactory(email="bob@alpha.test", full_name="Bob Durand")
    charlie = UserFactory(email="charlie@charlie.test", full_name="Charlie Petit")
    return SimpleNamespace(
        alpha=alpha,
        charlie_org=charlie_org,
        alice=alice,
        bob=bob,
        charlie=charlie,
        alice_membership=MembershipFactory(organization=alpha, user=alice, role=Role.OWNER),
        bob_membership=MembershipFactory(organization=alpha, user=bob, role=Role.SALES_REP),
        charlie_membership=MembershipFactory(
            organization=charlie_org, user=charlie, role=Role.OWNER
        ),
    )


@pytest.fixture
def as_org():
    """``with as_org(org): ...`` — run test code for one organization (RLS applies)."""
    return lambda org: tenant_context(org.pk)


@pytest.fixture
def client_for(client):
    """``client_for(user)``: a test client logged in as that user."""
    from django.test import Client

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(scope="session")
def _celery_worker_session(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on the real Redis broker, connected to the test
    database as the application role (row-level security applies to it as in
    production). Tests that use it need ``transactional_db`` so the worker sees their
    committed rows."""
    import subprocess
    import sys
    import time
    import uuid

    from django.conf import settings

    from smarketing.celery import app

    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`")
    db = settings.DATABASES["default"]
    app_url = (
        f"postgres://{settings.DATABASE_APP_ROLE}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    var_dir = tmp_path_factory.mktemp("worker-var")
    env = {**os.environ, "DATABASE_URL": app_url, "SMARKETING_VAR_DIR": str(var_dir)}
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = var_dir / "worker.log"
    app.control.purge()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "smarketing",
                "worker",
                "-n",
                name,
                "-Q",
                ",".join(WORKER_QUEUES),
                "--pool=solo",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Celery worker exited: {log_path.read_text()[-3000:]}")
        if app.control.ping(destination=[name], timeout=0.5):
            break
    else:
        proc.terminate()
        pytest.fail(f"the Celery worker did not answer: {log_path.read_text()[-3000:]}")
    yield SimpleNamespace(process=proc, name=name, log=log_path, app=app)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- Browser tests: headless Chromium (Debian's package) driven by Playwright against
# the live server. One Playwright session for the whole run; screenshots go to
# artifacts/screenshots/ (kept by CI).

WORKER_QUEUES = ("default", "ingest", "scoring", "sla", "reports")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def celery_worker_process(_celery_worker_session):
    """The session's worker, consuming only during the tests that ask for it.

    Between them it consumes nothing: the other tests also commit and dispatch tasks
    (on-commit re-scores, deliveries), and a worker picking those up would write while
    the test database is flushed (a deadlock with TRUNCATE). At the end of each test
    its queues are purged, it is left idle, then it stops consuming."""
    import time

    worker = _celery_worker_session
    destination = [worker.name]
    worker.app.control.purge()
    for queue in WORKER_QUEUES:
        worker.app.control.add_consumer(queue, destination=destination, reply=True, timeout=5)
    yield worker
    worker.app.control.purge()
    inspect = worker.app.control.inspect(destination=destination, timeout=1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        active = (inspect.active() or {}).get(worker.name)
        reserved = (inspect.reserved() or {}).get(worker.name)
        if not active and not reserved:
            break
        time.sleep(0.2)
    for queue in WORKER_QUEUES:
        worker.app.control.cancel_consumer(queue, destination=destination, reply=True, timeout=5)
    worker.app.control.purge()
