"""The daily ETL end to end: simulated events → Dagster-partitioned dbt build → test.daily_slice_metrics.

Checks what a user of the table relies on: it equals an independent computation (pandas, from
the raw events) of the original definition; a partition materialized twice, a 7-day single-run
backfill and a re-run of one day leave identical rows; bad raw rows are left out and reported.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from tests.conftest import DATA_TODAY

pytestmark = [pytest.mark.integration, pytest.mark.dbt]

SOURCE_DB = "etl_sim"
FIRST_DAY = DATA_TODAY - dt.timedelta(days=20)
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(7)]
BAD_DAY = DAYS[2]
AGE_BUCKETS = [(0, 17, "0-17"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54")]


@pytest.fixture(scope="module")
def simulated(ch_client):
    from feedpulse.simulator import simulate

    # A fresh install: an earlier module's ETL tables (another source's users) must not leak into these days.
    for database in ("analytics", "test"):
        ch_client.command(f"DROP DATABASE IF EXISTS {database}")
    simulate(ch_client, start=FIRST_DAY, days=len(DAYS), scale=0.03, seed=11, database=SOURCE_DB)
    # Bad rows on one day: user 0, an unknown action, an unknown os, an impossible age.
    ch_client.command(
        f"INSERT INTO {SOURCE_DB}.feed_actions (user_id, post_id, action, time, gender, age, country, city, os, "
        "source, exp_group) VALUES "
        f"(0, 1, 'view', '{BAD_DAY} 10:00:00', 0, 30, 'Russia', 'Moscow', 'iOS', 'ads', 1),"
        f"(5, 1, 'share', '{BAD_DAY} 10:00:00', 0, 30, 'Russia', 'Moscow', 'iOS', 'ads', 1),"
        f"(5, 1, 'view', '{BAD_DAY} 10:00:00', 0, 30, 'Russia', 'Moscow', 'Symbian', 'ads', 1),"
        f"(5, 1, 'view', '{BAD_DAY} 10:00:00', 0, 300, 'Russia', 'Moscow', 'iOS', 'ads', 1)"
    )
    return ch_client


@pytest.fixture(scope="module")
def etl(simulated):
    from orchestration.dbt import daily_etl_assets
    from orchestration.definitions import defs

    instance = DagsterInstance.ephemeral()
    resources = {"dbt": defs.resources["dbt"], "clickhouse": defs.resources["clickhouse"]}
    run_config = {"ops": {"daily_etl": {"config": {"source_database": SOURCE_DB}}}}

    def run(first: dt.date, last: dt.date | None = None):
        tags = {}
        partition_key = None
        if last is None:
            partition_key = first.isoformat()
        else:
            tags = {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
        result = materialize(
            [daily_etl_assets],
            partition_key=partition_key,
            tags=tags,
            resources=resources,
            run_config=run_config,
            instance=instance,
        )
        assert result.success
        return result

    return run


def snapshot(client) -> pd.DataFrame:
    days = ", ".join(f"'{d}'" for d in DAYS)
    frame = client.query_df(
        "SELECT event_date, dimension, dimension_value, views, likes, messages_received, messages_sent, "
        f"users_received, users_sent FROM test.daily_slice_metrics WHERE event_date IN ({days}) "
        "ORDER BY event_date, dimension, dimension_value"
    )
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame.reset_index(drop=True)


def age_bucket(age: float) -> str:
    if pd.isna(age):
        return "unknown"
    for low, high, label in AGE_BUCKETS:
        if low <= age <= high:
            return label
    return "55+" if age >= 55 else "unknown"


def independent_slices(client) -> pd.DataFrame:
    """The original task's definition, computed in pandas straight from the raw events."""
    window = {"first": DAYS[0], "last": DAYS[-1]}
    valid = "user_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120"
    feed = client.query_df(
        f"SELECT toDate(time) AS event_date, user_id, action, time, os, gender, age FROM {SOURCE_DB}.feed_actions "
        f"WHERE toDate(time) BETWEEN {{first:Date}} AND {{last:Date}} AND {valid} AND action IN ('view', 'like')",
        parameters=window,
    )
    messages = client.query_df(
        f"SELECT toDate(time) AS event_date, user_id, reciever_id, time, os, gender, age "
        f"FROM {SOURCE_DB}.message_actions WHERE toDate(time) BETWEEN {{first:Date}} AND {{last:Date}} AND {valid} "
        "AND reciever_id != 0",
        parameters=window,
    )
    acts = pd.concat(
        [feed[["user_id", "time", "os", "gender", "age"]], messages[["user_id", "time", "os", "gender", "age"]]]
    )
    # Attributes as of each day: the user's latest own event up to the end of that day (the data
    # starts on the window's first day); in one second, each attribute's greatest value.
    per_second = acts.groupby(["user_id", "time"]).max().reset_index()

    per_feed = feed.groupby(["event_date", "user_id"]).agg(
        views=("action", lambda a: int((a == "view").sum())), likes=("action", lambda a: int((a == "like").sum()))
    )
    sent = messages.groupby(["event_date", "user_id"]).agg(
        messages_sent=("reciever_id", "size"), users_sent=("reciever_id", "nunique")
    )
    received = (
        messages.rename(columns={"user_id": "sender", "reciever_id": "user_id"})
        .groupby(["event_date", "user_id"])
        .agg(messages_received=("sender", "size"), users_received=("sender", "nunique"))
    )
    users = per_feed.join(sent, how="outer").join(received, how="outer").fillna(0).reset_index()
    users["day_end"] = (pd.to_datetime(users["event_date"]) + pd.Timedelta(days=1)).astype("datetime64[s]")
    users = pd.merge_asof(
        users.sort_values("day_end"),
        per_second.assign(
            time=pd.to_datetime(per_second["time"]).dt.tz_localize(None).astype("datetime64[s]")
        ).sort_values("time"),
        left_on="day_end",
        right_on="time",
        by="user_id",
        allow_exact_matches=False,
    )
    users["os"] = users["os"].fillna("unknown")
    users["gender"] = users["gender"].map(lambda g: "unknown" if pd.isna(g) else str(int(g)))
    users["age"] = users["age"].map(age_bucket)

    metrics = ["views", "likes", "messages_received", "messages_sent", "users_received", "users_sent"]
    parts = []
    for dimension in ("os", "gender", "age"):
        part = users.groupby(["event_date", dimension])[metrics].sum().reset_index()
        part = part.rename(columns={dimension: "dimension_value"}).assign(dimension=dimension)
        parts.append(part)
    frame = pd.concat(parts)[["event_date", "dimension", "dimension_value", *metrics]]
    frame[metrics] = frame[metrics].astype("uint64")
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame.sort_values(["event_date", "dimension", "dimension_value"]).reset_index(drop=True)


