"""Loading per-user experiment data: a CSV file or per-user aggregates computed in ClickHouse.

From ClickHouse the aggregates come from the ETL's ``user_daily`` (the metric layer's per-user
``views`` and ``likes`` columns, under staging's validity rule, and each user's exp_group as of the
day), so an experiment counts exactly what the reports and dashboards count; every day of the window
must have been through the daily ETL (a missing day is an error naming it, not a silent gap).

Every loader returns a DataFrame with (at least) the columns ``exp_group, user_id, likes, views``,
one row per user and group, validated by :func:`validate`: missing columns, non-numeric or
negative values and duplicated users are errors (:class:`ExperimentDataError`, a ``ValueError``).
Users with ``views == 0`` are kept here: the statistics drop them from the CTR tests (their CTR is
undefined) but count them for the sample-ratio check and the views guardrail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feedpulse.identifiers import InvalidIdentifierError, check_identifier

REQUIRED_COLUMNS: tuple[str, ...] = ("exp_group", "user_id", "likes", "views")

ANALYTICS_DATABASE = "analytics"
USERS_SQL = """
SELECT toInt64(exp_group) AS exp_group, user_id, sum(likes) AS likes, sum(views) AS views
FROM {database}.user_daily
WHERE event_date BETWEEN {{start:Date}} AND {{end:Date}} AND is_feed_user AND exp_group IN {{groups:Array(Int8)}}
GROUP BY exp_group, user_id
"""
DAYS_SQL = """
SELECT DISTINCT event_date FROM {database}.user_daily WHERE event_date BETWEEN {{start:Date}} AND {{end:Date}}
"""


class ExperimentDataError(ValueError):
    """The input data cannot be analysed; the message says what is wrong."""


COUNT_COLUMNS = ("likes", "views")
MAX_COUNT = 2**53 - 1  # larger counts are not exact in float64 (and no real user has them)
INT64_MAX = int(np.iinfo(np.int64).max)
ROWS_SHOWN = 5


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise the input: required columns present, whole numbers in range, non-negative,
    likes ≤ views, unique users. Errors name the rows (1 = the first data row, in input order).

    Returns a copy with the four required columns as int64 first (other columns kept after them).
    Nothing is dropped silently: any bad row fails the whole input, so no verdict is issued on it.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in df.columns]
    if missing:
        raise ExperimentDataError(
            f"missing column(s): {', '.join(missing)} "
            f"(expected {', '.join(REQUIRED_COLUMNS)}; got {', '.join(map(str, df.columns))})"
        )
    if df.empty:
        raise ExperimentDataError("no rows: the data set is empty")
    out = df.reset_index(drop=True)
    out = out.assign(**{column: _integer_column(out[column], column) for column in REQUIRED_COLUMNS})
    negative = [column for column in ("likes", "views") if (out[column] < 0).any()]
    if negative:
        bad = (out[negative] < 0).any(axis=1).to_numpy()
        raise ExperimentDataError(
            f"negative values in column(s) {', '.join(negative)} ({int(bad.sum())} row(s): {_rows(bad)})"
        )
    impossible = (out["likes"] > out["views"]).to_numpy()
    if impossible.any():
        first = int(np.flatnonzero(impossible)[0])
        raise ExperimentDataError(
            f"likes > views in {int(impossible.sum())} row(s): {_rows(impossible)} "
            f"(e.g. likes {out['likes'].iloc[first]}, views {out['views'].iloc[first]}): every like needs a view"
        )
    duplicated = out.duplicated(["exp_group", "user_id"]).to_numpy()
    if duplicated.any():
        example = out.loc[duplicated, ["exp_group", "user_id"]].iloc[0].tolist()
        raise ExperimentDataError(
            f"{int(duplicated.sum())} duplicated (exp_group, user_id) row(s), "
            f"e.g. {example} ({_rows(duplicated)}): expected one row per user and group"
        )
    others = [column for column in out.columns if column not in REQUIRED_COLUMNS]
    return out[list(REQUIRED_COLUMNS) + others]


def _rows(mask: np.ndarray) -> str:
    """'rows 3, 8, 12 and 4 more' (1-based positions of the True entries)."""
    positions = np.flatnonzero(mask) + 1
    shown = ", ".join(str(p) for p in positions[:ROWS_SHOWN])
    more = len(positions) - ROWS_SHOWN
    word = "row" if len(positions) == 1 else "rows"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def _integer_column(values: pd.Series, name: str) -> pd.Series:
    """Whole numbers in range as int64 (counts up to MAX_COUNT, ids up to int64); errors name the rows."""
    limit = MAX_COUNT if name in COUNT_COLUMNS else INT64_MAX
    if pd.api.types.is_integer_dtype(values.dtype):
        if pd.api.types.is_unsigned_integer_dtype(values.dtype):
            unsigned = values.to_numpy(dtype=np.uint64)
            _check_range(unsigned > np.uint64(limit), values, name, limit)
            return pd.Series(unsigned.astype(np.int64), index=values.index, name=name)
        as_int = values.to_numpy(dtype=np.int64)
        _check_range((as_int > limit) | (as_int < -limit), values, name, limit)
        return pd.Series(as_int, index=values.index, name=name)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna().to_numpy()
    if bad.any():
        raise ExperimentDataError(
            f"column {name}: {int(bad.sum())} missing or non-numeric value(s) ({_rows(bad)}), "
            f"e.g. {_example(values, bad)}"
        )
    as_float = numeric.to_numpy(dtype=np.float64)
    limit = min(limit, MAX_COUNT)  # beyond 2**53 a float no longer holds a whole number exactly
    _check_range(~(np.abs(as_float) <= limit), values, name, limit)  # also catches inf
    fraction = as_float != np.floor(as_float)
    if fraction.any():
        raise ExperimentDataError(
            f"column {name}: {int(fraction.sum())} value(s) not a whole number ({_rows(fraction)}), "
            f"e.g. {_example(values, fraction)}"
        )
    return pd.Series(as_float.astype(np.int64), index=values.index, name=name)


def _check_range(out_of_range: np.ndarray, values: pd.Series, name: str, limit: int) -> None:
    if out_of_range.any():
        raise ExperimentDataError(
            f"column {name}: {int(out_of_range.sum())} value(s) out of range ({_rows(out_of_range)}), "
            f"e.g. {_example(values, out_of_range)}: values must be within ±{limit:,}"
        )


def _example(values: pd.Series, mask: np.ndarray) -> str:
    value = values[mask].iloc[0]
    return repr(value.item() if isinstance(value, np.generic) else value)


def load_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a CSV with columns exp_group,user_id,likes,views (others ignored)."""
    path = Path(path)
    if not path.exists():
        raise ExperimentDataError(f"file not found: {path}")
    if not path.is_file():
        raise ExperimentDataError(f"not a file: {path}")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise ExperimentDataError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ExperimentDataError(f"{path}: not a readable CSV ({exc})") from exc
    try:
        return validate(df)
    except ExperimentDataError as exc:
        raise ExperimentDataError(f"{path}: {exc}") from exc


