from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from smarketing.notifications import kinds, selectors
from smarketing.notifications.models import Notification, NotificationPreference
from smarketing.notifications.services import notify, preference_set

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, org="alpha", **kwargs) -> str:
    return reverse(f"notifications:{name}", kwargs={"org_slug": org, **kwargs})


def make(org, user, as_org, n=1, *, url_="/o/alpha/", kind="lead.hot", prefix="k"):
    with as_org(org):
        created = []
        for i in range(n):
            created += notify(
                organization=org,
                recipients=[user],
                kind=kind,
                title=f"Notification {i}",
                body="Body",
                url=url_,
                dedupe_key=f"{prefix}{i}",
            )
    return created


@pytest.fixture
def alice_notification(trio, as_org, dispatched):
    (notification,) = make(
        trio.alpha, trio.alice, as_org, url_="/o/alpha/notifications/preferences/"
    )
    return notification


def test_inbox_lists_my_notifications_unread_first(trio, as_org, client_for, dispatched):
    first, second = make(trio.alpha, trio.bob, as_org, 2)
    make(trio.alpha, trio.alice, as_org, prefix="alice-only")
    with as_org(trio.alpha):
        Notification.objects.for_org(trio.alpha).filter(pk=second.pk).update(
            read_at=second.created_at
        )
    response = client_for(trio.bob).get(url("list"))
    assert response.status_code == 200
    page = list(response.context["page"])
    assert page == [first, second]  # unread first, even though it is older
    html = response.content.decode()
    assert html.count("inbox__item--unread") == 1
    assert "Mark all as read" in html
    assert "alice-only" not in html and html.count("inbox__item") >= 2


def test_inbox_unread_filter(trio, as_org, client_for, dispatched):
    first, second = make(trio.alpha, trio.bob, as_org, 2)
    with as_org(trio.alpha):
        Notification.objects.for_org(trio.alpha).filter(pk=second.pk).update(
            read_at=second.created_at
        )
    response = client_for(trio.bob).get(url("list") + "?filter=unread")
    assert list(response.context["page"]) == [first]


