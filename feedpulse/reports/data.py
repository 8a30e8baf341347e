"""Report figures read from the ETL marts (feed_daily_metrics, app_daily_metrics).

Queries are parameterized; the database names are validated identifiers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from feedpulse.identifiers import check_identifier

ANALYTICS_DATABASE = "analytics"

FEED_COLUMNS = ["dau", "views", "likes", "ctr"]
APP_COLUMNS = [
    "app_dau",
    "app_dau_ios",
    "app_dau_android",
    "feed_only_users",
    "messenger_only_users",
    "both_users",
    "new_users",
    "new_users_ads",
    "new_users_organic",
    "feed_dau",
    "views",
    "likes",
    "ctr",
    "likes_per_user",
    "messenger_dau",
    "messages",
    "messages_per_user",
]


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


def load_feed_series(client, day: dt.date, days_back: int = 7, database: str = ANALYTICS_DATABASE) -> DailySeries:
    """feed_daily_metrics (all users) for day−days_back … day; the day itself must be there."""
    frame = client.query_df(
        f"SELECT event_date, dau, views, likes, ctr FROM {identifier(database)}.feed_daily_metrics "
        "WHERE os = 'all' AND event_date BETWEEN {first:Date} AND {day:Date} ORDER BY event_date",
        parameters={"first": day - dt.timedelta(days=days_back), "day": day},
    )
    return _series(frame, day, f"{database}.feed_daily_metrics")


def load_app_series(client, day: dt.date, days_back: int = 30, database: str = ANALYTICS_DATABASE) -> DailySeries:
    """app_daily_metrics for day−days_back … day; the day itself must be there."""
    frame = client.query_df(
        f"SELECT event_date, {', '.join(APP_COLUMNS)} FROM {identifier(database)}.app_daily_metrics "
        "WHERE event_date BETWEEN {first:Date} AND {day:Date} ORDER BY event_date",
        parameters={"first": day - dt.timedelta(days=days_back), "day": day},
    )
    return _series(frame, day, f"{database}.app_daily_metrics")


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