def users_query(database: str = ANALYTICS_DATABASE, sql: str = USERS_SQL) -> str:
    """The per-user aggregate query; only the (validated) database name is formatted in."""
    try:
        check_identifier(database)
    except InvalidIdentifierError as exc:
        raise ExperimentDataError(str(exc)) from None
    return sql.format(database=database)


def load_from_db(
    client: Any,
    start: dt.date | str,
    end: dt.date | str,
    groups: Sequence[int],
    database: str = ANALYTICS_DATABASE,
) -> pd.DataFrame:
    """Per-user likes/views of ``groups`` between ``start`` and ``end`` (inclusive), from ``database``'s
    ``user_daily`` (the daily ETL's output: every day of the window must be there).

    ``client`` is a clickhouse-connect client; values travel as server-side query parameters.
    """
    start_date, end_date = _as_date(start, "start"), _as_date(end, "end")
    if end_date < start_date:
        raise ExperimentDataError(f"end {end_date} is before start {start_date}")
    if not groups:
        raise ExperimentDataError("no experiment groups given")
    parameters = {"start": start_date, "end": end_date, "groups": [int(group) for group in groups]}
    present = {row[0] for row in client.query(users_query(database, DAYS_SQL), parameters=parameters).result_rows}
    days = [start_date + dt.timedelta(days=i) for i in range((end_date - start_date).days + 1)]
    missing = [day for day in days if day not in present]
    if missing:
        shown = ", ".join(str(day) for day in missing[:5]) + (f" … ({len(missing)} days)" if len(missing) > 5 else "")
        raise ExperimentDataError(
            f"{database}.user_daily has no rows for {shown}: run the daily ETL for the experiment's window "
            f"{start_date} … {end_date} first (a backfill of those partitions)"
        )
    df = client.query_df(users_query(database), parameters=parameters)
    if df.empty:
        raise ExperimentDataError(
            f"no feed users in groups {list(groups)} between {start_date} and {end_date} in {database}.user_daily"
        )
    return validate(df)


def _as_date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ExperimentDataError(f"{name}: expected a date YYYY-MM-DD, got {value!r}") from exc


def group_frame(df: pd.DataFrame, group: int) -> pd.DataFrame:
    """The rows of one experiment group; an error naming the groups present if it has none."""
    rows = df[df["exp_group"] == group]
    if rows.empty:
        present = ", ".join(str(g) for g in sorted(df["exp_group"].unique()))
        raise ExperimentDataError(f"exp_group {group} has no users (groups present: {present})")
    return rows


def per_user_ctr(rows: pd.DataFrame) -> np.ndarray:
    """likes / views per user, for users with views > 0 (the others have no CTR)."""
    viewed = rows[rows["views"] > 0]
    return viewed["likes"].to_numpy(np.float64) / viewed["views"].to_numpy(np.float64)
