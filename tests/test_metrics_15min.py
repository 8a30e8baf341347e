"""metrics_15min, the dbt model behind the anomaly alerts (issue 16): one rule for bad rows with the
daily ETL, the same slice labels as the Python readers of the raw events, and clear errors.

Simulated days with bad raw rows injected on one day go through the daily ETL (dbt) and the
metrics_15min model; a day's 15-minute buckets must sum to the day's marts exactly.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "m15_sim"
FIRST_DAY = dt.date(2026, 9, 7)
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(3)]
BAD_DAY = DAYS[1]
ALL_SLICES = "total,os,source,gender,age,exp_group"


@pytest.fixture(scope="module")
def built(ch_client, dbt_cli):
    from feedpulse.simulator import simulate

    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")
    simulate(ch_client, start=FIRST_DAY, days=len(DAYS), scale=0.02, seed=16, database=SOURCE_DB)
    # Bad rows on one day, in both tables: user 0, an unknown action, an unknown os, an impossible age.
    ch_client.command(
        f"INSERT INTO {SOURCE_DB}.feed_actions (user_id, post_id, action, time, gender, age, country, city, os, "
        "source, exp_group) VALUES "
        f"(0, 1, 'view', '{BAD_DAY} 10:00:00', 0, 30, 'Russia', 'Moscow', 'iOS', 'ads', 1),"
        f"(5, 1, 'share', '{BAD_DAY} 10:01:00', 0, 30, 'Russia', 'Moscow', 'iOS', 'ads', 1),"
        f"(5, 1, 'like', '{BAD_DAY} 10:02:00', 0, 30, 'Russia', 'Moscow', 'Symbian', 'ads', 1),"
        f"(5, 1, 'view', '{BAD_DAY} 10:03:00', 0, 300, 'Russia', 'Moscow', 'iOS', 'ads', 1)"
    )
    ch_client.command(
        f"INSERT INTO {SOURCE_DB}.message_actions (user_id, reciever_id, time, source, exp_group, gender, age, "
        "country, city, os) VALUES "
        f"(0, 7, '{BAD_DAY} 11:00:00', 'ads', 1, 0, 30, 'Russia', 'Moscow', 'iOS'),"
        f"(7, 0, '{BAD_DAY} 11:01:00', 'ads', 1, 0, 30, 'Russia', 'Moscow', 'iOS'),"
        f"(7, 8, '{BAD_DAY} 11:02:00', 'ads', 1, 0, 30, 'Russia', 'Moscow', 'Symbian')"
    )
    window = {"start_date": DAYS[0].isoformat(), "end_date": (DAYS[-1] + dt.timedelta(days=1)).isoformat()}
    dbt_cli({**window, "source_database": SOURCE_DB})
    dbt_cli({**window, "source_database": SOURCE_DB, "alert_slices": ALL_SLICES}, "--select", "metrics_15min")
    yield ch_client
    for database in ("analytics", "test", SOURCE_DB):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")


def test_a_days_buckets_sum_to_its_marts_with_bad_rows_left_out(built):
    raw_views = built.command(
        f"SELECT countIf(action = 'view') FROM {SOURCE_DB}.feed_actions WHERE toDate(time) = {{d:Date}}",
        parameters={"d": BAD_DAY},
    )
    for day in DAYS:
        buckets = built.query(
            "SELECT sum(views), sum(likes), sum(messages) FROM analytics.metrics_15min "
            "WHERE slice = 'total' AND toDate(bucket) = {d:Date}",
            parameters={"d": day},
        ).result_rows[0]
        marts = built.query(
            "SELECT views, likes, messages FROM analytics.app_daily_metrics WHERE event_date = {d:Date}",
            parameters={"d": day},
        ).result_rows[0]
        assert tuple(buckets) == tuple(marts), day
        feed = built.query(
            "SELECT views, likes FROM analytics.feed_daily_metrics WHERE event_date = {d:Date} AND os = 'all'",
            parameters={"d": day},
        ).result_rows[0]
        assert tuple(buckets[:2]) == tuple(feed), day
        if day == BAD_DAY:
            assert int(raw_views) == buckets[0] + 2  # the two bad views (user 0, age 300) are in the raw table only


def test_reports_and_dashboard_show_the_marts_numbers_with_bad_rows_left_out(built):
    """The metric layer's consistency on the day with bad rows: the reports', the dashboard's and the
    experiments' numbers are the marts' (and so the 15-minute buckets' sums, above)."""
    from feedpulse.reports import dashboard
    from feedpulse.reports.builders import app_report, feed_report
    from feedpulse.reports.data import load_app_series, load_feed_series

    feed_mart = built.query(
        "SELECT dau, views, likes, ctr FROM analytics.feed_daily_metrics WHERE event_date = {d:Date} AND os = 'all'",
        parameters={"d": BAD_DAY},
    ).result_rows[0]
    app_mart = built.query(
        "SELECT app_dau, feed_dau, views, likes, ctr, messenger_dau, messages FROM analytics.app_daily_metrics "
        "WHERE event_date = {d:Date}",
        parameters={"d": BAD_DAY},
    ).result_rows[0]
    feed = feed_report(load_feed_series(built, BAD_DAY)).numbers
    assert (feed["feed_users"], feed["views"], feed["likes"], feed["ctr"]) == tuple(feed_mart)
    app = app_report(load_app_series(built, BAD_DAY)).numbers
    keys = ("app_users", "feed_users", "views", "likes", "ctr", "messenger_users", "messages")
    assert tuple(app[k] for k in keys) == tuple(app_mart)
    data = dashboard.load(built, now=dt.datetime.combine(BAD_DAY, dt.time(12)))
    day = data.metrics[pd.to_datetime(data.metrics["event_date"]).dt.date == BAD_DAY].iloc[0]
    assert (day["views"], day["likes"], day["ctr"], day["app_users"]) == (
        app_mart[2],
        app_mart[3],
        app_mart[4],
        app_mart[0],
    )
    active = data.active[pd.to_datetime(data.active["day"]).dt.date == BAD_DAY].iloc[0]
    assert active["dau"] == app_mart[0]

    # the experiments' per-user aggregates (every group): their users, views and likes are the marts'
    from feedpulse.experiments.data import load_from_db

    groups = [row[0] for row in built.query(f"SELECT DISTINCT exp_group FROM {SOURCE_DB}.feed_actions").result_rows]
    users = load_from_db(built, BAD_DAY, BAD_DAY, groups)
    assert (users["user_id"].nunique(), users["views"].sum(), users["likes"].sum()) == app_mart[1:4]


def test_slice_labels_and_values_equal_the_python_reader(built):
    """The root-cause explainer and the evaluation harness read the raw events with
    feedpulse.alerts.series' slice expressions: on a day without bad rows, the same table."""
    from feedpulse.alerts import metrics_table
    from feedpulse.alerts.series import load_series

    day = DAYS[0]
    start, end = dt.datetime.combine(day, dt.time()), dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    slices = ALL_SLICES.split(",")
    python = load_series(built, start, end, database=SOURCE_DB, slices=slices)
    model = metrics_table.load(built, start=start, end=end)
    assert sorted(set(model.index.get_level_values("slice"))) == sorted(set(python.index.get_level_values("slice")))
    assert {"total", "os:iOS", "source:ads", "gender:1", "age:18-24", "exp_group:2"} <= set(
        model.index.get_level_values("slice")
    )
    columns = ["feed_users", "views", "likes", "messenger_users", "messages"]
    joined = python[columns].join(model[columns], rsuffix="_model", how="outer").fillna(0)
    for column in columns:
        pd.testing.assert_series_equal(
            joined[column].astype("int64"), joined[f"{column}_model"].astype("int64"), check_names=False
        )


def test_an_unknown_slice_dimension_is_named(built, dbt_cli):
    window = {"start_date": DAYS[0].isoformat(), "end_date": DAYS[1].isoformat(), "source_database": SOURCE_DB}
    result = dbt_cli({**window, "alert_slices": "total,device"}, "--select", "metrics_15min", check=False)
    assert result.returncode != 0
    assert "unknown dimension 'device'" in result.stdout
