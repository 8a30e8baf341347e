"""Benchmark of the daily ETL (dbt run of one partition) on simulated data.

For each scale: wall time of one day's `dbt run` and the ClickHouse time inside it, a 7-day
single-run backfill, and one day's cost with 7 vs 60 days of history (source tables and
processed ETL tables both holding that history). Runs against a private local endpoint
(its own FEEDPULSE_HOME and port), so nothing of the demo's data is touched.

    .venv/bin/python bench/etl.py [--scales 1,10] [--history 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")
PROJECT = ROOT / "dbt_project"
console = Console(width=160)


@dataclass
class Measure:
    wall: float
    engine: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, home: Path, port: int, database: str) -> None:
        self.home, self.port, self.database = home, port, database
        self.env = {**os.environ, "FEEDPULSE_HOME": str(home), "CLICKHOUSE_PORT": str(port),
                    "CLICKHOUSE_PASSWORD": "", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        self.env.pop("CLICKHOUSE_HOST", None)
        self.target = home / "dbt-target"

    def engine_seconds(self) -> float:
        return float(requests.get(f"http://127.0.0.1:{self.port}/feedpulse/stats", timeout=10).json()["engine_seconds"])

    def dbt_run(self, first: dt.date, after: dt.date) -> Measure:
        variables = {"start_date": first.isoformat(), "end_date": after.isoformat(), "source_database": self.database}
        command = [DBT, "run", "--quiet", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
                   "--target-path", str(self.target), "--vars", json.dumps(variables)]
        engine_before = self.engine_seconds()
        start = time.perf_counter()
        result = subprocess.run(command, env={**self.env, "DBT_LOG_PATH": str(self.home / "dbt-logs")},
                                capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"dbt run failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        return Measure(wall, self.engine_seconds() - engine_before)


def median(measures: list[Measure]) -> Measure:
    return Measure(statistics.median(m.wall for m in measures), statistics.median(m.engine for m in measures))


def bench_scale(scale: float, history: int, repeat: int) -> dict[str, Measure | float]:
    from feedpulse.clickhouse import get_client
    from feedpulse.config import ClickHouseSettings
    from feedpulse.localhouse import manager
    from feedpulse.simulator import simulate

    last = dt.date.today() - dt.timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="feedpulse-bench-") as tmp:
        home = Path(tmp)
        bench = Bench(home, free_port(), "bench_events")
        os.environ.update(FEEDPULSE_HOME=str(home), CLICKHOUSE_PORT=str(bench.port), CLICKHOUSE_PASSWORD="")
        settings = ClickHouseSettings.from_env()
        manager.start(host=settings.host, port=settings.port)
        try:
            client = get_client(settings=settings)
            recent_first = last - dt.timedelta(days=7)
            console.print(f"[scale {scale:g}] simulating {recent_first}..{last}")
            simulate(client, start=recent_first, days=8, scale=scale, seed=42, database=bench.database)
            events = client.command(f"SELECT count() FROM {bench.database}.feed_actions WHERE toDate(time) = "
                                    f"'{last}'") + client.command(
                f"SELECT count() FROM {bench.database}.message_actions WHERE toDate(time) = '{last}'")
            console.print(f"[scale {scale:g}] 7-day backfill {recent_first}..{last - dt.timedelta(days=1)}")
            backfill = bench.dbt_run(recent_first, last)
            one_day_7 = median([bench.dbt_run(last, last + dt.timedelta(days=1)) for _ in range(repeat)])

            old_first = last - dt.timedelta(days=history)
            console.print(f"[scale {scale:g}] simulating and processing the older history {old_first}..{recent_first}")
            simulate(client, start=old_first, days=(recent_first - old_first).days, scale=scale, seed=42,
                     database=bench.database)
            bench.dbt_run(old_first, recent_first)
            one_day_long = median([bench.dbt_run(last, last + dt.timedelta(days=1)) for _ in range(repeat)])
        finally:
            manager.stop()
    return {"events": float(events), "backfill": backfill, "day7": one_day_7, "day_long": one_day_long}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10", help="comma-separated scales (default 1,10)")
    parser.add_argument("--history", type=int, default=60, help="days of history for the long case (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each one-day run (median)")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    results = {scale: bench_scale(scale, args.history, args.repeat) for scale in scales}

    table = Table(title=f"daily ETL (dbt run), median of {args.repeat}; ClickHouse = time inside the engine")
    for column in ["scale", "events/day", "1 day wall", "1 day ClickHouse", "7-day backfill wall",
                   "7-day backfill ClickHouse", f"1 day, {args.history}d history", f"ratio {args.history}d/7d"]:
        table.add_column(column, justify="right")
    for scale, r in results.items():
        day7, long, backfill = r["day7"], r["day_long"], r["backfill"]
        table.add_row(f"{scale:g}", f"{r['events']:,.0f}", f"{day7.wall:.1f} s", f"{day7.engine:.2f} s",
                      f"{backfill.wall:.1f} s", f"{backfill.engine:.2f} s",
                      f"{long.wall:.1f} s ({long.engine:.2f} s)", f"{long.wall / day7.wall:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
