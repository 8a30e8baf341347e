"""Shared pieces of the benchmark scripts: a private local endpoint, timed dbt runs and children."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")
PROJECT = ROOT / "dbt_project"
# the final table's path: the models test.daily_slice_metrics needs (the same work as bench/etl.py's fused query)
FINAL_TABLE_PATH = ("--select", "+daily_slice_metrics")


@dataclass
class Measure:
    wall: float
    engine: float
    models: dict[str, float] = field(default_factory=dict)  # dbt's execution time per model
    statements: int = 0  # queries the endpoint answered during the run (dbt's metadata queries included)

    @classmethod
    def median(cls, measures: list[Measure]) -> Measure:
        """Each figure's median over repeated runs (per model too, a model missing from a run counting 0)."""
        names = dict.fromkeys(name for m in measures for name in m.models)
        return cls(
            statistics.median(m.wall for m in measures),
            statistics.median(m.engine for m in measures),
            {name: statistics.median(m.models.get(name, 0.0) for m in measures) for name in names},
            int(statistics.median(m.statements for m in measures)),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    """A private endpoint's address and environment; ``client`` is set by :func:`private_endpoint`."""

    def __init__(self, home: Path, port: int, database: str) -> None:
        self.home, self.port, self.database = home, port, database
        self.client = None
        self.server_pid: int | None = None
        self.env = {
            **os.environ,
            "FEEDPULSE_HOME": str(home),
            "CLICKHOUSE_PORT": str(port),
            "CLICKHOUSE_PASSWORD": "",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        self.env.pop("CLICKHOUSE_HOST", None)
        self.target = home / "dbt-target"

    def engine_seconds(self) -> float:
        return float(self.stats()["engine_seconds"])

    def stats(self) -> dict[str, float]:
        """The endpoint's cumulative totals (engine seconds, queries, …): /feedpulse/stats."""
        return requests.get(f"http://127.0.0.1:{self.port}/feedpulse/stats", timeout=10).json()

    def dbt_run(self, first: dt.date, after: dt.date, *selection: str, **extra_vars: str) -> Measure:
        """`dbt run` of [first, after): the daily ETL by default (metrics_15min is refreshed apart, as in
        Dagster), or ``selection`` (e.g. ``--select metrics_15min``)."""
        variables = {"start_date": first.isoformat(), "end_date": after.isoformat(), "source_database": self.database}
        variables.update(extra_vars)
        before = self.stats()
        wall = self._dbt("run", *(selection or ("--exclude", "metrics_15min")), variables=variables)
        after_stats = self.stats()
        engine = float(after_stats["engine_seconds"]) - float(before["engine_seconds"])
        statements = int(after_stats["queries"]) - int(before["queries"])
        return Measure(wall, engine, self.model_times(), statements)

    def dbt_ls(self, *selection: str) -> float:
        """Wall time of `dbt ls` of ``selection``: dbt's process start, the manifest and the selection, no query."""
        return self._dbt("ls", *selection, variables={"source_database": self.database})

    def _dbt(self, verb: str, *arguments: str, variables: dict[str, str]) -> float:
        """Run dbt ``verb`` on the project against this endpoint; its wall time (raises on failure)."""
        command = [
            DBT,
            verb,
            "--quiet",
            *arguments,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(self.target),
            "--vars",
            json.dumps(variables),
        ]
        start = time.perf_counter()
        result = subprocess.run(
            command, env={**self.env, "DBT_LOG_PATH": str(self.home / "dbt-logs")}, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"dbt {verb} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        return wall

    def model_times(self) -> dict[str, float]:
        """Execution time per model of the last dbt invocation (from its run_results.json)."""
        results = json.loads((self.target / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[-1]: float(r["execution_time"]) for r in results}


def timed_child(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; wall time and the child's peak RSS (MB) from wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    out = process.stdout.read() if process.stdout else ""
    err = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[0]} failed:\n{out[-2000:]}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


@contextmanager
def private_endpoint(database: str = "bench_events") -> Iterator[Bench]:
    """A local endpoint with its own FEEDPULSE_HOME (a temp dir) and port, stopped afterwards."""
    from feedpulse.clickhouse import get_client
    from feedpulse.config import ClickHouseSettings
    from feedpulse.localhouse import manager

    names = ("FEEDPULSE_HOME", "CLICKHOUSE_PORT", "CLICKHOUSE_PASSWORD")
    saved = {name: os.environ.get(name) for name in names}
    with tempfile.TemporaryDirectory(prefix="feedpulse-bench-") as tmp:
        bench = Bench(Path(tmp), free_port(), database)
        os.environ.update(FEEDPULSE_HOME=tmp, CLICKHOUSE_PORT=str(bench.port), CLICKHOUSE_PASSWORD="")
        settings = ClickHouseSettings.from_env()
        bench.server_pid = manager.start(host=settings.host, port=settings.port).pid
        try:
            bench.client = get_client(settings=settings)
            yield bench
        finally:
            os.environ.update(FEEDPULSE_HOME=tmp, CLICKHOUSE_PORT=str(bench.port))  # nested endpoints: stop this one
            manager.stop()
            for name, value in saved.items():  # and give the enclosing one its environment back
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def wait_for_merges(client, timeout: float = 1800.0) -> float:
    """Let background merges of freshly inserted data finish, so they do not bill the next run.

    Returns the seconds waited; warns on stderr when merges were still running at the timeout
    (the next measurement then shares the cores with them)."""
    start = time.monotonic()
    while int(client.command("SELECT count() FROM system.merges")) > 0:
        if time.monotonic() - start > timeout:
            print(f"warning: merges still running after {timeout:.0f} s; measuring anyway", file=sys.stderr)
            break
        time.sleep(1)
    return time.monotonic() - start
