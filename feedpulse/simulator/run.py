"""Orchestration: fill a day range (replacing it) or keep appending today's events live.

All work happens in ClickHouse through a clickhouse-connect ``client``: one ``INSERT … SELECT`` per
table (per user-slot chunk at high scale) generates a day's rows. Nothing is pulled to Python.

A day is written atomically per table and marked complete across tables: the run first marks its
whole range incomplete in ``simulated_days``; each day's rows are generated into the run's staging
tables (``<table>__simulating_<run id>``), ``REPLACE PARTITION`` swaps each table's day in one step,
and only then is the day marked complete. A run killed at any point leaves every day either
complete (new in both tables) or marked incomplete — including a day cut off between the two
swaps, the only moment its tables disagree; re-running the range redoes them. Leftover staging tables
of killed runs are dropped by the next run into the same database (runs into one database must not
overlap).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from feedpulse.clickhouse import server_now
from feedpulse.config import DEFAULT_SOURCE_DATABASE
from feedpulse.experiments.spec import ExperimentSpec
from feedpulse.simulator.anomalies import AnomalySpec
from feedpulse.simulator.sql import (
    STAGING_MARK,
    Context,
    SimulationError,
    create_statements,
    days_table_statement,
    drop_partition_statements,
    insert_statements,
    last_day,
    quote_ident,
    replace_partition_statement,
    staging_name,
)

TABLES = ("feed_actions", "message_actions")

# Bounded memory and both cores for every generating statement. Larger insert blocks mean fewer,
# larger parts to sort and write: measured 3.1 → 4.9 M events/s at scale 10 (BENCHMARKS.md).
INSERT_SETTINGS: dict[str, Any] = {
    "max_threads": 2,
    "max_block_size": 131_072,
    "max_insert_threads": 2,
    "min_insert_block_size_rows": 1_048_576,
    "min_insert_block_size_bytes": 256 << 20,
}


class SimulationFailed(RuntimeError):
    """Generating ``day`` failed; the days before it are complete, it and later days are not."""

    def __init__(self, day: dt.date, start: dt.date, cause: BaseException) -> None:
        self.day, self.start, self.cause = day, start, cause
        super().__init__(f"{day}: {one_line(cause)}")

    def summary(self) -> str:
        done = (self.day - self.start).days
        kept = f"{done} day(s) from {self.start} are complete" if done else "no day was completed"
        return f"simulate failed on {self.day} ({kept}; re-run to redo the rest): {one_line(self.cause)}"


class SimulationInterrupted(KeyboardInterrupt):
    """Ctrl-C while generating ``day`` (still a KeyboardInterrupt)."""

    def __init__(self, day: dt.date, start: dt.date) -> None:
        self.day, self.start = day, start
        super().__init__(f"interrupted on {day}")

    def summary(self) -> str:
        done = (self.day - self.start).days
        return f"simulate interrupted on {self.day}: {done} day(s) from {self.start} complete; re-run to redo the rest"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an error, shortened: ClickHouse errors carry whole stack traces.

    For a ClickHouse server error only its ``DB::Exception: …`` message is kept (without the
    client's preamble, the server version and the URL)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    match = re.search(r"DB::Exception: (.*?)(?: \(version [^)]*\))?(?: \(for url [^)]*\))?$", text)
    if match:
        text = match.group(1)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class SimulationResult:
    days: int
    feed_rows: int
    message_rows: int
    seconds: float
    incomplete_elsewhere: tuple[dt.date, ...] = field(default=())  # incomplete days outside the range

    @property
    def events_per_second(self) -> float:
        return (self.feed_rows + self.message_rows) / self.seconds if self.seconds > 0 else 0.0


def ensure_tables(client: Any, database: str) -> None:
    """CREATE DATABASE / TABLE IF NOT EXISTS for ``feed_actions``, ``message_actions``, ``simulated_days``."""
    for statement in create_statements(database):
        client.command(statement)
    client.command(days_table_statement(database))


def mark_days(client: Any, ctx: Context, days: list[dt.date], complete: bool, run_id: str) -> None:
    """Append the days' state to ``simulated_days`` (the latest row per day wins); one statement."""
    client.command(
        f"INSERT INTO {quote_ident(ctx.database)}.simulated_days (day, complete, seed, scale, run_id, at) "
        "SELECT arrayJoin({days:Array(Date)}), {complete:UInt8}, {seed:UInt64}, {scale:Float64}, {run:String}, "
        "now64(6)",
        parameters={"days": days, "complete": int(complete), "seed": ctx.seed, "scale": ctx.scale, "run": run_id},
    )


def incomplete_days(
    client: Any, database: str, start: dt.date | None = None, end: dt.date | None = None
) -> list[dt.date]:
    """Days whose latest ``simulated_days`` row says incomplete (a run died or is running), in ``[start, end)``."""
    rows = client.query(
        f"SELECT day FROM {quote_ident(database)}.simulated_days "
        "WHERE day >= {a:Date} AND day < {b:Date} GROUP BY day HAVING argMax(complete, at) = 0 ORDER BY day",
        parameters={"a": start or dt.date(1970, 1, 2), "b": end or dt.date(2149, 1, 1)},
    ).result_rows
    return [r[0] for r in rows]


