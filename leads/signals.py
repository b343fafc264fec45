"""The domain signals the leads app sends to the apps above it (DESIGN.md §3).

Receivers live in the higher app's ``apps.py`` and only call a service of their own.
All are sent after the change is written, inside its transaction; a receiver that
starts background work must use ``transaction.on_commit``.

- ``stage_changed(organization, lead, from_stage, to_stage, at, by)``
- ``lead_touched(organization, lead, at, kind, by)``: a sales touch (a call, e-mail or
  meeting logged, or an accept/reject decision) — it stops SLA clocks.
- ``events_ingested(organization, lead_ids, event_types, at)``: a batch was committed
  (SLA clocks started by event types such as ``demo_request``).
- ``deal_won(organization, deal)``
"""

from __future__ import annotations

from django.dispatch import Signal

stage_changed = Signal()
lead_touched = Signal()
events_ingested = Signal()
deal_won = Signal()
