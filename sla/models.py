"""Models of the sla app."""

from __future__ import annotations
