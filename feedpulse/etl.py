"""Pure helpers of the daily ETL: partition settings and the dbt vars of a partition window.

Kept apart from Dagster (which only wires them) so they can be unit-tested on their own, as in
Dagster's own data platform.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feedpulse.config import Settings, SettingsError, settings
from feedpulse.identifiers import check_identifier

FIRST_SOURCE_DAY_SQL = "SELECT min(toDate(time)) FROM {database:Identifier}.feed_actions"


@dataclass(frozen=True)
class PartitionSettings:
    """Where the daily partitions start and in which timezone a day is counted.

    The start is fixed, never relative to today (a sliding start would make materialized days
    vanish from the UI and old history impossible to backfill): ``FEEDPULSE_START_DATE``, else the
    first day present in the source tables.
    """

    start_date: dt.date
    timezone: str

    @classmethod
    def resolve(
        cls, first_source_day: Callable[[], dt.date | None], config: Settings | None = None
    ) -> PartitionSettings:
        """``first_source_day`` is only called when FEEDPULSE_START_DATE is unset."""
        config = config or settings()
        start = config.start_date or first_source_day()
        if start is None:
            raise SettingsError(
                f"FEEDPULSE_START_DATE is unset and {config.source_database}.feed_actions holds no events: "
                "set FEEDPULSE_START_DATE (YYYY-MM-DD, the first day to partition) or load the source data first"
            )
        return cls(start_date=start, timezone=config.timezone)


def first_source_day(client: Any, database: str) -> dt.date | None:
    """The first day with feed events in ``database`` (None if the table is missing or empty).

    ``min`` over the partition key is answered from the parts' min/max index, without a scan.
    """
    check_identifier(database, "the source database")
    exists = client.query(
        "SELECT count() FROM system.tables WHERE database = {database:String} AND name = 'feed_actions'",
        parameters={"database": database},
    ).result_rows[0][0]
    if not exists:
        return None
    day = client.query(FIRST_SOURCE_DAY_SQL, parameters={"database": database}).result_rows[0][0]
    # An empty table answers the type's default (1970-01-01), not NULL.
    return day if day and day > dt.date(1970, 1, 1) else None


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
