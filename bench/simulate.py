"""Simulator throughput: events/s at scale 1 and 10 (``python bench/simulate.py [--quick]``).

Uses ``feedpulse.clickhouse.get_client()`` (the local endpoint unless CLICKHOUSE_HOST is set) and a
scratch database ``simulator_bench`` that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt

from rich.console import Console
from rich.table import Table

from feedpulse.clickhouse import get_client
from feedpulse.simulator import simulate

DATABASE = "simulator_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 day at scale 1 and 10 only")
    args = parser.parse_args()
    cases = [(1.0, 1), (10.0, 1)] if args.quick else [(1.0, 7), (10.0, 2)]
    client = get_client()
    table = Table(title="simulator throughput")
    for column in ("scale", "days", "feed rows", "message rows", "seconds", "events/s"):
        table.add_column(column, justify="right")
    try:
        for scale, days in cases:
            start = dt.date.today() - dt.timedelta(days=days)
            result = simulate(client, start=start, days=days, scale=scale, database=DATABASE)
            table.add_row(
                f"{scale:g}", str(days), f"{result.feed_rows:,}", f"{result.message_rows:,}",
                f"{result.seconds:.1f}", f"{result.events_per_second / 1e6:.2f} M",
            )  # fmt: skip
    finally:
        client.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    Console().print(table)


if __name__ == "__main__":
    main()
