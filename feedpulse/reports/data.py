"""Report figures read from the ETL marts: each report's metrics (those whose definition lists the
report: feedpulse.metrics) from the metric layer's table metrics_daily, the app report's audience
slices from app_daily_metrics, its "whole period" section from retention_daily and audience_lifecycle.

Queries are parameterized; the database names are validated identifiers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from feedpulse.clickhouse import table_exists
from feedpulse.identifiers import check_identifier
from feedpulse.metrics import Metrics, definitions

ANALYTICS_DATABASE = "analytics"

# The app report's slices of its audience metrics (app_daily_metrics' columns): its DAU by platform
# and its new users by source, shown next to those lines.
APP_SLICE_COLUMNS = ["app_dau_ios", "app_dau_android", "new_users_ads", "new_users_organic"]


class ReportDataMissing(RuntimeError):
    """The ETL has not produced the day a report needs: nothing must be sent."""


@dataclass(frozen=True)
class DailySeries:
    """Figures per day (index: date) over a range ending on ``day``."""

    day: dt.date
    frame: pd.DataFrame

    def value(self, column: str, day: dt.date) -> float | None:
        if day not in self.frame.index:
            return None
        value = self.frame.at[day, column]
        return None if pd.isna(value) else float(value)

    def last_days(self, days: int) -> pd.DataFrame:
        first = self.day - dt.timedelta(days=days - 1)
        return self.frame[(self.frame.index >= first) & (self.frame.index <= self.day)]


def identifier(name: str) -> str:
    return check_identifier(name)


def load_metrics(
    client, names: list[str], day: dt.date, days_back: int, database: str = ANALYTICS_DATABASE
) -> pd.DataFrame:
    """The metrics ``names`` in total per day (columns event_date + names) from metrics_daily."""
    frame = client.query_df(
        f"SELECT event_date, metric, value FROM {identifier(database)}.metrics_daily "
        "WHERE dimension = 'total' AND metric IN {names:Array(String)} "
        "AND event_date BETWEEN {first:Date} AND {day:Date} ORDER BY event_date",
        parameters={"names": names, "first": day - dt.timedelta(days=days_back), "day": day},
    )
    if frame.empty:
        return pd.DataFrame(columns=["event_date", *names])
    wide = frame.pivot_table(index="event_date", columns="metric", values="value", aggfunc="first")
    return wide.reindex(columns=names).reset_index().rename_axis(columns=None)


def load_feed_series(
    client, day: dt.date, days_back: int = 7, database: str = ANALYTICS_DATABASE, metrics: Metrics | None = None
) -> DailySeries:
    """The feed report's metrics (total) for day−days_back … day; the day itself must be there."""
    names = [m.name for m in (metrics or definitions()).in_report("feed")]
    frame = load_metrics(client, names, day, days_back, database)
    return _series(frame, day, f"{database}.metrics_daily")


def load_app_series(
    client, day: dt.date, days_back: int = 30, database: str = ANALYTICS_DATABASE, metrics: Metrics | None = None
) -> DailySeries:
    """The app report's metrics (total) and its audience slices for day−days_back … day; the day must be there."""
    names = [m.name for m in (metrics or definitions()).in_report("app")]
    frame = load_metrics(client, names, day, days_back, database)
    series = _series(frame, day, f"{database}.metrics_daily")
    slices = client.query_df(
        f"SELECT event_date, {', '.join(APP_SLICE_COLUMNS)} FROM {identifier(database)}.app_daily_metrics "
        "WHERE event_date BETWEEN {first:Date} AND {day:Date} ORDER BY event_date",
        parameters={"first": day - dt.timedelta(days=days_back), "day": day},
    )
    slices = _series(slices, day, f"{database}.app_daily_metrics").frame
    return DailySeries(day=day, frame=series.frame.join(slices, how="left"))


def _series(frame: pd.DataFrame, day: dt.date, table: str) -> DailySeries:
    if frame.empty or "event_date" not in frame.columns:
        raise ReportDataMissing(f"no data for {day} in {table}: the daily ETL has not run for that day")
    frame = frame.copy()
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    frame = frame.set_index("event_date")
    if day not in frame.index:
        raise ReportDataMissing(f"no data for {day} in {table}: the daily ETL has not run for that day")
    return DailySeries(day=day, frame=frame)


def relative_change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return current / previous - 1


@dataclass(frozen=True)
class WholePeriod:
    """The product's life up to a day, for the app report (marts retention_daily, audience_lifecycle)."""

    first_day: dt.date  # the first day of the history
    users_ever: int  # users with an own event on or before the day
    week_active: int  # the seven days ending the day (= new + retained + returning)
    week_new: int
    week_retained: int
    week_returning: int
    week_gone: int  # active in the seven days before, not in this week
    retention_d1: float | None  # the cohort of the day before: share active on the day
    retention_d7: float | None  # the cohort of seven days before


def load_whole_period(client, day: dt.date, database: str = ANALYTICS_DATABASE) -> WholePeriod | None:
    """None when the marts do not hold the day (an install that has not built them for it yet)."""
    db = identifier(database)
    if not all(table_exists(client, database, t) for t in ("audience_lifecycle", "retention_daily")):
        return None
    week = client.query(
        "SELECT new_users, retained_users, returning_users, gone_users, active_users "
        f"FROM {db}.audience_lifecycle WHERE event_date = {{day:Date}}",
        parameters={"day": day},
    ).result_rows
    cohorts = client.query(
        "SELECT min(event_date), sumIf(users, day_number = 0), "
        " sumIf(users, cohort_date = {day:Date} - 1 AND day_number = 0),"
        " sumIf(users, cohort_date = {day:Date} - 1 AND day_number = 1),"
        " sumIf(users, cohort_date = {day:Date} - 7 AND day_number = 0),"
        " sumIf(users, cohort_date = {day:Date} - 7 AND day_number = 7),"
        " countIf(event_date = {day:Date}) "
        f"FROM {db}.retention_daily WHERE event_date <= {{day:Date}}",
        parameters={"day": day},
    ).result_rows
    if not week or not cohorts or not cohorts[0][6]:
        return None
    new, retained, returning, gone, active = (int(v) for v in week[0])
    first_day, users_ever, d1_size, d1_back, d7_size, d7_back, _ = cohorts[0]
    return WholePeriod(
        first_day=first_day,
        users_ever=int(users_ever),
        week_active=active,
        week_new=new,
        week_retained=retained,
        week_returning=returning,
        week_gone=gone,
        retention_d1=d1_back / d1_size if d1_size else None,
        retention_d7=d7_back / d7_size if d7_size else None,
    )
