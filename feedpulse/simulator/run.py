"""Orchestration: fill a day range (replacing it) or keep appending today's events live.

All work happens in ClickHouse through a clickhouse-connect ``client``: for each day the day's
partitions are dropped, then one ``INSERT … SELECT`` per table (per user-slot chunk at high scale)
generates the rows. Nothing is pulled to Python.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feedpulse.clickhouse import server_now
from feedpulse.config import DEFAULT_SOURCE_DATABASE
from feedpulse.simulator.anomalies import AnomalySpec
from feedpulse.simulator.experiment import ExperimentSpec
from feedpulse.simulator.sql import (
    Context,
    SimulationError,
    create_statements,
    drop_partition_statements,
    insert_statements,
    quote_ident,
)

# Bounded memory and both cores for every generating statement. Larger insert blocks mean fewer,
# larger parts to sort and write: measured 3.1 → 4.9 M events/s at scale 10 (BENCHMARKS.md).
INSERT_SETTINGS: dict[str, Any] = {
    "max_threads": 2,
    "max_block_size": 131_072,
    "max_insert_threads": 2,
    "min_insert_block_size_rows": 1_048_576,
    "min_insert_block_size_bytes": 256 << 20,
}


@dataclass(frozen=True)
class SimulationResult:
    days: int
    feed_rows: int
    message_rows: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return (self.feed_rows + self.message_rows) / self.seconds if self.seconds > 0 else 0.0


def ensure_tables(client: Any, database: str) -> None:
    """CREATE DATABASE / TABLE IF NOT EXISTS for ``feed_actions`` and ``message_actions``."""
    for statement in create_statements(database):
        client.command(statement)


def _validate(start: dt.date, days: int) -> None:
    if not isinstance(start, dt.date):
        raise SimulationError(f"start must be a date, got {start!r}")
    if isinstance(start, dt.datetime):
        raise SimulationError(f"start must be a date (not a datetime), got {start!r}")
    if days < 1:
        raise SimulationError(f"days must be ≥ 1, got {days}")


def _context(
    database: str,
    scale: float,
    seed: int,
    anomalies: AnomalySpec | None,
    experiment: ExperimentSpec | None,
) -> Context:
    return Context(database, float(scale), int(seed), anomalies or AnomalySpec(), experiment)


def generate_day(client: Any, ctx: Context, day: dt.date) -> None:
    """Replace one day: drop its partitions, then generate it."""
    ctx.check_day(day)
    for statement in drop_partition_statements(ctx.database, day):
        client.command(statement)
    for _table, statement, params in insert_statements(ctx, day):
        client.command(statement, parameters=params, settings=INSERT_SETTINGS)


def count_rows(client: Any, database: str, start: dt.date, end: dt.date) -> tuple[int, int]:
    """Rows of both tables with ``start ≤ toDate(time) < end``."""
    db = quote_ident(database)
    out = []
    for table in ("feed_actions", "message_actions"):
        rows = client.query(
            f"SELECT count() FROM {db}.{table} WHERE toDate(time) >= {{a:Date}} AND toDate(time) < {{b:Date}}",
            parameters={"a": start, "b": end},
        ).result_rows
        out.append(int(rows[0][0]))
    return out[0], out[1]


def _progress(enabled: bool, total: int) -> tuple[Callable[[dt.date], None], Callable[[], None]]:
    """(advance(day), close()) for a rich progress bar, or no-ops."""
    if not enabled:
        return (lambda _day: None), (lambda: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("simulate {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    bar.start()
    task = bar.add_task("", total=total)
    return (lambda day: bar.update(task, advance=1, description=str(day))), bar.stop


def simulate(
    client: Any,
    *,
    start: dt.date,
    days: int,
    scale: float = 1.0,
    seed: int = 42,
    database: str = DEFAULT_SOURCE_DATABASE,
    anomalies: AnomalySpec | None = None,
    experiment: ExperimentSpec | None = None,
    progress: bool = False,
) -> SimulationResult:
    """Generate ``[start, start + days)`` into ``<database>``, replacing those days (deterministic)."""
    _validate(start, days)
    ctx = _context(database, scale, seed, anomalies, experiment)
    for offset in (0, days - 1):
        ctx.check_day(start + dt.timedelta(days=offset))
    ensure_tables(client, database)
    began = time.perf_counter()
    advance, close = _progress(progress, days)
    try:
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            generate_day(client, ctx, day)
            advance(day)
    finally:
        close()
    seconds = time.perf_counter() - began
    feed_rows, message_rows = count_rows(client, database, start, start + dt.timedelta(days=days))
    return SimulationResult(days, feed_rows, message_rows, seconds)


def append_window(client: Any, ctx: Context, lo: dt.datetime, hi: dt.datetime) -> None:
    """Insert the events of ``(lo, hi]`` (same day) from the deterministic day generator."""
    params_extra = {"lo": lo.strftime("%Y-%m-%d %H:%M:%S"), "hi": hi.strftime("%Y-%m-%d %H:%M:%S")}
    for _table, statement, params in insert_statements(ctx, hi.date(), live=True):
        client.command(statement, parameters={**params, **params_extra}, settings=INSERT_SETTINGS)


def simulate_live(
    client: Any,
    *,
    start: dt.date,
    days: int,
    scale: float = 1.0,
    seed: int = 42,
    database: str = DEFAULT_SOURCE_DATABASE,
    anomalies: AnomalySpec | None = None,
    experiment: ExperimentSpec | None = None,
    interval_seconds: float = 60,
    stop: threading.Event | None = None,
    max_iterations: int | None = None,
    progress: bool = False,
) -> None:
    """Fill ``[start, start + days)`` (days before today only), then append today's events as time passes.

    On start today's partitions are replaced by the events up to now; every ``interval_seconds`` the
    events in ``(watermark, now]`` are appended. At midnight the watermark moves to the new day.
    Stops when ``stop`` is set or after ``max_iterations`` appends.
    """
    stop = stop or threading.Event()
    ctx = _context(database, scale, seed, anomalies, experiment)
    now = server_now(client)
    today = now.date()
    history_end = min(start + dt.timedelta(days=days), today)
    if history_end > start:
        simulate(
            client, start=start, days=(history_end - start).days, scale=scale, seed=seed, database=database,
            anomalies=anomalies, experiment=experiment, progress=progress,
        )  # fmt: skip
    ensure_tables(client, database)
    ctx.check_day(today)
    for statement in drop_partition_statements(database, today):
        client.command(statement)
    current_day = today
    watermark = dt.datetime.combine(today, dt.time()) - dt.timedelta(seconds=1)
    iterations = 0
    while True:
        now = server_now(client)
        while current_day < now.date():  # finish the current day, then roll over
            end_of_day = dt.datetime.combine(current_day, dt.time(23, 59, 59))
            if watermark < end_of_day:
                append_window(client, ctx, watermark, end_of_day)
            watermark, current_day = end_of_day, current_day + dt.timedelta(days=1)
            ctx.check_day(current_day)
            for statement in drop_partition_statements(database, current_day):
                client.command(statement)
        if now > watermark:
            append_window(client, ctx, watermark, now)
            watermark = now
        iterations += 1
        if max_iterations is not None and iterations >= max_iterations:
            return
        if stop.wait(interval_seconds):
            return
