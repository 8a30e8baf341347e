"""``analytics.metrics_15min``: the alert metrics per 15-minute bucket and slice, kept fresh
incrementally.

Each refresh recomputes only the recent buckets (from the last stored bucket minus a lookback,
to pick up late events) straight from the raw tables, whose ``ORDER BY (time, …)`` prunes the
read to that time range: the cost does not grow with history. The table is a
ReplacingMergeTree keyed by (slice, bucket) and versioned by ``computed_at``, so a recomputed
bucket replaces the old row; reads use ``FINAL``.

Slices: ``total``, ``os:<os>``, and optionally ``source:<source>`` and ``age:<bucket>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from feedpulse.reports.data import identifier

TABLE = "metrics_15min"
METRICS = ("feed_users", "views", "likes", "ctr", "messenger_users", "messages")
DEFAULT_SLICES = ("total", "os")
LOOKBACK = dt.timedelta(hours=1)
AGE_BUCKET_SQL = ("multiIf(age <= 17, '0-17', age <= 24, '18-24', age <= 34, '25-34', age <= 44, '35-44', "
                  "age <= 54, '45-54', '55+')")
SLICE_SQL = {
    "total": "'total'",
    "os": "concat('os:', os)",
    "source": "concat('source:', source)",
    "age": f"concat('age:', {AGE_BUCKET_SQL})",
}

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


def slice_expressions(slices: Sequence[str]) -> str:
    unknown = [s for s in slices if s not in SLICE_SQL]
    if unknown:
        raise ValueError(f"unknown slice kind(s) {unknown}: choose from {', '.join(SLICE_SQL)}")
    return "[" + ", ".join(SLICE_SQL[s] for s in slices) + "]"


def ensure_table(client, database: str = "analytics") -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {identifier(database)}")
    client.command(DDL.format(db=identifier(database)))


def last_bucket(client, database: str = "analytics") -> dt.datetime | None:
    value = client.command(f"SELECT max(bucket) FROM {identifier(database)}.{TABLE}")
    if not value or str(value).startswith("1970"):
        return None
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def refresh(client, *, until: dt.datetime, since: dt.datetime | None = None, source: str = "simulator",
            database: str = "analytics", slices: Sequence[str] = DEFAULT_SLICES,
            first_refresh_window: dt.timedelta = dt.timedelta(days=15)) -> tuple[dt.datetime, dt.datetime]:
    """Recompute buckets in [since, until) (default: from the last stored bucket − 1 h, or the last
    ``first_refresh_window`` on an empty table). Returns the range recomputed."""
    ensure_table(client, database)
    until = _floor(until)
    if since is None:
        last = last_bucket(client, database)
        since = (last - LOOKBACK) if last else until - first_refresh_window
    since = _floor(since)
    if since >= until:
        return since, until
    slice_array = slice_expressions(slices)
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


def load(client, *, start: dt.datetime, end: dt.datetime, database: str = "analytics",
         slices: Sequence[str] | None = None) -> pd.DataFrame:
    """Metrics for buckets in [start, end) as a frame indexed by (bucket, slice); a bucket with no
    events at all is absent (the detector treats it as missing data)."""
    frame = client.query_df(
        f"SELECT bucket, slice, {', '.join(METRICS)} FROM {identifier(database)}.{TABLE} FINAL "
        "WHERE bucket >= {start:DateTime} AND bucket < {end:DateTime} ORDER BY slice, bucket",
        parameters={"start": _floor(start), "end": _floor(end)},
    )
    if slices is not None and not frame.empty:
        kinds = tuple(slices)
        frame = frame[frame["slice"].map(lambda s: s == "total" or s.split(":", 1)[0] in kinds)]
    if frame.empty:
        return frame
    frame["bucket"] = pd.to_datetime(frame["bucket"]).dt.tz_localize(None)
    return frame.set_index(["bucket", "slice"]).sort_index()


def _floor(value: dt.datetime) -> dt.datetime:
    value = value.replace(tzinfo=None) if value.tzinfo else value
    return value.replace(minute=value.minute - value.minute % 15, second=0, microsecond=0)
