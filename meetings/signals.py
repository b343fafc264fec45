"""The domain signal the meetings app sends (interfaces.md).

- ``meeting_published(organization, meeting)``: a meeting was closed; its pack,
  decisions and action items are final. Sent after the change is written, inside its
  transaction: a receiver that starts background work must use
  ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

meeting_published = Signal()
