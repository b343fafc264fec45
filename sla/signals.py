"""The domain signals the sla app sends to the apps above it (DESIGN.md §3).

All are sent inside the transaction, after the change is written; a receiver that
starts background work must use ``transaction.on_commit``. Each transition is sent
exactly once: the scan's compare-and-swap update returns a clock to one scanner only.

- ``clock_warned(organization, clock)``: a running clock reached its warning time.
- ``clock_breached(organization, clock)``: a clock passed its due time untouched.
- ``clock_escalated(organization, clock)``: a breached clock's escalation delay passed
  (the sales managers were told).
- ``contract_signed(organization, version)``: the second head signed; ``version`` is now
  the active one (the previous one superseded).
"""

from __future__ import annotations

from django.dispatch import Signal

clock_warned = Signal()
clock_breached = Signal()
clock_escalated = Signal()
contract_signed = Signal()
