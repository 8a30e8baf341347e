"""15-minute metric series per slice, computed in ClickHouse from the raw event tables.

``load_series(client, start, end, database, slices)`` returns a DataFrame indexed by
``(bucket, slice)`` with the columns of :data:`METRICS`. Buckets are ``toStartOfFifteenMinutes(time)``
over ``[start, end)``; every bucket of the range is present for every slice value seen (missing
buckets are zero-filled; ``ctr`` is NaN where there were no views).

Slice labels: ``"total"`` and ``"<dimension>:<value>"`` (``"os:iOS"``, ``"source:ads"``,
``"age:18-24"``, ``"gender:1"``). Dimensions are chosen from :data:`SLICE_EXPRESSIONS` only, so no
user text ever reaches the SQL; the time range and the database go through query parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from feedpulse.config import DEFAULT_SOURCE_DATABASE

BUCKET = pd.Timedelta(minutes=15)
BUCKETS_PER_DAY = 96
COUNT_METRICS = ("feed_users", "views", "likes", "messenger_users", "messages")
METRICS = ("feed_users", "views", "likes", "ctr", "messenger_users", "messages")

# The age buckets of the raw tables (the dbt macro age_bucket with its default var age_buckets): the one
# SQL expression feedpulse's Python reads them with (slices, root-cause segments).
AGE_BUCKET_SQL = (
    "multiIf(age < 18, '0-17', age < 25, '18-24', age < 35, '25-34', age < 45, '35-44', age < 55, '45-54', '55+')"
)
SLICE_EXPRESSIONS: dict[str, str] = {
    "total": "'total'",
    "os": "concat('os:', os)",
    "source": "concat('source:', source)",
    "gender": "concat('gender:', toString(gender))",
    "age": f"concat('age:', {AGE_BUCKET_SQL})",
    "exp_group": "concat('exp_group:', toString(exp_group))",
}

_FEED_SQL = """
SELECT toStartOfFifteenMinutes(time) AS bucket, slice,
       uniqExact(user_id) AS feed_users, countIf(action = 'view') AS views, countIf(action = 'like') AS likes
FROM {{db:Identifier}}.feed_actions
ARRAY JOIN [{slices}] AS slice
WHERE time >= {{start:DateTime}} AND time < {{end:DateTime}}
GROUP BY bucket, slice
"""

_MESSAGE_SQL = """
SELECT toStartOfFifteenMinutes(time) AS bucket, slice,
       uniqExact(user_id) AS messenger_users, count() AS messages
FROM {{db:Identifier}}.message_actions
ARRAY JOIN [{slices}] AS slice
WHERE time >= {{start:DateTime}} AND time < {{end:DateTime}}
GROUP BY bucket, slice
"""


class SeriesError(ValueError):
    """Bad arguments to :func:`load_series`."""


def slice_sql(slices: Sequence[str]) -> str:
    """The ``ARRAY JOIN`` list of slice expressions for the requested dimensions."""
    unknown = [s for s in slices if s not in SLICE_EXPRESSIONS]
    if unknown:
        raise SeriesError(f"unknown slice dimension(s) {unknown}; known: {sorted(SLICE_EXPRESSIONS)}")
    if not slices:
        raise SeriesError("slices must not be empty")
    return ", ".join(SLICE_EXPRESSIONS[s] for s in dict.fromkeys(slices))


def floor_bucket(value: dt.datetime) -> dt.datetime:
    """The start of the 15-minute bucket holding ``value``, as a naive wall-clock time: bucket times are
    the data's local times (an aware value keeps its wall clock and drops the zone)."""
    value = value.replace(tzinfo=None) if value.tzinfo else value
    return value.replace(minute=value.minute - value.minute % 15, second=0, microsecond=0)


def _query(client: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = client.query(sql, parameters=params)
    frame = pd.DataFrame(result.result_rows, columns=list(result.column_names))
    if frame.empty:
        return frame
    frame["bucket"] = pd.to_datetime(frame["bucket"]).dt.tz_localize(None)
    return frame.set_index(["bucket", "slice"])


def load_series(
    client: Any,
    start: dt.datetime,
    end: dt.datetime,
    database: str = DEFAULT_SOURCE_DATABASE,
    slices: Sequence[str] = ("total", "os"),
) -> pd.DataFrame:
    """Metrics per 15-minute bucket and slice over ``[start, end)`` (zero-filled; see module doc)."""
    lo, hi = pd.Timestamp(floor_bucket(start)), pd.Timestamp(floor_bucket(end))
    if hi <= lo:
        raise SeriesError(f"end ({end}) must be at least one 15-minute bucket after start ({start})")
    expr = slice_sql(slices)
    params = {"db": database, "start": lo.to_pydatetime(), "end": hi.to_pydatetime()}
    feed = _query(client, _FEED_SQL.format(slices=expr), params)
    messages = _query(client, _MESSAGE_SQL.format(slices=expr), params)
    return assemble(feed, messages, lo, hi)


def assemble(feed: pd.DataFrame, messages: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Join the two aggregates, zero-fill the full bucket × slice grid and derive ``ctr``."""
    buckets = pd.date_range(lo, hi - BUCKET, freq="15min")
    slice_values = set()
    for part in (feed, messages):
        if not part.empty:
            slice_values.update(part.index.get_level_values("slice"))
    slice_values.add("total")
    index = pd.MultiIndex.from_product([buckets, sorted(slice_values, key=_slice_order)], names=["bucket", "slice"])
    frame = pd.DataFrame(index=index)
    for part, columns in ((feed, ("feed_users", "views", "likes")), (messages, ("messenger_users", "messages"))):
        for column in columns:
            values = part[column] if not part.empty else pd.Series(dtype="int64")
            frame[column] = values.reindex(index).fillna(0).astype("int64")
    views = frame["views"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ctr"] = np.where(views > 0, frame["likes"].to_numpy(dtype=float) / views, np.nan)
    return frame[list(METRICS)]


def _slice_order(label: str) -> tuple[int, str]:
    return (0 if label == "total" else 1, label)


def stream(frame: pd.DataFrame, metric: str, slice_label: str) -> pd.Series:
    """One metric of one slice as a bucket-indexed series (the detector's input)."""
    if metric not in frame.columns:
        raise SeriesError(f"unknown metric {metric!r}; known: {list(frame.columns)}")
    series = frame[metric].xs(slice_label, level="slice")
    return series.astype(float).rename(f"{metric}[{slice_label}]")