def test_inbox_htmx_returns_the_partial(trio, as_org, client_for, dispatched):
    make(trio.alpha, trio.bob, as_org)
    response = client_for(trio.bob).get(url("list"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card card--flush" id="inbox">')
    assert "<html" not in html


def test_inbox_is_paginated_and_its_queries_bounded(
    trio, as_org, client_for, dispatched, django_assert_max_num_queries
):
    make(trio.alpha, trio.bob, as_org, 60)
    client = client_for(trio.bob)
    client.get(url("list"))  # warm the session
    # About a dozen of these are the request's own (session, user, tenant, savepoints);
    # the page adds three (the count, the bell, the rows) whatever its size.
    with CaptureQueriesContext(connection) as full:
        response = client.get(url("list"))
    assert len(response.context["page"]) == 25
    with django_assert_max_num_queries(20):
        response = client.get(url("list") + "?page=3")
    assert len(response.context["page"]) == 10
    with CaptureQueriesContext(connection) as short:
        client.get(url("list") + "?page=3")
    assert len(full) == len(short) <= 20
    assert client.get(url("list") + "?page=zzz").status_code == 200  # first page


def test_bell_counts_unread_and_polls(trio, as_org, client_for, dispatched):
    make(trio.alpha, trio.bob, as_org, 3)
    response = client_for(trio.bob).get(url("bell"), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<a ") and "<html" not in html
    assert 'data-count="3"' in html
    assert 'hx-trigger="every 30s"' in html
    assert f'hx-get="{url("bell")}"' in html
    assert 'hx-swap="outerHTML"' in html


def test_bell_is_on_every_organization_page(trio, as_org, client_for, dispatched):
    make(trio.alpha, trio.bob, as_org, 2)
    html = client_for(trio.bob).get(url("preferences")).content.decode()
    assert 'id="notification-bell"' in html and 'data-count="2"' in html


def test_bell_ignores_in_app_off_and_read(trio, as_org, client_for, dispatched):
    with as_org(trio.alpha):
        preference_set(membership=trio.bob_membership, kind="lead.hot", in_app=False, email=True)
    make(trio.alpha, trio.bob, as_org, 2)
    html = client_for(trio.bob).get(url("bell")).content.decode()
    assert "data-count" not in html
    assert 'id="notification-bell"' in html


def test_mark_read_redirects_to_the_notification(trio, as_org, client_for, alice_notification):
    client = client_for(trio.alice)
    response = client.post(url("read", pk=alice_notification.pk))
    assert response.status_code == 302
    assert response["Location"] == "/o/alpha/notifications/preferences/"
    with as_org(trio.alpha):
        assert selectors.unread_count(trio.alice_membership) == 0
    # Again: still fine (already read).
    assert client.post(url("read", pk=alice_notification.pk)).status_code == 302


def test_mark_read_htmx_redirects_with_a_header(trio, client_for, alice_notification):
    response = client_for(trio.alice).post(url("read", pk=alice_notification.pk), **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/o/alpha/notifications/preferences/"


def test_mark_read_never_redirects_off_site(trio, as_org, client_for, dispatched):
    (notification,) = make(trio.alpha, trio.alice, as_org, url_="https://evil.example/")
    response = client_for(trio.alice).post(url("read", pk=notification.pk))
    assert response["Location"] == url("list")


def test_mark_read_refuses_get_and_unknown_ids(trio, client_for, alice_notification):
    client = client_for(trio.alice)
    assert client.get(url("read", pk=alice_notification.pk)).status_code == 405
    assert client.post(url("read", pk=alice_notification.pk + 1000)).status_code == 404
    assert client.post(f"/o/alpha/notifications/{'x'}/read/").status_code == 404


def test_bob_cannot_read_alices_notification(trio, as_org, client_for, alice_notification):
    assert client_for(trio.bob).post(url("read", pk=alice_notification.pk)).status_code == 404
    with as_org(trio.alpha):
        assert (
            Notification.objects.for_org(trio.alpha).get(pk=alice_notification.pk).read_at is None
        )


def test_read_all(trio, as_org, client_for, dispatched):
    make(trio.alpha, trio.bob, as_org, 3)
    make(trio.alpha, trio.alice, as_org)
    response = client_for(trio.bob).post(url("read-all"))
    assert response.status_code == 302 and response["Location"] == url("list")
    with as_org(trio.alpha):
        assert selectors.unread_count(trio.bob_membership) == 0
        assert selectors.unread_count(trio.alice_membership) == 1  # not hers to mark
    assert client_for(trio.bob).get(url("read-all")).status_code == 405


def test_read_all_htmx_swaps_the_inbox_and_the_bell(trio, as_org, client_for, dispatched):
    make(trio.alpha, trio.bob, as_org, 2)
    response = client_for(trio.bob).post(url("read-all"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card card--flush" id="inbox">')
    assert 'hx-swap-oob="true"' in html and "data-count" not in html
    assert "inbox__item--unread" not in html


def test_preferences_page_lists_every_kind(trio, as_org, client_for):
    with as_org(trio.alpha):
        preference_set(membership=trio.bob_membership, kind="lead.hot", in_app=True, email=False)
    response = client_for(trio.bob).get(url("preferences"))
    assert response.status_code == 200
    rows = {p.kind.code: p for p in response.context["preferences"]}
    assert set(rows) == {k.code for k in kinds.all_kinds()}
    assert rows["lead.hot"].email is False and rows["lead.mql"].email is True
    html = response.content.decode()
    assert 'name="email:lead.mql" checked' in html
    assert 'name="email:lead.hot" aria-label' in html


def test_preferences_are_saved(trio, as_org, client_for):
    data = {"kind": ["lead.hot", "sla.warned"], "in_app:lead.hot": "on", "email:sla.warned": "on"}
    client = client_for(trio.bob)
    response = client.post(url("preferences"), data)
    assert response.status_code == 302
    with as_org(trio.alpha):
        effective = {
            p.kind.code: (p.in_app, p.email) for p in selectors.preferences(trio.bob_membership)
        }
        stored = NotificationPreference.objects.for_org(trio.alpha).filter(user=trio.bob)
        assert stored.count() == 2  # only what changed from the defaults
    assert effective["lead.hot"] == (True, False)
    assert effective["sla.warned"] == (False, True)
    assert effective["lead.mql"] == (True, True)  # not submitted: untouched
    follow = client.get(url("preferences"))
    assert "Your preferences were saved." in follow.content.decode()


def test_preferences_refuse_an_unknown_kind(trio, as_org, client_for):
    response = client_for(trio.bob).post(url("preferences"), {"kind": ["no.such"]})
    assert response.status_code == 400
    with as_org(trio.alpha):
        assert not NotificationPreference.objects.for_org(trio.alpha).exists()


def test_anonymous_users_are_sent_to_login(trio, client):
    response = client.get(url("list"))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    ("method", "name", "needs_pk"),
    [
        ("get", "list", False),
        ("get", "bell", False),
        ("post", "read", True),
        ("post", "read-all", False),
        ("get", "preferences", False),
        ("post", "preferences", False),
    ],
)
def test_outsider_gets_404_everywhere(
    trio, as_org, client_for, alice_notification, method, name, needs_pk
):
    kwargs = {"pk": alice_notification.pk} if needs_pk else {}
    client = client_for(trio.charlie)
    response = getattr(client, method)(url(name, **kwargs), **HTMX)
    assert response.status_code == 404
    response = getattr(client, method)(url(name, **kwargs))
    assert response.status_code == 404
    with as_org(trio.alpha):
        assert (
            Notification.objects.for_org(trio.alpha).get(pk=alice_notification.pk).read_at is None
        )
        assert not NotificationPreference.objects.for_org(trio.alpha).exists()


def test_charlie_cannot_read_alpha_notifications_through_his_own_org(
    trio, as_org, client_for, alice_notification
):
    response = client_for(trio.charlie).post(url("read", org="charlie", pk=alice_notification.pk))
    assert response.status_code == 404
