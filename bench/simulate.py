"""Simulator throughput: events/s at scale 1 and 10 (``python bench/simulate.py [--quick] [--compare TREE]``).

Uses ``feedpulse.clickhouse.get_client()`` (the local endpoint unless CLICKHOUSE_HOST is set) and a
scratch database ``simulator_bench`` that is dropped afterwards.

``--compare TREE`` measures another source tree of feedpulse (e.g. ``git archive <commit> | tar -x
-C TREE``) side by side with this one: each case runs ``--repeat`` times per tree, alternating
old/new in child processes against the same endpoint, and the table gives the median events/s of
each and their ratio — the machine is noisy, so only a paired, interleaved comparison means much.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from feedpulse.clickhouse import get_client
from feedpulse.simulator import simulate

DATABASE = "simulator_bench"
ROOT = Path(__file__).resolve().parents[1]
START = dt.date(2026, 10, 5)  # fixed, so both trees generate the same days

# Child: import feedpulse from TREE (bypassing this venv's editable install), simulate one case.
CHILD = """
import json, sys, datetime as dt
tree, scale, days, database = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, tree)
from feedpulse.clickhouse import get_client
from feedpulse.simulator import simulate
client = get_client()
try:
    r = simulate(client, start=dt.date(2026, 10, 5), days=days, scale=scale, database=database)
finally:
    client.command(f"DROP DATABASE IF EXISTS {database}")
import feedpulse
print(json.dumps({"events": r.feed_rows + r.message_rows, "seconds": r.seconds, "file": feedpulse.__file__}))
"""


def run_child(tree: Path, scale: float, days: int) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(scale), str(days), DATABASE],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["file"].startswith(str(tree)), f"imported {result['file']}, not from {tree}"
    return int(result["events"]), float(result["seconds"])


def compare(old: Path, cases: list[tuple[float, int]], repeat: int) -> Table:
    table = Table(title=f"simulator throughput: {old} (old) vs {ROOT} (new), {repeat} alternating runs each")
    for column in ("scale", "days", "old events", "new events", "old events/s", "new events/s", "new / old"):
        table.add_column(column, justify="right")
    for scale, days in cases:
        rates: dict[str, list[float]] = {"old": [], "new": []}
        events = {"old": 0, "new": 0}
        for i in range(repeat):
            order = (("old", old), ("new", ROOT)) if i % 2 == 0 else (("new", ROOT), ("old", old))
            for label, tree in order:
                n, seconds = run_child(tree, scale, days)
                events[label] = n
                rates[label].append(n / seconds)
        o, n = statistics.median(rates["old"]), statistics.median(rates["new"])
        table.add_row(
            f"{scale:g}", str(days), f"{events['old']:,}", f"{events['new']:,}",
            f"{o / 1e6:.2f} M", f"{n / 1e6:.2f} M", f"{n / o:.2f}",
        )  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 day at scale 1 and 10 only")
    parser.add_argument("--compare", type=Path, help="another feedpulse source tree to measure side by side")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tree and case with --compare")
    args = parser.parse_args()
    cases = [(1.0, 1), (10.0, 1)] if args.quick else [(1.0, 7), (10.0, 2)]
    if args.compare:
        Console().print(compare(args.compare.resolve(), cases, args.repeat))
        return
    client = get_client()
    table = Table(title="simulator throughput")
    for column in ("scale", "days", "feed rows", "message rows", "seconds", "events/s"):
        table.add_column(column, justify="right")
    try:
        for scale, days in cases:
            result = simulate(client, start=START, days=days, scale=scale, database=DATABASE)
            table.add_row(
                f"{scale:g}", str(days), f"{result.feed_rows:,}", f"{result.message_rows:,}",
                f"{result.seconds:.1f}", f"{result.events_per_second / 1e6:.2f} M",
            )  # fmt: skip
    finally:
        client.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    Console().print(table)


if __name__ == "__main__":
    main()
