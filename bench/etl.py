"""Benchmark of the daily ETL (dbt run of one partition) on simulated data.

For each scale: wall time of one day's `dbt run` and the ClickHouse time inside it, a 7-day
single-run backfill, and one day's cost with 7 vs 60 days of history (source tables and
processed ETL tables both holding that history). The two histories live in two private local
endpoints (own FEEDPULSE_HOME and port each, nothing of the demo's data is touched) that are
alive at the same time; the one-day runs alternate between them, so the ratio is not biased by
the shared machine drifting between two measurement phases. dbt's per-model times are printed too.

Beside the dbt day, the engine's lower bound for that day: one fused SELECT computing the final
os/gender/age table straight from the day's raw events with the same point-in-time rule, as on
data with one day of history (every user's attributes come from that day's own events, receivers
without one are `unknown`) — the least work the engine can do for the table — and the ratios of
the dbt day to it (engine time and wall time), measured in the same run, alternating. The dbt day
is measured twice: the whole daily ETL (the final table and every other mart: reports' marts, the
metric layer's metrics_daily, retention, lifecycle, DAU/WAU/MAU), and the final table's path alone
(`--select +daily_slice_metrics`: the same work the fused query does) — the bound compares with the latter.
Also beside them, the materialized bound: the least work of a design that keeps a per-user day
table (MATERIALIZED_INSERT, then MATERIALIZED_SELECT over it), and its ratio to the fused query.
And dbt's own floor, which no SQL change moves: `dbt ls` of the path (the process start, the manifest,
the selection; no query) and the path run on a day without events (every model's statements —
dbt-clickhouse's metadata queries, the partition swap — on no rows), with the statements counted.

    flock /tmp/feedpulse-bench.lock .venv/bin/python bench/etl.py [--scales 1,10] [--history 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FINAL_TABLE_PATH, Measure, private_endpoint, wait_for_merges

console = Console(width=160)


def right_aligned(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    """A table of numbers: every column right-aligned."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


# The final table for one day from the raw events alone, in one statement: per user the day's feed
# and message counts and the attributes of their latest own event of the day (in one second, each
# attribute's greatest value, with the Tuple-free keys of dbt_project/macros/latest_value.sql);
# receive-only users `unknown`. Validity as staging's.
FUSED_QUERY = """
WITH
    feed AS (
        SELECT user_id, action, time, gender, age, os FROM {db}.feed_actions
        WHERE time >= toDateTime({{day:Date}}) AND time < toDateTime({{day:Date}} + 1)
          AND user_id != 0 AND action IN ('view', 'like') AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    messages AS (
        SELECT user_id AS sender, reciever_id AS receiver, time, gender, age, os FROM {db}.message_actions
        WHERE time >= toDateTime({{day:Date}}) AND time < toDateTime({{day:Date}} + 1)
          AND user_id != 0 AND reciever_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    sides AS (
        SELECT user_id, countIf(action = 'view') AS views, countIf(action = 'like') AS likes, 0 AS received,
               0 AS sent, 0 AS from_users, 0 AS to_users, max(time) AS at,
               argMax(os, concat(leftPad(hex(toUInt32(time)), 8, '0'), os)) AS os,
               argMax(gender, toInt64(toUInt32(time)) * 65536 + toInt64(gender) + 32768) AS gender,
               argMax(age, toInt64(toUInt32(time)) * 65536 + toInt64(age) + 32768) AS age
        FROM feed GROUP BY user_id
        UNION ALL
        SELECT sender, 0, 0, 0, count(), 0, uniqExact(receiver), max(time),
               argMax(os, concat(leftPad(hex(toUInt32(time)), 8, '0'), os)),
               argMax(gender, toInt64(toUInt32(time)) * 65536 + toInt64(gender) + 32768),
               argMax(age, toInt64(toUInt32(time)) * 65536 + toInt64(age) + 32768)
        FROM messages GROUP BY sender
        UNION ALL
        SELECT receiver, 0, 0, count(), 0, uniqExact(sender), 0, toDateTime(0), '', 0, 0
        FROM messages GROUP BY receiver
    ),
    users AS (
        SELECT user_id, sum(views) AS views, sum(likes) AS likes, sum(received) AS received, sum(sent) AS sent,
               sum(from_users) AS from_users, sum(to_users) AS to_users, max(at) AS last_at,
               argMax(os, concat(leftPad(hex(toUInt32(at)), 8, '0'), os)) AS last_os,
               argMax(gender, toInt64(toUInt32(at)) * 65536 + toInt64(gender) + 32768) AS last_gender,
               argMax(age, toInt64(toUInt32(at)) * 65536 + toInt64(age) + 32768) AS last_age
        FROM sides GROUP BY user_id
    )
SELECT {{day:Date}} AS event_date, dimension, value AS dimension_value, sum(views), sum(likes), sum(received),
       sum(sent), sum(from_users), sum(to_users)
FROM users
ARRAY JOIN ['os', 'gender', 'age'] AS dimension,
           [if(last_at = 0, 'unknown', last_os), if(last_at = 0, 'unknown', toString(last_gender)),
            multiIf(last_at = 0, 'unknown', last_age <= 17, '0-17', last_age <= 24, '18-24', last_age <= 34, '25-34',
                    last_age <= 44, '35-44', last_age <= 54, '45-54', '55+')] AS value
GROUP BY dimension, value
"""


