"""Pure helpers of the daily ETL: partition settings and the dbt vars of a partition window.

Kept apart from Dagster (which only wires them) so they can be unit-tested on their own, as in
Dagster's own data platform.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedpulse.config import DEFAULT_TIMEZONE

DEFAULT_HISTORY_DAYS = 35


@dataclass(frozen=True)
class PartitionSettings:
    """Where the daily partitions start and in which timezone a day is counted."""

    start_date: dt.date
    timezone: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, today: dt.date | None = None) -> PartitionSettings:
        env = dict(os.environ if env is None else env)
        timezone = env.get("FEEDPULSE_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"FEEDPULSE_TIMEZONE: unknown timezone {timezone!r}") from None
        today = today or dt.datetime.now(ZoneInfo(timezone)).date()
        text = (env.get("FEEDPULSE_START_DATE") or "").strip()
        if text:
            try:
                start = dt.date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"FEEDPULSE_START_DATE must be a date YYYY-MM-DD, got {text!r}") from None
        else:
            start = today - dt.timedelta(days=DEFAULT_HISTORY_DAYS)
        if start >= today:
            raise ValueError(f"FEEDPULSE_START_DATE ({start}) must be before today ({today})")
        return cls(start_date=start, timezone=timezone)


def window_dates(start: dt.datetime | dt.date, end: dt.datetime | dt.date) -> tuple[dt.date, dt.date]:
    """The [first day, day after the last) of a partition time window (boundaries in the partition tz)."""
    first = start.date() if isinstance(start, dt.datetime) else start
    after = end.date() if isinstance(end, dt.datetime) else end
    if isinstance(end, dt.datetime) and end.time() != dt.time(0):
        after += dt.timedelta(days=1)  # a window ending inside a day still covers that day
    if after <= first:
        raise ValueError(f"empty partition window: {start} .. {end}")
    return first, after


def dbt_vars(start: dt.datetime | dt.date, end: dt.datetime | dt.date, **extra: object) -> dict[str, object]:
    """The --vars of a dbt run for a partition window: start_date inclusive, end_date exclusive."""
    first, after = window_dates(start, end)
    return {"start_date": first.isoformat(), "end_date": after.isoformat(), **extra}


def days_in_window(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days)]