def _drop_stale_staging(client: Any, database: str) -> None:
    """Drop staging tables left by killed runs into this database."""
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND position(name, {mark:String}) > 0",
        parameters={"db": database, "mark": STAGING_MARK},
    ).result_rows
    for (name,) in rows:
        client.command(f"DROP TABLE IF EXISTS {quote_ident(database)}.{quote_ident(name)}")


@contextmanager
def staging_tables(client: Any, database: str, run_id: str) -> Iterator[dict[str, str]]:
    """This run's empty staging tables (same structure as the real ones), dropped afterwards."""
    db = quote_ident(database)
    _drop_stale_staging(client, database)
    names = {table: staging_name(table, run_id) for table in TABLES}
    for table, name in names.items():
        client.command(f"CREATE TABLE {db}.{quote_ident(name)} AS {db}.{quote_ident(table)}")
        # Its parts are cloned into the real table, which merges them; merging the staging copies
        # too would double the background work (a side-by-side bench without this: 0.83× at scale 10).
        client.command(f"SYSTEM STOP MERGES {db}.{quote_ident(name)}")
    try:
        yield names
    finally:
        for name in names.values():
            with suppress(Exception):  # the server may be gone; the next run drops it
                client.command(f"DROP TABLE IF EXISTS {db}.{quote_ident(name)}")


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
    noise_seed: int | None = None,
) -> Context:
    noise = None if noise_seed is None else int(noise_seed)
    return Context(database, float(scale), int(seed), anomalies or AnomalySpec(), experiment, noise_seed=noise)


def generate_day(client: Any, ctx: Context, day: dt.date, staging: dict[str, str], run_id: str) -> None:
    """Replace one day (already marked incomplete): generate it into the staging tables (their partition of
    that day, written once per run), swap each table's day in, mark it complete.

    As many statements per day as the former drop-partitions-then-insert: two swaps replace the two drops."""
    ctx.check_day(day)
    for _table, statement, params in insert_statements(ctx, day, targets=staging):
        client.command(statement, parameters=params, settings=INSERT_SETTINGS)
    for table, name in staging.items():
        client.command(replace_partition_statement(ctx.database, table, name, day))
    mark_days(client, ctx, [day], complete=True, run_id=run_id)


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

    bar = Progress(
        TextColumn("simulate {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=True,  # the summary line (or the one error line) replaces it
    )  # fmt: skip
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
    noise_seed: int | None = None,
) -> SimulationResult:
    """Generate ``[start, start + days)`` into ``<database>``, replacing those days (deterministic).

    ``noise_seed``: the seed of the day-level draws (default: ``seed``); a different one keeps the
    population of ``seed`` and redraws its behaviour (:func:`feedpulse.simulator.sql.uniform`).

    Raises :class:`SimulationFailed` (or :class:`SimulationInterrupted` on Ctrl-C) naming the day
    that was cut off; every earlier day is complete, the cut-off day is marked incomplete or unchanged.
    """
    _validate(start, days)
    ctx = _context(database, scale, seed, anomalies, experiment, noise_seed)
    ctx.check_day(start)
    ctx.check_day(last_day(start, days))
    ensure_tables(client, database)
    end = start + dt.timedelta(days=days)
    run_id = uuid.uuid4().hex[:12]
    began = time.perf_counter()
    advance, close = _progress(progress, days)
    day = start
    try:
        # The whole range is incomplete until each day is swapped in: a run cut off on day k leaves
        # days k… marked (they hold a previous run's rows or none, not what this run asked for).
        mark_days(client, ctx, [start + dt.timedelta(days=i) for i in range(days)], complete=False, run_id=run_id)
        with staging_tables(client, database, run_id) as staging:
            for offset in range(days):
                day = start + dt.timedelta(days=offset)
                generate_day(client, ctx, day, staging, run_id)
                advance(day)
    except KeyboardInterrupt:
        raise SimulationInterrupted(day, start) from None
    except Exception as exc:
        raise SimulationFailed(day, start, exc) from exc
    finally:
        close()
    seconds = time.perf_counter() - began
    feed_rows, message_rows = count_rows(client, database, start, end)
    elsewhere = tuple(d for d in incomplete_days(client, database) if not start <= d < end)
    return SimulationResult(days, feed_rows, message_rows, seconds, elsewhere)


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
    run_id = uuid.uuid4().hex[:12]
    mark_days(client, ctx, [today], complete=False, run_id=run_id)  # a live day is incomplete until midnight
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
            mark_days(client, ctx, [current_day], complete=True, run_id=run_id)
            watermark, current_day = end_of_day, current_day + dt.timedelta(days=1)
            ctx.check_day(current_day)
            mark_days(client, ctx, [current_day], complete=False, run_id=run_id)
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
