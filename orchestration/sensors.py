"""Dagster sensors (15-minute anomaly alerts) — added by the alerts issue."""

from __future__ import annotations

sensors: list = []
