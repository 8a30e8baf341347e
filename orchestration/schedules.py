"""Dagster schedules (daily ETL, reports, metric refresh) — added by the issues that own them."""

from __future__ import annotations

schedules: list = []