# The least work of a design that keeps a per-user day table (as user_daily, which other marts and
# experiments read): one INSERT … SELECT writing per user the day's metric columns and the seven
# attributes of their latest own event of the day (feed actions and sent messages; the latest-value
# keys of dbt_project/macros/latest_value.sql, and int_feed_user_daily's two stages: per attribute
# combination, then per user), then one SELECT aggregating
# that table to the final os/gender/age table. Same point-in-time rule as FUSED_QUERY (one day of
# history: receive-only users `unknown`); its final table equals the fused query's.
def _latest(value: str, time: str, kind: str = "string") -> str:
    if kind == "string":
        return f"argMax({value}, concat(leftPad(hex(toUInt32({time})), 8, '0'), {value}))"
    return f"argMax({value}, toInt64(toUInt32({time})) * 65536 + toInt64({value}) + 32768)"


_ATTRIBUTES = {"gender": "int", "age": "int", "country": "string", "city": "string", "os": "string",
               "source": "string", "exp_group": "int"}  # fmt: skip
MATERIALIZED_TABLE = "materialized_bound_user_day"
MATERIALIZED_CREATE = f"""
CREATE TABLE IF NOT EXISTS {{db}}.{MATERIALIZED_TABLE} (
    event_date Date, user_id UInt32, views UInt64, likes UInt64, received UInt64, sent UInt64,
    from_users UInt64, to_users UInt64, last_at DateTime, gender Int8, age Int16,
    country LowCardinality(String), city LowCardinality(String), os LowCardinality(String),
    source LowCardinality(String), exp_group Int8
) ENGINE = MergeTree PARTITION BY event_date ORDER BY user_id
"""
_ATTRIBUTE_LIST = ", ".join(_ATTRIBUTES)
_COMBO_ATTRIBUTES = ", ".join(f"{_latest(a, 'last_time', k)} AS {a}" for a, k in _ATTRIBUTES.items())
_SIDE_ATTRIBUTES = ", ".join(f"{_latest(a, 'time', k)} AS {a}" for a, k in _ATTRIBUTES.items())
_USER_ATTRIBUTES = ", ".join(f"{_latest(a, 'at', k)} AS {a}" for a, k in _ATTRIBUTES.items())
MATERIALIZED_INSERT = f"""
INSERT INTO {{db}}.{MATERIALIZED_TABLE}
WITH
    feed AS (
        SELECT user_id, action, time, gender, age, country, city, os, source, exp_group FROM {{db}}.feed_actions
        WHERE time >= toDateTime({{{{day:Date}}}}) AND time < toDateTime({{{{day:Date}}}} + 1)
          AND user_id != 0 AND action IN ('view', 'like') AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    messages AS (
        SELECT user_id AS sender, reciever_id AS receiver, time, gender, age, country, city, os, source, exp_group
        FROM {{db}}.message_actions
        WHERE time >= toDateTime({{{{day:Date}}}}) AND time < toDateTime({{{{day:Date}}}} + 1)
          AND user_id != 0 AND reciever_id != 0 AND os IN ('iOS', 'Android') AND age BETWEEN 0 AND 120
    ),
    feed_combos AS (  -- per user and attribute combination first: int_feed_user_daily's two stages
        SELECT user_id, {_ATTRIBUTE_LIST}, countIf(action = 'view') AS views, countIf(action = 'like') AS likes,
               max(time) AS last_time
        FROM feed GROUP BY user_id, {_ATTRIBUTE_LIST}
    ),
    sides AS (
        SELECT user_id, sum(views) AS views, sum(likes) AS likes, 0 AS received, 0 AS sent, 0 AS from_users,
               0 AS to_users, max(last_time) AS at, {_COMBO_ATTRIBUTES}
        FROM feed_combos GROUP BY user_id
        UNION ALL
        SELECT sender, 0, 0, 0, count(), 0, uniqExact(receiver), max(time), {_SIDE_ATTRIBUTES}
        FROM messages GROUP BY sender
        UNION ALL
        SELECT receiver, 0, 0, count(), 0, uniqExact(sender), 0, toDateTime(0), 0, 0, '', '', '', '', 0
        FROM messages GROUP BY receiver
    )
SELECT {{{{day:Date}}}}, user_id, sum(views), sum(likes), sum(received), sum(sent), sum(from_users), sum(to_users),
       max(at), {_USER_ATTRIBUTES}
FROM sides GROUP BY user_id
"""
MATERIALIZED_SELECT = f"""
SELECT event_date, dimension, value AS dimension_value, sum(views), sum(likes), sum(received), sum(sent),
       sum(from_users), sum(to_users)
FROM {{db}}.{MATERIALIZED_TABLE}
ARRAY JOIN ['os', 'gender', 'age'] AS dimension,
           [if(last_at = 0, 'unknown', os), if(last_at = 0, 'unknown', toString(gender)),
            multiIf(last_at = 0, 'unknown', age <= 17, '0-17', age <= 24, '18-24', age <= 34, '25-34',
                    age <= 44, '35-44', age <= 54, '45-54', '55+')] AS value
WHERE event_date = {{{{day:Date}}}}
GROUP BY event_date, dimension, value
"""


