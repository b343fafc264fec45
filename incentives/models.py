"""Models of the incentives app."""

from __future__ import annotations
