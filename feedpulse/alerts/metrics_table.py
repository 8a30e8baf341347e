"""Reading ``analytics.metrics_15min``, the alert metrics per 15-minute bucket and slice.

The table is the dbt model ``dbt_project/models/realtime/metrics_15min.sql``: built from the
staging views (bad rows excluded as in the daily ETL), refreshed whole days at a time by the
``metrics_15min`` asset, which the anomaly sensor requests when the newest complete bucket is not
in yet (:func:`is_fresh`); nothing here writes it. :func:`refresh_window` is the days such a refresh
recomputes. Reads use ``FINAL`` (the engine is a ReplacingMergeTree versioned by ``computed_at``, so
rows written by the Python refresher of earlier versions and by dbt never count twice).

Slices as in :mod:`feedpulse.alerts.series` (``total``, ``os:<os>``, ``source:<source>``, …).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from feedpulse.alerts.series import BUCKET, floor_bucket
from feedpulse.clickhouse import table_exists
from feedpulse.identifiers import check_identifier as identifier
from feedpulse.metrics import definitions

TABLE = "metrics_15min"
DEFAULT_SLICES = ("total", "os")
# Late events: a refresh recomputes from the last stored bucket minus this (whole days, so usually
# just today; after midnight also yesterday).
LOOKBACK = dt.timedelta(hours=1)


def _max(client, column: str, database: str) -> dt.datetime | None:
    if not table_exists(client, database, TABLE):
        return None
    value = client.command(f"SELECT toString(max({column})) FROM {identifier(database)}.{TABLE}")
    if not value or str(value).startswith("1970"):
        return None
    return dt.datetime.fromisoformat(str(value)).replace(microsecond=0)


def last_bucket(client, database: str = "analytics") -> dt.datetime | None:
    """The newest stored bucket, or None (no table, or an empty one)."""
    return _max(client, "bucket", database)


def stored_range(client, database: str = "analytics") -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last stored bucket, or ``None`` if the table is missing or empty. Refreshes are
    contiguous (each starts at most at the last stored bucket), so every bucket between the two was
    computed: a bucket missing in between had no events; one after the last is not computed yet."""
    db = identifier(database)
    if not table_exists(client, database, TABLE):
        return None
    # As strings: the wall-clock times in the server's timezone, as the buckets are compared everywhere.
    first, last, rows = client.query(
        f"SELECT toString(min(bucket)), toString(max(bucket)), count() FROM {db}.{TABLE}"
    ).result_rows[0]
    if not rows:
        return None
    return dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)


def last_refresh(client, database: str = "analytics") -> dt.datetime | None:
    """When the newest refresh ran (server time), or None."""
    return _max(client, "computed_at", database)


def is_fresh(last_refreshed: dt.datetime | None, bucket: dt.datetime, delay_minutes: int) -> bool:
    """True when a refresh ran after ``bucket`` was complete (its end plus the completeness delay):
    only then does the table hold the bucket as the sensor may judge it."""
    if last_refreshed is None:
        return False
    complete_at = bucket + BUCKET.to_pytimedelta() + dt.timedelta(minutes=delay_minutes)
    return last_refreshed >= complete_at


def refresh_window(now: dt.datetime, last: dt.datetime | None, first_window: dt.timedelta) -> tuple[dt.date, dt.date]:
    """The days [start, end) a refresh at ``now`` recomputes: from the day of the last stored bucket
    minus :data:`LOOKBACK` (or ``now - first_window`` on an empty table) through today."""
    since = (last - LOOKBACK) if last else now - first_window
    since = min(since, now - LOOKBACK)
    return since.date(), now.date() + dt.timedelta(days=1)


def load(
    client, *, start: dt.datetime, end: dt.datetime, database: str = "analytics", slices: Sequence[str] | None = None
) -> pd.DataFrame:
    """Metrics for buckets in [start, end) as a frame indexed by (bucket, slice), the same shape as
    :func:`feedpulse.alerts.series.load_series`: every bucket present for every slice (a bucket
    with no events is zero, ``ctr`` NaN)."""
    catalog = definitions()
    columns = catalog.realtime_columns()  # the metric layer's realtime metrics (macros/metrics.sql)
    frame = client.query_df(
        f"SELECT bucket, slice, {', '.join(columns)} FROM {identifier(database)}.{TABLE} FINAL "
        "WHERE bucket >= {start:DateTime} AND bucket < {end:DateTime} ORDER BY slice, bucket",
        parameters={"start": floor_bucket(start), "end": floor_bucket(end)},
    )
    if frame.empty:
        return frame
    if slices is not None:
        kinds = tuple(slices)
        frame = frame[frame["slice"].map(lambda s: s == "total" or s.split(":", 1)[0] in kinds)]
    frame["bucket"] = pd.to_datetime(frame["bucket"]).dt.tz_localize(None)
    grid = pd.date_range(floor_bucket(start), floor_bucket(end) - BUCKET, freq=BUCKET)
    full = pd.MultiIndex.from_product([grid, sorted(frame["slice"].unique())], names=["bucket", "slice"])
    frame = frame.set_index(["bucket", "slice"]).reindex(full)
    ratios = [m for m in columns if catalog[m].type == "ratio"]
    counts = [m for m in columns if m not in ratios]
    frame[counts] = frame[counts].fillna(0)
    for name in ratios:  # undefined (NaN) where the denominator is 0, as the detector expects
        metric = catalog[name]
        frame[name] = frame[metric.numerator] / frame[metric.denominator].where(frame[metric.denominator] > 0)
    return frame.sort_index()
