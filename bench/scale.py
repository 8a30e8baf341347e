"""Scale benchmark: `--scale 100` (≈ 90 M events a day) on this machine.

Simulates 2 days, runs the daily ETL (dbt run) for the second with the first as history, then
one anomaly-sensor evaluation and both daily reports. For each: wall time, time inside the
ClickHouse engine (from the local endpoint's /feedpulse/stats) and peak RSS of our process
(dbt; the Python process for the sensor and reports). Targets: daily ETL ≤ 60 s wall, our RSS
≤ 1 GB. The endpoint's own RSS is reported separately.

    .venv/bin/python bench/scale.py [--scale 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DBT, PROJECT, private_endpoint, timed_child

console = Console(width=150)


def rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100.0)
    args = parser.parse_args()

    from feedpulse.alerts.config import default_config
    from feedpulse.alerts.detector import Detector
    from feedpulse.alerts.lifecycle import AlertStore
    from feedpulse.alerts.service import check
    from feedpulse.charts import ChartRenderer
    from feedpulse.reports.run import build, render
    from feedpulse.simulator import simulate

    day = dt.date.today() - dt.timedelta(days=1)
    first = day - dt.timedelta(days=1)
    rows = []
    with private_endpoint("scale_events") as bench:
        client = bench.client
        start = time.perf_counter()
        result = simulate(client, start=first, days=2, scale=args.scale, seed=42, database=bench.database)
        rows.append(
            (
                "simulate 2 days",
                time.perf_counter() - start,
                float("nan"),
                float("nan"),
                f"{result.feed_rows + result.message_rows:,} events",
            )
        )
        bench.dbt_run(first, day)  # history day

        variables = {
            "start_date": day.isoformat(),
            "end_date": (day + dt.timedelta(days=1)).isoformat(),
            "source_database": bench.database,
        }
        command = [
            DBT,
            "run",
            "--quiet",
            "--exclude",
            "metrics_15min",  # refreshed apart, as in Dagster (timed below)
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(bench.target),
            "--vars",
            json.dumps(variables),
        ]
        engine = bench.engine_seconds()
        wall, rss, _ = timed_child(command, {**bench.env, "DBT_LOG_PATH": str(bench.home / "dbt-logs")})
        events = client.command(
            "SELECT count() FROM {db:Identifier}.feed_actions WHERE toDate(time) = {d:Date}",
            parameters={"db": bench.database, "d": day},
        )
        rows.append(
            (
                "daily ETL, one day (dbt run)",
                wall,
                bench.engine_seconds() - engine,
                rss,
                f"{events:,} feed events that day; target ≤ 60 s",
            )
        )

        config = default_config()
        store = AlertStore(bench.home / "alerts.sqlite")
        bucket = dt.datetime.combine(day, dt.time(18, 0))
        # metrics_15min over the detector's history, as the sensor's first refresh request builds it
        history = dt.timedelta(days=Detector(next(iter(config.metrics.values())), config.detector).window_days)
        bench.dbt_run((bucket - history).date(), day + dt.timedelta(days=1), "--select", "metrics_15min")
        check(client, config, bucket, store=store)
        engine, start = bench.engine_seconds(), time.perf_counter()
        check(client, config, bucket + dt.timedelta(minutes=15), store=store)
        rows.append(
            (
                "one sensor evaluation",
                time.perf_counter() - start,
                bench.engine_seconds() - engine,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "steady state",
            )
        )

        engine, start = bench.engine_seconds(), time.perf_counter()
        with ChartRenderer() as renderer:
            for kind in ("feed", "app"):
                render(build(kind, client, day), renderer)
        rows.append(
            (
                "both reports (queries + charts)",
                time.perf_counter() - start,
                bench.engine_seconds() - engine,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "incl. browser start",
            )
        )
        server_rss = rss_of(bench.server_pid) if bench.server_pid else float("nan")

    table = Table(title=f"scale {args.scale:g} on {os.cpu_count()} cores")
    for column in ("step", "wall", "ClickHouse", "peak RSS (our process)", "note"):
        table.add_column(column, justify="right")
    for step, wall, engine, rss, note in rows:
        table.add_row(
            step,
            f"{wall:.1f} s",
            "-" if engine != engine else f"{engine:.1f} s",
            "-" if rss != rss else f"{rss:.0f} MB",
            note,
        )
    console.print(table)
    console.print(f"local endpoint (chDB) peak RSS: {server_rss:.0f} MB")


if __name__ == "__main__":
    main()
