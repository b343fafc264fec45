"""The domain signals the scoring app sends to the apps above it (DESIGN.md §3).

Sent inside the scoring transaction, after the lead's new score is written; a
receiver that starts background work must use ``transaction.on_commit``.

- ``lead_became_hot(organization, lead, at)``: a hot-marking rule started to hold
  (``at`` = the event that made it hot) — the SLA's ``became_hot`` trigger.

Becoming MQL is announced by leads' own ``stage_changed`` (sent by ``lead_mark_mql``).
"""

from __future__ import annotations

from django.dispatch import Signal

lead_became_hot = Signal()