def materialized_run(bench, day: dt.date) -> Measure:
    """The materialized lower bound for the day: the per-user table's INSERT … SELECT (the day's
    partition emptied first) and the final table's SELECT over it, timed like a dbt run."""
    db, client, params = bench.database, bench.client, {"day": day}
    client.command(MATERIALIZED_CREATE.format(db=db))
    client.command(f"ALTER TABLE {db}.{MATERIALIZED_TABLE} DROP PARTITION '{day.isoformat()}'")
    wait_for_merges(client)
    engine_before = bench.engine_seconds()
    start = time.perf_counter()
    client.command(MATERIALIZED_INSERT.format(db=db), parameters=params)
    rows = client.query(MATERIALIZED_SELECT.format(db=db), parameters=params).result_rows
    wall = time.perf_counter() - start
    if not rows:
        raise RuntimeError(f"the materialized bound's table is empty for {day}")
    return Measure(wall, bench.engine_seconds() - engine_before)


def fused_run(bench, day: dt.date) -> Measure:
    """The engine's lower bound for the day: the fused SELECT, timed like a dbt run."""
    wait_for_merges(bench.client)
    engine_before = bench.engine_seconds()
    start = time.perf_counter()
    rows = bench.client.query(FUSED_QUERY.format(db=bench.database), parameters={"day": day}).result_rows
    wall = time.perf_counter() - start
    if not rows:
        raise RuntimeError(f"the fused query returned nothing for {day}")
    return Measure(wall, bench.engine_seconds() - engine_before)


def settled_run(bench, day: dt.date, *selection: str) -> Measure:
    """One day's dbt run after the previous run's background merges have finished (a daily job
    runs a day apart, so the last run's merges do not share its cores)."""
    wait_for_merges(bench.client)
    return bench.dbt_run(day, day + dt.timedelta(days=1), *selection)


