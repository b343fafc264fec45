"""Models of the dashboards app."""

from __future__ import annotations
