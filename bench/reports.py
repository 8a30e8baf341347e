"""Benchmark: time to build and render all charts of both daily reports (target ≤ 5 s total).

Simulates a month at scale 1 on a private local endpoint, runs the daily ETL over it, then times
reading the marts, building both reports and rendering every chart through one kaleido session
(browser start included), a few times.

    .venv/bin/python bench/reports.py [--repeat 3]
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
from common import private_endpoint

console = Console(width=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from feedpulse.charts import ChartRenderer
    from feedpulse.reports.run import build
    from feedpulse.simulator import simulate

    day = dt.date.today() - dt.timedelta(days=1)
    first = day - dt.timedelta(days=31)
    rows = []
    with private_endpoint() as bench:
        client = bench.client
        simulate(client, start=first, days=32, scale=1.0, seed=42, database=bench.database)
        bench.dbt_run(first, day + dt.timedelta(days=1))
        for _ in range(args.repeat):
            start = time.perf_counter()
            contents = [build("feed", client, day), build("app", client, day)]
            built = time.perf_counter()
            charts = 0
            with ChartRenderer() as renderer:
                started = time.perf_counter()
                for content in contents:
                    for _name, figure, _caption in content.figures:
                        renderer.png(figure)
                        charts += 1
            done = time.perf_counter()
            rows.append((built - start, started - built, done - started, done - start, charts))

    table = Table(title=f"both reports for {day}: median of {args.repeat} runs")
    for column in ["charts", "query + build", "kaleido start", "render all charts", "total"]:
        table.add_column(column, justify="right")
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    table.add_row(str(rows[0][4]), f"{med[0]:.2f} s", f"{med[1]:.2f} s", f"{med[2]:.2f} s", f"{med[3]:.2f} s")
    console.print(table)


if __name__ == "__main__":
    main()