def bench_scale(scale: float, history: int, repeat: int) -> dict[str, Measure | float]:
    """Two endpoints alive side by side — 8 simulated days, and ``history`` + 1 days — both fully
    processed; then the last day is re-run on each in turn, so drift of the shared machine (other
    load, memory pressure) hits both cases alike instead of biasing the ratio."""
    from feedpulse.simulator import simulate

    last = dt.date.today() - dt.timedelta(days=1)
    recent_first = last - dt.timedelta(days=7)
    old_first = last - dt.timedelta(days=history)
    with private_endpoint() as short, private_endpoint() as long:
        console.print(f"[scale {scale:g}] short history: simulating {recent_first}..{last}")
        simulate(short.client, start=recent_first, days=8, scale=scale, seed=42, database=short.database)
        events = sum(
            short.client.command(f"SELECT count() FROM {short.database}.{table} WHERE toDate(time) = '{last}'")
            for table in ("feed_actions", "message_actions")
        )
        console.print(f"[scale {scale:g}] 7-day backfill {recent_first}..{last - dt.timedelta(days=1)}")
        wait_for_merges(short.client)
        backfill = short.dbt_run(recent_first, last)
        console.print(f"[scale {scale:g}] long history: simulating and processing {old_first}..{last}")
        simulate(long.client, start=old_first, days=history + 1, scale=scale, seed=42, database=long.database)
        long.dbt_run(old_first, last)
        waited = wait_for_merges(long.client) + wait_for_merges(short.client)
        console.print(
            f"[scale {scale:g}] background merges settled after {waited:.0f} s; {repeat} alternating one-day runs"
        )
        day7, day_long, fused, path, materialized = [], [], [], [], []
        for _ in range(repeat):
            day7.append(settled_run(short, last))
            fused.append(fused_run(short, last))
            path.append(settled_run(short, last, *FINAL_TABLE_PATH))
            materialized.append(materialized_run(short, last))
            day_long.append(settled_run(long, last))
        # dbt's floor, after the measured runs (the empty day is newer than `last`: it would make later runs of
        # `last` re-runs of an old day): the day after the simulated ones has no events
        console.print(f"[scale {scale:g}] dbt's floor: `dbt ls` and the path on a day without events")
        empty = [settled_run(short, last + dt.timedelta(days=1), *FINAL_TABLE_PATH) for _ in range(repeat)]
        start_only = statistics.median(short.dbt_ls(*FINAL_TABLE_PATH) for _ in range(repeat))
    return {
        "events": float(events),
        "backfill": backfill,
        "day7": Measure.median(day7),
        "day_long": Measure.median(day_long),
        "fused": Measure.median(fused),
        "path": Measure.median(path),
        "materialized": Measure.median(materialized),
        "empty_path": Measure.median(empty),
        "dbt_ls": start_only,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated scales (default 1,10)")
    parser.add_argument("--history", type=int, default=60, help="days of history for the long case (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each one-day run (median)")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    results = {scale: bench_scale(scale, args.history, args.repeat) for scale in scales}

    table = Table(title=f"daily ETL (dbt run), median of {args.repeat}; ClickHouse = time inside the engine")
    for column in [
        "scale",
        "events/day",
        "1 day wall",
        "1 day ClickHouse",
        "7-day backfill wall",
        "7-day backfill ClickHouse",
        f"1 day, {args.history}d history",
        f"ratio {args.history}d/7d",
    ]:
        table.add_column(column, justify="right")
    for scale, r in results.items():
        day7, long, backfill = r["day7"], r["day_long"], r["backfill"]
        table.add_row(
            f"{scale:g}",
            f"{r['events']:,.0f}",
            f"{day7.wall:.1f} s",
            f"{day7.engine:.2f} s",
            f"{backfill.wall:.1f} s",
            f"{backfill.engine:.2f} s",
            f"{long.wall:.1f} s ({long.engine:.2f} s)",
            f"{long.wall / day7.wall:.2f}",
        )
    console.print(table)
    bound = Table(
        title=f"the dbt day (7 d history) vs the engine's lower bound (fused SELECT), median of {args.repeat}"
    )
    for column in [
        "scale",
        "dbt day wall",
        "dbt day engine",
        "final table's path wall",
        "final table's path engine",
        "fused wall",
        "fused engine",
        "materialized bound wall / engine",
        "engine ratio: path (whole day)",
        "wall ratio: path (whole day)",
        "engine ratio: materialized bound",
    ]:
        bound.add_column(column, justify="right")
    for scale, r in results.items():
        day7, fused, path, materialized = r["day7"], r["fused"], r["path"], r["materialized"]
        bound.add_row(
            f"{scale:g}",
            f"{day7.wall:.1f} s",
            f"{day7.engine:.2f} s",
            f"{path.wall:.1f} s",
            f"{path.engine:.2f} s",
            f"{fused.wall:.2f} s",
            f"{fused.engine:.2f} s",
            f"{materialized.wall:.2f} s / {materialized.engine:.2f} s",
            f"{path.engine / fused.engine:.2f} ({day7.engine / fused.engine:.2f})",
            f"{path.wall / fused.wall:.2f} ({day7.wall / fused.wall:.2f})",
            f"{materialized.engine / fused.engine:.2f}",
        )
    console.print(bound)
    floor_rows = []
    for scale, r in results.items():
        empty, fused, materialized, path = r["empty_path"], r["fused"], r["materialized"], r["path"]
        floor_rows.append([
            f"{scale:g}",
            f"{r['dbt_ls']:.1f} s",
            f"{empty.wall:.1f} s / {empty.engine:.2f} s",
            f"{empty.statements} / {path.statements}",
            f"{fused.wall:.2f} s",
            f"{empty.wall / fused.wall:.2f}",
            f"{(empty.wall + materialized.engine) / fused.wall:.2f}",
            f"{(empty.engine + materialized.engine) / fused.engine:.2f}",
        ])  # fmt: skip
    console.print(
        right_aligned(
            f"dbt's floor (the path's cost without data) vs the fused query, median of {args.repeat}",
            ["scale", "dbt ls (start, manifest)", "path, day without events: wall / engine",
             "statements: empty day / a day", "fused wall", "floor wall ÷ fused wall",
             "(floor wall + materialized engine) ÷ fused wall", "(floor engine + materialized engine) ÷ fused engine"],
            floor_rows,
        )
    )  # fmt: skip
    for scale, r in results.items():
        per_model = Table(title=f"scale {scale:g}: dbt execution time per model, one day (median)")
        for column in ["model", "7d history", f"{args.history}d history"]:
            per_model.add_column(column, justify="right")
        for name, seconds in r["day7"].models.items():
            per_model.add_row(name, f"{seconds:.2f} s", f"{r['day_long'].models.get(name, 0.0):.2f} s")
        console.print(per_model)


if __name__ == "__main__":
    main()
