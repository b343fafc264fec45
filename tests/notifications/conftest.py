from __future__ import annotations

import pytest

from smarketing.notifications import tasks


class Dispatched(list):
    """The ``send_notification_emails.delay`` calls, as ``(organization_id, ids)``."""

    def run(self) -> int:
        """Run the recorded tasks in-process, as a worker would; return e-mails sent."""
        calls, self[:] = list(self), []
        return sum(tasks.send_notification_emails(org_id, ids) for org_id, ids in calls)

    @property
    def ids(self) -> list[int]:
        return [pk for _, ids in self for pk in ids]


@pytest.fixture
def dispatched(monkeypatch) -> Dispatched:
    calls = Dispatched()
    monkeypatch.setattr(
        tasks.send_notification_emails, "delay", lambda org_id, ids: calls.append((org_id, ids))
    )
    return calls
