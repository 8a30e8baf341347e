"""15-minute metric series per slice, computed in ClickHouse from the raw event tables.

``load_series(client, start, end, database, slices)`` returns a DataFrame indexed by
``(bucket, slice)`` with the columns of :data:`METRICS` — the realtime metrics of the metric layer
(feedpulse.metrics: the columns of metrics_15min, with the same aggregates, compiled from the same
definitions). Buckets are ``toStartOfFifteenMinutes(time)``
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
from feedpulse.metrics import age_bucket_sql, definitions

BUCKET = pd.Timedelta(minutes=15)
BUCKETS_PER_DAY = 96
METRICS = tuple(definitions().realtime_columns())

# The age buckets of the raw tables: the dbt macro age_bucket's expression from the same var age_buckets
# (feedpulse.metrics.age_bucket_sql), the one SQL expression feedpulse's Python reads them with.
AGE_BUCKET_SQL = age_bucket_sql("age")
SLICE_EXPRESSIONS: dict[str, str] = {
    "total": "'total'",
    "os": "concat('os:', os)",
    "source": "concat('source:', source)",
    "gender": "concat('gender:', toString(gender))",
    "age": f"concat('age:', {AGE_BUCKET_SQL})",
    "exp_group": "concat('exp_group:', toString(exp_group))",
}

# The aggregates come from the metric definitions (feedpulse.metrics.Metrics.bucket_aggregates); only
# validated slice expressions and those definitions are formatted in, values travel as parameters.
_SOURCE_SQL = """
SELECT toStartOfFifteenMinutes(time) AS bucket, slice, {aggregates}
FROM {{db:Identifier}}.{table}
ARRAY JOIN [{slices}] AS slice
WHERE time >= {{start:DateTime}} AND time < {{end:DateTime}}
GROUP BY bucket, slice
"""
_TABLES = {"feed": "feed_actions", "messages": "message_actions"}


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
    catalog = definitions()
    parts = {}
    for source, table in _TABLES.items():
        aggregates = catalog.bucket_aggregates(source)
        if aggregates:
            listed = ", ".join(f"{sql} AS {name}" for name, sql in aggregates.items())
            parts[source] = _query(client, _SOURCE_SQL.format(aggregates=listed, table=table, slices=expr), params)
    return assemble(parts, lo, hi)


def assemble(parts: dict[str, pd.DataFrame], lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Join the sources' aggregates (source → frame), zero-fill the full bucket × slice grid and derive the ratios (NaN
    where the denominator is 0)."""
    catalog = definitions()
    buckets = pd.date_range(lo, hi - BUCKET, freq="15min")
    slice_values = set()
    for part in parts.values():
        if not part.empty:
            slice_values.update(part.index.get_level_values("slice"))
    slice_values.add("total")
    index = pd.MultiIndex.from_product([buckets, sorted(slice_values, key=_slice_order)], names=["bucket", "slice"])
    frame = pd.DataFrame(index=index)
    for source, part in parts.items():
        for column in catalog.bucket_aggregates(source):
            values = part[column] if not part.empty else pd.Series(dtype="int64")
            frame[column] = values.reindex(index).fillna(0).astype("int64")
    for name in METRICS:
        metric = catalog[name]
        if metric.type == "ratio":
            denominator = frame[metric.denominator].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                frame[name] = np.where(
                    denominator > 0, frame[metric.numerator].to_numpy(dtype=float) / denominator, np.nan
                )
    return frame[list(METRICS)]


def _slice_order(label: str) -> tuple[int, str]:
    return (0 if label == "total" else 1, label)


def stream(frame: pd.DataFrame, metric: str, slice_label: str) -> pd.Series:
    """One metric of one slice as a bucket-indexed series (the detector's input)."""
    if metric not in frame.columns:
        raise SeriesError(f"unknown metric {metric!r}; known: {list(frame.columns)}")
    series = frame[metric].xs(slice_label, level="slice")
    return series.astype(float).rename(f"{metric}[{slice_label}]")