def test_backfill_rerun_and_independent_check(etl, simulated):
    result = etl(DAYS[0], DAYS[-1])  # a 7-day backfill as one run, one dbt invocation
    after_backfill = snapshot(simulated)
    assert set(after_backfill["event_date"]) == set(DAYS)
    assert set(after_backfill["dimension"]) == {"os", "gender", "age"}

    expected = independent_slices(simulated)
    pd.testing.assert_frame_equal(after_backfill, expected, check_dtype=False)

    # Bad rows: the run succeeded, staging left them out, and the count is reported.
    rejected = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == AssetKey(["analytics", "stg_rejected_events"])
    ]
    assert rejected and rejected[0].materialization.metadata["rejected_rows"].value == 4

    etl(DAYS[3])  # re-run one day
    pd.testing.assert_frame_equal(snapshot(simulated), after_backfill)
    etl(DAYS[3])  # and materialize the same partition again
    pd.testing.assert_frame_equal(snapshot(simulated), after_backfill)


def test_late_event_rerun_fixes_the_day(etl, simulated):
    day = DAYS[5]
    before = snapshot(simulated)
    simulated.command(
        f"INSERT INTO {SOURCE_DB}.feed_actions SELECT user_id, post_id, 'view', time, gender, age, country, city, os, "
        f"source, exp_group FROM {SOURCE_DB}.feed_actions WHERE toDate(time) = {{d:Date}} AND os = 'iOS' LIMIT 10",
        parameters={"d": day},
    )
    etl(day)
    after = snapshot(simulated)
    other_days = after["event_date"] != day
    pd.testing.assert_frame_equal(
        after[other_days].reset_index(drop=True), before[before["event_date"] != day].reset_index(drop=True)
    )
    ios = after[(after["event_date"] == day) & (after["dimension_value"] == "iOS")]["views"].iloc[0]
    ios_before = before[(before["event_date"] == day) & (before["dimension_value"] == "iOS")]["views"].iloc[0]
    assert ios == ios_before + 10
    pd.testing.assert_frame_equal(after, independent_slices(simulated), check_dtype=False)
