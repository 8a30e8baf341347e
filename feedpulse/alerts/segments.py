"""Segment cells for the root-cause explainer, read from the raw event tables.

:func:`load_cells` returns two frames of cells (one row per combination of ``os``, ``gender``,
``age`` bucket, ``source``, ``country``, ``city``, ``exp_group``) with the counts of one table's
metrics: the judged bucket and its baseline — the same slot ± ``halfwidth`` buckets on each of the
``days`` days before (the slots the detector's seasonal baseline is the median of). User counts are
distinct (user, bucket) pairs, so any segment's count is the sum of its cells and equals the sum of
its per-bucket distinct users.

Everything variable reaches the SQL as a query parameter (the database as ``{db:Identifier}``);
the age bucket is the one expression of :mod:`feedpulse.alerts.series`; the metric columns come from
the metric definitions (:mod:`feedpulse.metrics`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from feedpulse.alerts.explain import DIMENSIONS, RATIOS, SLOT
from feedpulse.alerts.series import AGE_BUCKET_SQL, BUCKET
from feedpulse.identifiers import check_identifier
from feedpulse.metrics import definitions

# The cells' metric columns: the metric layer's 15-minute aggregates of each table's counts
# (feedpulse.metrics, the formulas of metrics_15min), users counted once per (user, unit).
_CATALOG = definitions()
FEED_METRICS = tuple(_CATALOG.bucket_aggregates("feed"))
MESSAGE_METRICS = tuple(_CATALOG.bucket_aggregates("messages"))
_DIMENSION_SQL = (
    f"os, toString(gender) AS gender, {AGE_BUCKET_SQL} AS age, source, country, city, toString(exp_group) AS exp_group"
)
_WHERE = """
WHERE (time >= {cur:DateTime} AND time < {end:DateTime})
   OR (time >= {lo:DateTime} AND time < {anchor:DateTime}
       AND (toUnixTimestamp(time) - toUnixTimestamp({lo:DateTime})) % 86400 < {width:UInt32})
"""
# users are counted once per (user, unit): per bucket for alerts, per day for the daily reports' DAU
USER_UNITS = {"bucket": "toStartOfFifteenMinutes(time)", "day": "toDate(time)"}
_GROUP = "GROUP BY is_current, os, gender, age, source, country, city, exp_group"


def _cells_sql(source: str, table: str) -> str:
    metrics = ", ".join(
        f"{sql} AS {name}" for name, sql in _CATALOG.bucket_aggregates(source, user_key="user_id, {unit}").items()
    )
    return (
        f"SELECT toUInt8(time >= {{cur:DateTime}}) AS is_current, {_DIMENSION_SQL}, {metrics} "
        f"FROM {{db:Identifier}}.{table}{_WHERE}{_GROUP}"
    )


_SQL = {"feed": _cells_sql("feed", "feed_actions"), "message": _cells_sql("messages", "message_actions")}


def table_of(metric: str) -> str:
    """``feed`` or ``message``: the raw table a metric is counted from."""
    columns = RATIOS.get(metric, (metric,))
    if all(c in FEED_METRICS for c in columns):
        return "feed"
    if all(c in MESSAGE_METRICS for c in columns):
        return "message"
    raise ValueError(f"no segment cells for metric {metric!r}; known: {[*FEED_METRICS, *MESSAGE_METRICS, *RATIOS]}")


def load_cells(
    client: Any,
    metric: str,
    bucket: dt.datetime,
    *,
    source: str = "simulator",
    days: int = 14,
    halfwidth: int = 2,
    width_buckets: int = 1,
    users_per: str = "bucket",
    by_slot: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(current, baseline) cells for ``metric`` at ``bucket`` (``width_buckets`` buckets from it).

    The baseline spans ``[bucket − halfwidth, bucket + width_buckets + halfwidth)`` buckets on each of
    the ``days`` previous days. ``users_per="day"``: distinct users per day (a whole day's cells, for DAU).
    ``by_slot``: keep the baseline's buckets apart (column ``slot``, the bucket's start), so that the
    explainer can measure each segment's bucket-to-bucket noise (≈ 5 × more baseline rows).
    """
    if days < 1 or halfwidth < 0 or width_buckets < 1:
        raise ValueError(
            f"days ≥ 1, halfwidth ≥ 0 and width_buckets ≥ 1 needed, got {days}, {halfwidth}, {width_buckets}"
        )
    cur = pd.Timestamp(bucket).floor("15min").to_pydatetime()
    step = BUCKET.to_pytimedelta()
    anchor = cur - halfwidth * step
    params = {
        "db": check_identifier(source, "source database"),
        "cur": cur,
        "end": cur + width_buckets * step,
        "anchor": anchor,
        "lo": anchor - dt.timedelta(days=days),
        "width": int((2 * halfwidth + width_buckets) * step.total_seconds()),
    }
    if users_per not in USER_UNITS:
        raise ValueError(f"users_per must be one of {sorted(USER_UNITS)}, got {users_per!r}")
    sql = _SQL[table_of(metric)].replace("{unit}", USER_UNITS[users_per])
    if by_slot:
        sql = sql.replace("SELECT ", f"SELECT {USER_UNITS['bucket']} AS {SLOT}, ", 1).replace(
            "GROUP BY ", f"GROUP BY {SLOT}, ", 1
        )
    result = client.query(sql, parameters=params)
    frame = pd.DataFrame(result.result_rows, columns=list(result.column_names))
    for dimension in DIMENSIONS:
        frame[dimension] = frame[dimension].astype(str) if not frame.empty else pd.Series(dtype=str)
    current = frame[frame["is_current"] == 1].drop(columns="is_current").reset_index(drop=True)
    baseline = frame[frame["is_current"] == 0].drop(columns="is_current").reset_index(drop=True)
    return current, baseline
