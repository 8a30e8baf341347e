"""feedpulse's daily ETL vs the original pandas approach, on the same simulated data.

The original projects pulled per-user rows out of ClickHouse into pandas (pandahouse), merged
them, grouped three times and inserted the result. `pandas_day()` re-implements that faithfully
with clickhouse-connect — per-user feed metrics, per-user sent and received messages, the users'
attributes, an outer merge, groupbys by os / gender / age bucket, insert — and its output is
checked equal to feedpulse's `test.daily_slice_metrics` for the day. Each side runs in its own
process, so wall time and peak RSS are those of that process (the ClickHouse server is shared).

    .venv/bin/python bench/compare_pandas.py [--scales 1,10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DBT, PROJECT, private_endpoint, timed_child

console = Console(width=160)
RESULT_TABLE = "bench_pandas.daily_slice_metrics"
AGE_BINS = [-1, 17, 24, 34, 44, 54, 200]
AGE_LABELS = ["0-17", "18-24", "25-34", "35-44", "45-54", "55+"]
METRICS = ["views", "likes", "messages_received", "messages_sent", "users_received", "users_sent"]


def pandas_day(client, database: str, day: dt.date, history_start: dt.date) -> pd.DataFrame:
    """The original approach: per-user rows into pandas, merge, three groupbys, insert."""
    params = {"day": day, "first": history_start}
    valid = "user_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120"
    feed = client.query_df(
        f"SELECT user_id, countIf(action = 'view') AS views, countIf(action = 'like') AS likes "
        f"FROM {database}.feed_actions WHERE toDate(time) = {{day:Date}} AND {valid} "
        "AND action IN ('view', 'like') GROUP BY user_id",
        parameters=params,
    )
    sent = client.query_df(
        f"SELECT user_id, count() AS messages_sent, uniqExact(reciever_id) AS users_sent "
        f"FROM {database}.message_actions WHERE toDate(time) = {{day:Date}} AND {valid} AND reciever_id != 0 "
        "GROUP BY user_id",
        parameters=params,
    )
    # Not `reciever_id AS user_id`: in ClickHouse the alias would also replace user_id inside uniqExact().
    received = client.query_df(
        f"SELECT reciever_id AS receiver, count() AS messages_received, uniqExact(user_id) AS users_received "
        f"FROM {database}.message_actions WHERE toDate(time) = {{day:Date}} AND {valid} AND reciever_id != 0 "
        "GROUP BY receiver",
        parameters=params,
    ).rename(columns={"receiver": "user_id"})
    users = feed.merge(sent, on="user_id", how="outer").merge(received, on="user_id", how="outer")
    users[METRICS] = users[METRICS].fillna(0).astype("int64")
    # Attributes of the day's users (latest known over the processed history), as a lookup table.
    attributes = client.query_df(
        "SELECT user_id, argMax(gender, time) AS gender, argMax(age, time) AS age, argMax(os, time) AS os FROM ("
        f"  SELECT user_id, time, gender, age, os FROM {database}.feed_actions"
        f"  WHERE toDate(time) BETWEEN {{first:Date}} AND {{day:Date}} AND {valid}"
        "   UNION ALL"
        f"  SELECT user_id, time, gender, age, os FROM {database}.message_actions"
        f"  WHERE toDate(time) BETWEEN {{first:Date}} AND {{day:Date}} AND {valid} AND reciever_id != 0"
        ") GROUP BY user_id",
        parameters=params,
    )
    users = users.merge(attributes, on="user_id", how="left")
    users["os"] = users["os"].fillna("unknown")
    users["gender"] = users["gender"].map(lambda g: "unknown" if pd.isna(g) else str(int(g)))
    users["age"] = pd.cut(users["age"], bins=AGE_BINS, labels=AGE_LABELS).astype(object).fillna("unknown")

    parts = []
    for dimension in ("os", "gender", "age"):
        part = users.groupby(dimension, as_index=False)[METRICS].sum()
        parts.append(part.rename(columns={dimension: "dimension_value"}).assign(dimension=dimension))
    result = pd.concat(parts, ignore_index=True).assign(event_date=day)
    result = result[["event_date", "dimension", "dimension_value", *METRICS]]
    result[METRICS] = result[METRICS].astype(np.uint64)
    client.command(
        f"ALTER TABLE {RESULT_TABLE} DELETE WHERE event_date = {{day:Date}}",
        parameters=params,
        settings={"mutations_sync": 2},
    )
    client.insert_df(RESULT_TABLE, result)
    return result


def child_main(args: argparse.Namespace) -> None:
    """One timed run of the pandas approach in this process; prints JSON {wall, rss_mb}."""
    from feedpulse.clickhouse import get_client

    client = get_client()
    start = time.perf_counter()
    pandas_day(client, args.database, dt.date.fromisoformat(args.day), dt.date.fromisoformat(args.first))
    wall = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mb": rss_mb}))


def bench_scale(scale: float, repeat: int) -> dict[str, float]:
    from feedpulse.simulator import simulate

    day = dt.date.today() - dt.timedelta(days=1)
    first = day - dt.timedelta(days=6)
    with private_endpoint() as bench:
        client = bench.client
        console.print(f"[scale {scale:g}] simulating {first}..{day}")
        simulate(client, start=first, days=7, scale=scale, seed=42, database=bench.database)
        events = int(client.command(f"SELECT count() FROM {bench.database}.feed_actions WHERE toDate(time) = '{day}'"))
        bench.dbt_run(first, day)  # the history before the measured day
        client.command("CREATE DATABASE IF NOT EXISTS bench_pandas")
        client.command(f"CREATE TABLE IF NOT EXISTS {RESULT_TABLE} AS test.daily_slice_metrics")

        variables = {
            "start_date": day.isoformat(),
            "end_date": (day + dt.timedelta(days=1)).isoformat(),
            "source_database": bench.database,
        }
        dbt_cmd = [
            DBT,
            "run",
            "--quiet",
            "--exclude",
            "metrics_15min",  # the daily ETL only (metrics_15min is refreshed apart, as in Dagster)
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(bench.target),
            "--vars",
            json.dumps(variables),
        ]
        pandas_cmd = [
            sys.executable,
            __file__,
            "--child",
            "--database",
            bench.database,
            "--day",
            day.isoformat(),
            "--first",
            first.isoformat(),
        ]
        env = {**bench.env, "DBT_LOG_PATH": str(bench.home / "dbt-logs")}
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(timed_child(dbt_cmd, env)[:2])
            wall, rss, out = timed_child(pandas_cmd, env)
            inner = json.loads(out.strip().splitlines()[-1])
            theirs.append((inner["wall"], rss, wall))
        check_equal(client, day)
    return {
        "events": events,
        "ours_wall": statistics.median(w for w, _ in ours),
        "ours_rss": max(r for _, r in ours),
        "pandas_wall": statistics.median(w for w, _, _ in theirs),
        "pandas_rss": max(r for _, r, _ in theirs),
        "pandas_process_wall": statistics.median(p for _, _, p in theirs),
    }


def check_equal(client, day: dt.date) -> None:
    query = (
        "SELECT dimension, dimension_value, views, likes, messages_received, messages_sent, users_received, "
        "users_sent FROM {table} WHERE event_date = {day:Date} ORDER BY dimension, dimension_value"
    )
    ours = client.query(query.replace("{table}", "test.daily_slice_metrics"), parameters={"day": day}).result_rows
    theirs = client.query(query.replace("{table}", RESULT_TABLE), parameters={"day": day}).result_rows
    if ours != theirs:
        raise AssertionError(f"outputs differ for {day}:\nfeedpulse: {ours}\npandas:    {theirs}")
    console.print(f"  outputs equal for {day}: {len(ours)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    results = {float(s): bench_scale(float(s), args.repeat) for s in args.scales.split(",")}
    table = Table(
        title=f"one day of the daily ETL: feedpulse (dbt run) vs the pandas approach, median of {args.repeat}"
    )
    for column in [
        "scale",
        "feed events/day",
        "feedpulse wall",
        "feedpulse peak RSS",
        "pandas wall",
        "pandas peak RSS",
        "pandas / feedpulse",
    ]:
        table.add_column(column, justify="right")
    for scale, r in results.items():
        table.add_row(
            f"{scale:g}",
            f"{r['events']:,}",
            f"{r['ours_wall']:.1f} s",
            f"{r['ours_rss']:.0f} MB",
            f"{r['pandas_wall']:.1f} s",
            f"{r['pandas_rss']:.0f} MB",
            f"{r['pandas_wall'] / r['ours_wall']:.2f}×",
        )
    console.print(table)


if __name__ == "__main__":
    main()
