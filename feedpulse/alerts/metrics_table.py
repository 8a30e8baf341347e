"""``analytics.metrics_15min``: the alert metrics per 15-minute bucket and slice, kept fresh
incrementally.

Each refresh recomputes only the recent buckets (from the last stored bucket minus a lookback,
to pick up late events) straight from the raw tables, whose ``ORDER BY (time, …)`` prunes the
read to that time range: the cost does not grow with history. The table is a
ReplacingMergeTree keyed by (slice, bucket) and versioned by ``computed_at``, so a recomputed
bucket replaces the old row; reads use ``FINAL``.

Slices as in :mod:`feedpulse.alerts.series` (``total``, ``os:<os>``, ``source:<source>``, …).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from feedpulse.alerts.series import BUCKET, METRICS, floor_bucket, slice_sql
from feedpulse.config import DEFAULT_SOURCE_DATABASE
from feedpulse.identifiers import check_identifier as identifier

TABLE = "metrics_15min"
DEFAULT_SLICES = ("total", "os")
LOOKBACK = dt.timedelta(hours=1)
DDL = """
CREATE TABLE IF NOT EXISTS {db}.metrics_15min (
    bucket DateTime,
    slice LowCardinality(String),
    feed_users UInt64,
    views UInt64,
    likes UInt64,
    ctr Float64,
    messenger_users UInt64,
    messages UInt64,
    computed_at DateTime64(3)
) ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toDate(bucket)
ORDER BY (slice, bucket)
"""


def ensure_table(client, database: str = "analytics") -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {identifier(database)}")
    client.command(DDL.format(db=identifier(database)))


def last_bucket(client, database: str = "analytics") -> dt.datetime | None:
    value = client.command(f"SELECT max(bucket) FROM {identifier(database)}.{TABLE}")
    if not value or str(value).startswith("1970"):
        return None
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def stored_range(client, database: str = "analytics") -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last stored bucket, or ``None`` if the table is missing or empty. Refreshes are
    contiguous (each starts at most at the last stored bucket), so every bucket between the two was
    computed: a bucket missing in between had no events; one after the last is not computed yet."""
    db = identifier(database)
    if not int(client.command(f"EXISTS TABLE {db}.{TABLE}")):
        return None
    # As strings: the wall-clock times in the server's timezone, as the buckets are compared everywhere.
    first, last, rows = client.query(
        f"SELECT toString(min(bucket)), toString(max(bucket)), count() FROM {db}.{TABLE}"
    ).result_rows[0]
    if not rows:
        return None
    return dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)


def refresh(
    client,
    *,
    until: dt.datetime,
    since: dt.datetime | None = None,
    source: str = DEFAULT_SOURCE_DATABASE,
    database: str = "analytics",
    slices: Sequence[str] = DEFAULT_SLICES,
    first_refresh_window: dt.timedelta = dt.timedelta(days=15),
) -> tuple[dt.datetime, dt.datetime]:
    """Recompute buckets in [since, until) (default: from the last stored bucket − 1 h, or the last
    ``first_refresh_window`` on an empty table). Returns the range recomputed."""
    ensure_table(client, database)
    until = floor_bucket(until)
    if since is None:
        last = last_bucket(client, database)
        since = (last - LOOKBACK) if last else until - first_refresh_window
    since = floor_bucket(since)
    if since >= until:
        return since, until
    slice_array = f"[{slice_sql(slices)}]"
    src, db = identifier(source), identifier(database)
    client.command(
        f"INSERT INTO {db}.{TABLE} (bucket, slice, feed_users, views, likes, ctr, messenger_users, messages, "
        "computed_at) "
        "WITH feed AS ("
        f"  SELECT toStartOfFifteenMinutes(time) AS bucket, arrayJoin({slice_array}) AS slice,"
        "         uniqExact(user_id) AS feed_users, countIf(action = 'view') AS views,"
        "         countIf(action = 'like') AS likes"
        f"  FROM {src}.feed_actions WHERE time >= {{since:DateTime}} AND time < {{until:DateTime}}"
        "   GROUP BY bucket, slice),"
        " messenger AS ("
        f"  SELECT toStartOfFifteenMinutes(time) AS bucket, arrayJoin({slice_array}) AS slice,"
        "         uniqExact(user_id) AS messenger_users, count() AS messages"
        f"  FROM {src}.message_actions WHERE time >= {{since:DateTime}} AND time < {{until:DateTime}}"
        "   GROUP BY bucket, slice)"
        " SELECT bucket, slice, feed_users, views, likes, if(views = 0, 0, likes / views), messenger_users,"
        "        messages, now64(3)"
        " FROM feed FULL OUTER JOIN messenger USING (bucket, slice)",
        parameters={"since": since, "until": until},
    )
    return since, until


def load(
    client, *, start: dt.datetime, end: dt.datetime, database: str = "analytics", slices: Sequence[str] | None = None
) -> pd.DataFrame:
    """Metrics for buckets in [start, end) as a frame indexed by (bucket, slice), the same shape as
    :func:`feedpulse.alerts.series.load_series`: every bucket present for every slice (a bucket
    with no events is zero, ``ctr`` NaN)."""
    frame = client.query_df(
        f"SELECT bucket, slice, {', '.join(METRICS)} FROM {identifier(database)}.{TABLE} FINAL "
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
    counts = [m for m in METRICS if m != "ctr"]
    frame[counts] = frame[counts].fillna(0)
    frame["ctr"] = frame["likes"] / frame["views"].where(frame["views"] > 0)
    return frame.sort_index()
