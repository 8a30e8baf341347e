"""Benchmark: one anomaly-sensor cycle at scale 1 and 10 — the metrics_15min refresh the sensor
requests (dbt, today's partition recomputed; target ≤ 10 s at scale 1) and the evaluation (read
metrics_15min, detector on every metric × slice, lifecycle; targets ≤ 2 s at scale 1, ≤ 10 s at 10).

Also timed (not part of the sensor tick: the alert run does it before sending): the root-cause
explanation of an alert whose every metric of the ``total`` slice fires (segment cells of both raw
tables over the detector's baseline days + the explainer).

Simulates enough history for the detector (its 22-day window + a day) on a private local
endpoint, builds metrics_15min over it (the one-off first refresh, reported separately), then times
the refresh of one day and the steady-state evaluation of the following buckets.

    .venv/bin/python bench/sensor.py [--scales 1,10] [--repeat 5]
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


def bench_scale(scale: float, repeat: int) -> dict[str, float]:
    from dataclasses import replace

    import pandas as pd

    from feedpulse.alerts import metrics_table
    from feedpulse.alerts.config import default_config
    from feedpulse.alerts.detector import evaluate_frame
    from feedpulse.alerts.lifecycle import AlertStore, Notification
    from feedpulse.alerts.service import check, explain_notification, history_window
    from feedpulse.simulator import simulate

    config = default_config()
    day = dt.date.today() - dt.timedelta(days=1)
    first = day - dt.timedelta(days=23)
    with private_endpoint() as bench:
        client = bench.client
        console.print(f"[scale {scale:g}] simulating {first}..{day}")
        simulate(client, start=first, days=24, scale=scale, seed=42, database=bench.database)
        store = AlertStore(bench.home / "alerts.sqlite")
        bucket = dt.datetime.combine(day, dt.time(18, 0))
        slices = ",".join(config.slices)
        after = day + dt.timedelta(days=1)
        first_run = bench.dbt_run(first, after, "--select", "metrics_15min", alert_slices=slices).wall
        refreshes = [
            bench.dbt_run(day, after, "--select", "metrics_15min", alert_slices=slices)
            for _ in range(max(repeat // 2, 1))
        ]
        check(client, config, bucket, store=store)  # the lifecycle's first bucket
        times = []
        for i in range(1, repeat + 1):
            start = time.perf_counter()
            check(client, config, bucket + dt.timedelta(minutes=15 * i), store=store)
            times.append(time.perf_counter() - start)
        last = bucket + dt.timedelta(minutes=15 * repeat)
        frame = metrics_table.load(client, start=last - history_window(config), end=last + dt.timedelta(minutes=15))
        firing = [replace(e, status="firing") for e in evaluate_frame(frame, config, pd.Timestamp(last), ["total"])]
        notification = Notification("firing", "total", last, firing)
        explain_times = []
        for _ in range(max(repeat // 2, 1)):
            start = time.perf_counter()
            explain_notification(client, config, notification, source=bench.database)
            explain_times.append(time.perf_counter() - start)
    return {"first": first_run, "median": statistics.median(times), "max": max(times),
            "refresh": statistics.median(r.wall for r in refreshes),
            "refresh_engine": statistics.median(r.engine for r in refreshes),
            "explain": statistics.median(explain_times)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {float(s): bench_scale(float(s), args.repeat) for s in args.scales.split(",")}
    table = Table(title=f"one anomaly-sensor cycle (evaluation: median and max of {args.repeat} buckets)")
    columns = (
        "scale",
        "first refresh (24 days, dbt)",
        "refresh of today (dbt wall / engine)",
        "evaluation median",
        "evaluation max",
        "targets (refresh / evaluation)",
        "alert run: root cause (median)",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for scale, r in results.items():
        table.add_row(
            f"{scale:g}",
            f"{r['first']:.2f} s",
            f"{r['refresh']:.2f} s / {r['refresh_engine']:.2f} s",
            f"{r['median']:.2f} s",
            f"{r['max']:.2f} s",
            "≤ 10 s / ≤ 2 s" if scale <= 1 else "— / ≤ 10 s",
            f"{r['explain']:.2f} s",
        )
    console.print(table)


if __name__ == "__main__":
    main()
