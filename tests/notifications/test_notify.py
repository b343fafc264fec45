from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from smarketing.notifications import kinds, selectors
from smarketing.notifications.models import Notification
from smarketing.notifications.services import NotificationError, notify, preference_set
from smarketing.tenancy.db import tenant_context

Status = Notification.EmailStatus


def _notify(org, recipients, key="lead.hot:1", kind="lead.hot", **kwargs):
    return notify(
        organization=org,
        recipients=recipients,
        kind=kind,
        title=kwargs.pop("title", "Lead Acme is hot"),
        url="/o/alpha/",
        dedupe_key=key,
        **kwargs,
    )


def test_creates_one_notification_per_member(
    trio, as_org, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        created = _notify(trio.alpha, [trio.alice, trio.bob.pk])
    assert sorted(n.recipient_id for n in created) == sorted([trio.alice.pk, trio.bob.pk])
    assert all(n.pk and n.email_status == Status.PENDING for n in created)
    assert dispatched == [(trio.alpha.pk, [n.pk for n in created])]


def test_dedupe_one_row_one_email(
    trio, as_org, dispatched, django_capture_on_commit_callbacks, mailoutbox
):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
            _notify(trio.alpha, [trio.bob])
    assert len(dispatched.ids) == 1
    assert dispatched.run() == 1
    with as_org(trio.alpha):
        assert Notification.objects.for_org(trio.alpha).count() == 1
        # A third call after the e-mail went out creates and sends nothing either.
        assert _notify(trio.alpha, [trio.bob]) == []
    assert len(mailoutbox) == 1


def test_dedupe_is_per_recipient_and_per_key(trio, as_org, dispatched):
    with as_org(trio.alpha):
        assert len(_notify(trio.alpha, [trio.bob])) == 1
        assert [n.recipient_id for n in _notify(trio.alpha, [trio.alice, trio.bob])] == [
            trio.alice.pk
        ]
        assert len(_notify(trio.alpha, [trio.bob], key="lead.hot:2")) == 1


def test_non_members_are_never_notified(trio, as_org, dispatched):
    with as_org(trio.alpha):
        created = _notify(trio.alpha, [trio.charlie, trio.bob])
        assert [n.recipient_id for n in created] == [trio.bob.pk]
        assert _notify(trio.alpha, [trio.charlie], key="other") == []
        assert not Notification.objects.for_org(trio.alpha).filter(recipient=trio.charlie).exists()
    with as_org(trio.charlie_org):
        assert Notification.objects.for_org(trio.charlie_org).count() == 0


def test_inactive_members_are_not_notified(trio, as_org, dispatched):
    trio.bob.is_active = False
    trio.bob.save()
    with as_org(trio.alpha):
        assert _notify(trio.alpha, [trio.bob]) == []


def test_notify_sets_its_tenant_but_never_crosses_one(trio, as_org, dispatched):
    # No tenant yet (a shell, a command): notify works for the organization given.
    assert len(_notify(trio.alpha, [trio.bob])) == 1
    with as_org(trio.charlie_org), pytest.raises(NotificationError):
        _notify(trio.alpha, [trio.bob], key="other")
    with as_org(trio.alpha):
        assert Notification.objects.for_org(trio.alpha).count() == 1


def test_unknown_kind_and_missing_key_are_refused(trio, as_org):
    with as_org(trio.alpha), pytest.raises(NotificationError):
        _notify(trio.alpha, [trio.bob], kind="no.such.kind")
    with as_org(trio.alpha), pytest.raises(NotificationError):
        _notify(trio.alpha, [trio.bob], key="")


def test_email_preference_off_means_no_email(
    trio, as_org, dispatched, django_capture_on_commit_callbacks, mailoutbox
):
    with as_org(trio.alpha):
        preference_set(membership=trio.bob_membership, kind="lead.hot", in_app=True, email=False)
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        (notification,) = _notify(trio.alpha, [trio.bob])
    assert notification.email_status == Status.NONE and notification.in_app
    assert dispatched == []
    assert mailoutbox == []


def test_in_app_preference_off_keeps_it_out_of_the_bell(
    trio, as_org, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), as_org(trio.alpha):
        preference_set(membership=trio.bob_membership, kind="lead.hot", in_app=False, email=True)
        (notification,) = _notify(trio.alpha, [trio.bob])
        assert not notification.in_app and notification.email_status == Status.PENDING
        assert selectors.unread_count(trio.bob_membership) == 0
        assert list(selectors.inbox(trio.bob_membership)) == []
    assert dispatched.ids == [notification.pk]


def test_both_channels_off_means_nothing(trio, as_org, dispatched):
    with as_org(trio.alpha):
        preference_set(membership=trio.bob_membership, kind="lead.hot", in_app=False, email=False)
        assert _notify(trio.alpha, [trio.bob]) == []


def test_preferences_are_per_organization(trio, as_org, dispatched):
    with as_org(trio.alpha):
        preference_set(membership=trio.alice_membership, kind="lead.hot", in_app=True, email=False)
    # Alice is also a member of Charlie's organization, where she kept the defaults.
    from tests.factories import MembershipFactory

    alice_in_charlie = MembershipFactory(organization=trio.charlie_org, user=trio.alice)
    with as_org(trio.charlie_org):
        (notification,) = _notify(trio.charlie_org, [trio.alice])
        assert notification.email_status == Status.PENDING
        assert {p.kind.code: p.email for p in selectors.preferences(alice_in_charlie)}["lead.hot"]


def test_kind_defaults_and_email_override(trio, as_org, dispatched):
    assert kinds.get("sla.warned").email is False
    with as_org(trio.alpha):
        (warned,) = _notify(trio.alpha, [trio.bob], kind="sla.warned", key="w1")
        (forced,) = _notify(trio.alpha, [trio.bob], kind="sla.warned", key="w2", email=True)
        (quiet,) = _notify(trio.alpha, [trio.bob], kind="lead.hot", key="h1", email=False)
        preference_set(membership=trio.bob_membership, kind="sla.warned", in_app=True, email=False)
        # An explicit user choice wins over the sender's override.
        (chosen,) = _notify(trio.alpha, [trio.bob], kind="sla.warned", key="w3", email=True)
    assert warned.email_status == Status.NONE
    assert forced.email_status == Status.PENDING
    assert quiet.email_status == Status.NONE
    assert chosen.email_status == Status.NONE


def test_lazy_titles_render_in_each_recipients_language(trio, as_org, dispatched):
    trio.alice.language = "en"
    trio.alice.save()
    trio.alpha.language = "fr"  # bob has no language of his own: the organization's
    trio.alpha.save()
    # A string Django itself translates, so the test needs no project catalogue.
    title = format_lazy("{}", gettext_lazy("This field is required."))
    with as_org(trio.alpha):
        created = {
            n.recipient_id: n for n in _notify(trio.alpha, [trio.alice, trio.bob], title=title)
        }
    assert created[trio.alice.pk].title == "This field is required."
    assert created[trio.bob.pk].title == "Ce champ est obligatoire."


def test_registering_kinds(monkeypatch):
    monkeypatch.setattr(kinds, "_registry", dict(kinds._registry))
    kind = kinds.register("test.custom", "Custom", email=True)
    assert kinds.get("test.custom") is kind
    assert kinds.register("test.custom", "Custom", email=True) == kind  # idempotent
    with pytest.raises(ValueError):
        kinds.register("test.custom", "Custom", email=False)
    for code in (
        "lead.mql",
        "lead.hot",
        "lead.assigned",
        "sla.warned",
        "sla.breached",
        "sla.escalated",
        "marketing.behind",
        "meeting.published",
        "member.joined",
    ):
        assert kinds.get(code) is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_notify_creates_one_row(trio, monkeypatch):
    """Two transactions racing on the same dedupe key: the second waits on the unique
    index for the first to commit, then inserts nothing and returns nothing."""
    from smarketing.notifications import tasks

    monkeypatch.setattr(tasks.send_notification_emails, "delay", lambda *a: None)
    first_inserted = threading.Event()
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with tenant_context(trio.alpha.pk):
                results["first"] = _notify(trio.alpha, [trio.bob])
                first_inserted.set()
                # Hold the transaction open while the second one tries.
                threading.Event().wait(0.5)
        except BaseException as exc:  # reported below, threads swallow exceptions
            errors.append(exc)
            first_inserted.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            first_inserted.wait(5)
            with tenant_context(trio.alpha.pk):
                results["second"] = _notify(trio.alpha, [trio.bob])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(results["first"]) == 1
    assert results["second"] == []
    with tenant_context(trio.alpha.pk):
        assert Notification.objects.for_org(trio.alpha).count() == 1
