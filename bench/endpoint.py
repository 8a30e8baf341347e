"""What the local endpoint's own code costs: the same simulator and the same dbt day against two
endpoints, one served by this tree and one by another source tree (issue 14: safety, limits and
streaming must not cost the simulator or the ETL more than 5 %).

Both endpoints run at the same time, each with its own FEEDPULSE_HOME and port; only the server
code differs (the old tree's ``feedpulse localhouse serve``). The client side — the simulator, dbt,
clickhouse-connect — is this tree's, so a difference is the endpoint's. Runs alternate between the
two endpoints (the 2-core machine drifts), background merges are settled before every run.

    git archive 287f28a^ | tar -x -C /tmp/endpoint_old    # the endpoint before issue 14 (or any other commit)
    flock /tmp/feedpulse-bench.lock .venv/bin/python bench/endpoint.py --old /tmp/endpoint_old [--repeat 3]

A `SELECT 1` round trip of clickhouse-connect; per scale, the simulator's throughput, the whole dbt day and
the final table's path (wall, engine time and the statements the endpoint answered).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FINAL_TABLE_PATH, ROOT, Bench, Measure, free_port, wait_for_merges

from feedpulse.localhouse.manager import ping

DATABASE = "endpoint_bench"
START = dt.date(2026, 10, 5)
# A server from TREE: the venv's editable install of this tree is bypassed so TREE's code serves.
SERVE = """
import runpy, sys
tree = sys.argv[1]
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, tree)
sys.argv = ["feedpulse", *sys.argv[2:]]
runpy.run_module("feedpulse.cli", run_name="__main__")
"""


@contextmanager
def endpoint(tree: Path, label: str) -> Iterator[Bench]:
    """An endpoint served by ``tree``'s code (a private home and port), stopped afterwards."""
    from feedpulse.clickhouse import get_client
    from feedpulse.config import ClickHouseSettings

    with tempfile.TemporaryDirectory(prefix=f"feedpulse-endpoint-{label}-") as tmp:
        bench = Bench(Path(tmp), free_port(), DATABASE)
        command = [sys.executable, "-c", SERVE, str(tree), "localhouse", "serve", "--port", str(bench.port)]
        command += ["--path", str(Path(tmp) / "chdb")]
        with open(Path(tmp) / "server.log", "wb") as log:
            server = subprocess.Popen(command, env=bench.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_ping(bench.port, server, Path(tmp) / "server.log")
            bench.server_pid = server.pid
            # which code serves, seen from outside: issue 14's endpoint refuses multi-statements (Code 62)
            probe = requests.post(f"http://127.0.0.1:{bench.port}/", data="SELECT 1; SELECT 2", timeout=10)
            print(f"{label} endpoint (pid {server.pid}): multi-statement query -> HTTP {probe.status_code}")
            bench.client = get_client(settings=ClickHouseSettings(port=bench.port, is_local=False))  # served above
            yield bench
        finally:
            server.terminate()
            server.wait(timeout=60)


def _wait_for_ping(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"endpoint exited at start:\n{log.read_text()[-2000:]}")
        if ping("127.0.0.1", port, timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"endpoint did not answer /ping:\n{log.read_text()[-2000:]}")


def simulate_once(bench: Bench, scale: float) -> float:
    """Events per second of one simulated day (the database dropped afterwards)."""
    from feedpulse.simulator import simulate

    wait_for_merges(bench.client)
    result = simulate(bench.client, start=START, days=1, scale=scale, database=DATABASE)
    bench.client.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    return (result.feed_rows + result.message_rows) / result.seconds


def alternate(benches: dict[str, Bench], repeat: int, measure, median=statistics.median) -> dict[str, Any]:
    """Median of ``measure(bench)`` per endpoint, ``repeat`` runs each, alternating which goes first."""
    values: dict[str, list[Any]] = {label: [] for label in benches}
    for i in range(repeat):
        for label in sorted(benches, reverse=i % 2 == 1):
            values[label].append(measure(benches[label]))
    return {label: median(v) for label, v in values.items()}


def dbt_day(bench: Bench, *selection: str) -> Measure:
    """One day's dbt run (the day after START, on tables the first day built): the daily ETL, or ``selection``."""
    wait_for_merges(bench.client)
    day = START + dt.timedelta(days=1)
    return bench.dbt_run(day, day + dt.timedelta(days=1), *selection)


def round_trip(bench: Bench, queries: int = 300) -> float:
    """Milliseconds per `SELECT 1` of clickhouse-connect (its session and the settings it sends with every query)."""
    start = time.perf_counter()
    for _ in range(queries):
        bench.client.command("SELECT 1")
    return (time.perf_counter() - start) * 1000 / queries


def measure_scale(benches: dict[str, Bench], scale: float, repeat: int, table: Table) -> None:
    from feedpulse.simulator import simulate

    rate = alternate(benches, repeat, lambda bench: simulate_once(bench, scale))
    for bench in benches.values():  # two days of data; the first day's run builds the tables
        simulate(bench.client, start=START, days=2, scale=scale, database=DATABASE)
        bench.dbt_run(START, START + dt.timedelta(days=1))
    day = alternate(benches, repeat, dbt_day, Measure.median)
    path = alternate(benches, repeat, lambda bench: dbt_day(bench, *FINAL_TABLE_PATH), Measure.median)
    for bench in benches.values():
        bench.client.command(f"DROP DATABASE IF EXISTS {DATABASE}")
    old, new = rate["old"], rate["new"]
    table.add_row(
        f"simulate 1 day, scale {scale:g}", "events/s", f"{old / 1e6:.2f} M", f"{new / 1e6:.2f} M", f"{new / old:.2f}"
    )
    for what, runs in ((f"dbt run 1 day, scale {scale:g}", day), (f"final table's path, scale {scale:g}", path)):
        old, new = runs["old"], runs["new"]
        table.add_row(what, "wall s", f"{old.wall:.1f}", f"{new.wall:.1f}", f"{new.wall / old.wall:.2f}")
        table.add_row("", "engine s", f"{old.engine:.2f}", f"{new.engine:.2f}", f"{new.engine / old.engine:.2f}")
        table.add_row("", "statements", str(old.statements), str(new.statements), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="the other source tree (its endpoint code serves)")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    old = args.old.resolve()
    os.environ.pop("CLICKHOUSE_HOST", None)
    table = Table(title=f"endpoint code: {old} (old) vs {ROOT} (new); client code: new; {args.repeat} runs each")
    for column in ("case", "unit", "old endpoint", "new endpoint", "new / old"):
        table.add_column(column, justify="right")
    with endpoint(old, "old") as old_bench, endpoint(ROOT, "new") as new_bench:
        benches = {"old": old_bench, "new": new_bench}
        ms = alternate(benches, args.repeat, round_trip)
        old_ms, new_ms = ms["old"], ms["new"]
        table.add_row("SELECT 1 round trip", "ms", f"{old_ms:.1f}", f"{new_ms:.1f}", f"{new_ms / old_ms:.2f}")
        for scale in (float(s) for s in args.scales.split(",")):
            measure_scale(benches, scale, args.repeat, table)
            Console(width=160).print(table)


if __name__ == "__main__":
    main()
